"""``/api/v1/health``: for load balancers and monitoring; no authentication, no secrets."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from dashboard.auth import now, settings
from data.crypto import master_key_problem
from data.db import session_scope
from data.health import STALE_AFTER_SECONDS, last_beat

PREFIX = "/health"
blp = Blueprint("health", __name__, description="Is certpush working?")
F = ma.fields


class HealthOut(ma.Schema):
    status = F.String(required=True, metadata={"description": "ok, degraded or down"})
    database = F.Boolean(required=True, metadata={"description": "The database answered"})
    scheduler_heartbeat_age_seconds = F.Float(
        allow_none=True,
        required=True,
        metadata={"description": "Since the scheduler's last beat (null: never seen)"},
    )
    scheduler_alive = F.Boolean(required=True)
    master_key = F.Boolean(required=True, metadata={"description": "A usable master key"})


@blp.route("", methods=["GET"])
@blp.response(200, HealthOut)
@blp.alt_response(503, schema=HealthOut, description="The database does not answer")
@blp.doc(security=[])
def health():
    """Database reachable, scheduler heartbeat age, master key present (200, or 503)."""
    age = None
    try:
        with session_scope(settings().database_url) as db:
            beat = last_beat(db)
        database = True
        if beat is not None:
            age = round(max(0.0, (now() - beat).total_seconds()), 1)
    except SQLAlchemyError:
        database = False
    alive = age is not None and age <= STALE_AFTER_SECONDS
    key = master_key_problem(settings()) is None
    status = "ok" if database and alive and key else ("degraded" if database else "down")
    body = {
        "status": status,
        "database": database,
        "scheduler_heartbeat_age_seconds": age,
        "scheduler_alive": alive,
        "master_key": key,
    }
    return body, 200 if database else 503
