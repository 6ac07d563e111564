"""``/api/v1/tasks/{id}``: work queued for the scheduler (connection tests, sweeps)."""

from __future__ import annotations

from flask_smorest import Blueprint

from dashboard.api.caller import caller
from dashboard.api.schemas import TaskOut, task_json
from dashboard.auth import settings
from data.db import session_scope
from data.domain.roles import Role
from data.tasks import get_task

PREFIX = "/tasks"
blp = Blueprint("tasks", __name__, description="Queued work to poll")


@blp.route("/<int:task_id>", methods=["GET"])
@blp.response(200, TaskOut)
def get_one(task_id: int):
    """A task you queued (admins: any task): queued, running or done with its result."""
    who = caller()
    owner = None if who.user.role is Role.ADMIN else who.username
    with session_scope(settings().database_url) as db:
        return task_json(get_task(db, task_id, actor=owner))
