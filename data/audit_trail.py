"""Reading the audit trail, newest first, one page at a time (data/audit.py writes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.models import AuditEvent

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str

    def to_grid(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": f"{self.at:%Y-%m-%d %H:%M:%S} UTC",
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditPage:
    rows: tuple[AuditRow, ...]
    total: int


def audit_page(session: Session, *, start: int = 0, end: int = 50) -> AuditPage:
    """Events ``start`` to ``end`` (exclusive) of the whole trail, newest first.

    Ordered by ``seq``, the audit chain's commit order (ids may be allocated out of it
    on PostgreSQL), so two events of one second keep their order. A page holds at most
    MAX_PAGE events.
    """
    start = max(0, int(start))
    end = max(start, min(int(end), start + MAX_PAGE))
    total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    rows = session.scalars(
        select(AuditEvent)
        .order_by(AuditEvent.seq.desc(), AuditEvent.id.desc())
        .offset(start)
        .limit(end - start)
    )
    return AuditPage(
        tuple(AuditRow(e.id, e.at, e.actor, e.action, e.target, e.detail) for e in rows), total
    )
