"""Liveness facts for ``GET /api/v1/health``: the database answers, the scheduler beats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from data.models import SchedulerHeartbeat

STALE_AFTER_SECONDS = 180  # three missed beats (one a minute)


def beat(session: Session, name: str, at: datetime) -> None:
    """Record that process ``name`` is alive at ``at``."""
    done = session.execute(
        update(SchedulerHeartbeat).where(SchedulerHeartbeat.name == name).values(at=at)
    ).rowcount
    if not done:
        session.add(SchedulerHeartbeat(name=name, at=at))


def last_beat(session: Session, name: str = "scheduler") -> datetime | None:
    session.execute(text("SELECT 1"))
    return session.scalar(select(SchedulerHeartbeat.at).where(SchedulerHeartbeat.name == name))
