"""Writing audit events. Services call this; nothing else writes the audit table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from data.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    target: str = "",
    detail: str = "",
    user_id: int | None = None,
) -> None:
    """Append one event in the caller's transaction, so it commits or rolls back with the change."""
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            action=action,
            target=target[:256],
            detail=detail,
            user_id=user_id,
        )
    )
