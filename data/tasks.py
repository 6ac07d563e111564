"""The task queue between the web process (which records intent) and the scheduler
(which carries it out). A row per task; claiming is one conditional UPDATE, so two
schedulers (which must not exist, but might by mistake) never run a task twice."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data.crypto import Vault
from data.domain.errors import NotFound
from data.models import Task

QUEUED, RUNNING, DONE = "queued", "running", "done"
STALE_AFTER = timedelta(minutes=10)
TASK_SECRET_CONTEXT = "task-secret"  # the associated data of every sealed task secret


def seal_task_secret(vault: Vault, secret: bytes) -> str:
    """A secret handed from the web process to a task, never stored in the clear."""
    return base64.b64encode(vault.seal(secret, TASK_SECRET_CONTEXT)).decode()


def open_task_secret(vault: Vault, sealed: str) -> bytes:
    return vault.open(base64.b64decode(sealed), TASK_SECRET_CONTEXT)


@dataclass(frozen=True)
class TaskView:
    id: int
    kind: str
    status: str
    result: dict[str, Any] | None
    requested_by: str


def queue_task(
    session: Session, kind: str, payload: dict[str, Any], *, actor: str, now: datetime
) -> int:
    """Record that the scheduler should do something; returns the task id to poll."""
    task = Task(
        kind=kind,
        payload=json.dumps(payload),
        status=QUEUED,
        result="",
        requested_by=actor,
        created_at=now,
    )
    session.add(task)
    session.flush()
    return task.id


def get_task(session: Session, task_id: int, actor: str | None = None) -> TaskView:
    """A task's state; with ``actor``, only that user's own tasks are visible."""
    task = session.get(Task, task_id)
    if task is None or (actor is not None and task.requested_by != actor):
        raise NotFound(f"no task {task_id}")
    return TaskView(
        task.id,
        task.kind,
        task.status,
        json.loads(task.result) if task.result else None,
        task.requested_by,
    )


def claim_next(session: Session, now: datetime) -> tuple[int, str, dict[str, Any]] | None:
    """Take the oldest queued task (or one left running by a crashed scheduler)."""
    candidates = session.execute(
        select(Task.id, Task.kind, Task.payload, Task.status, Task.started_at)
        .where(Task.status.in_([QUEUED, RUNNING]))
        .order_by(Task.id)
        .limit(20)
    ).all()
    for row in candidates:
        if row.status == RUNNING and row.started_at and now - row.started_at < STALE_AFTER:
            continue
        claimed = session.execute(
            update(Task)
            .where(Task.id == row.id, Task.status == row.status)
            .values(status=RUNNING, started_at=now)
        ).rowcount
        if claimed:
            return row.id, row.kind, json.loads(row.payload)
    return None


def finish_task(session: Session, task_id: int, result: dict[str, Any], now: datetime) -> None:
    session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(status=DONE, result=json.dumps(result), finished_at=now, payload="{}")
    )
