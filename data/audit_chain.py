"""Reading the audit chain: its head (now, or at the end of a period) and a full check.

data/audit.py writes the chain; data/domain/audit_chain.py says what a hash covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from data.domain.audit_chain import (
    EMPTY,
    ChainedEvent,
    ChainHead,
    ChainReport,
    unchained,
    walk,
)
from data.models import AuditEvent

# The table's columns, not the mapped class's: plain rows, without the ORM's per-query cost
# (a tenth of the time on the write path, where the head is read for every commit).
_EVENTS = AuditEvent.__table__
_COLUMNS = tuple(
    _EVENTS.c[name]
    for name in (
        "id", "seq", "at", "actor", "action", "target", "detail", "user_id", "prev_hash", "hash"
    )
)  # fmt: skip


def chain_head(session: Session, until: datetime | None = None) -> ChainHead:
    """The chain's last event (seq, hash); with ``until``, the last one stamped before it.

    A report's evidence is ``chain_head(session, period.end)``: every event the period
    holds is in the chain at or before that head. (0, GENESIS) when there is none.
    """
    c = _EVENTS.c
    query = select(c.seq, c.hash).where(c.seq.is_not(None))
    if until is not None:
        query = query.where(c.at < until)
    row = session.execute(query.order_by(c.seq.desc()).limit(1)).first()
    return EMPTY if row is None else ChainHead(row.seq, row.hash)


def verify_chain(session: Session, expected: Iterable[ChainHead] = ()) -> ChainReport:
    """Walk the whole chain in ``seq`` order and name the first event that does not hold.

    Streams the table (any size). ``expected``: heads copied out earlier (a weekly
    report's), each of which must still be in the chain. When the chain holds, a row
    without a place in it (no seq or hash) is the problem reported.
    """
    c = _EVENTS.c
    rows = session.execute(
        select(*_COLUMNS)
        .where(c.seq.is_not(None))
        .order_by(c.seq, c.id)
        .execution_options(yield_per=5000)
    )
    report = walk((ChainedEvent(*row) for row in rows), expected)
    if report.problem is not None:
        return report
    stray = session.execute(
        select(*_COLUMNS).where(or_(c.seq.is_(None), c.hash.is_(None))).order_by(c.id).limit(1)
    ).first()
    return report if stray is None else replace(report, problem=unchained(ChainedEvent(*stray)))
