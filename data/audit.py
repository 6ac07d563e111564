"""Writing audit events. Services call this; nothing else writes the audit table.

The trail is a hash chain (data/domain/audit_chain.py). ``record`` adds an event to the
caller's transaction, as it always did; the event's link (``seq``, ``prev_hash``,
``hash``) is made just before that transaction commits (``_link_before_commit``):

1. flush: the events (and the changes they describe) are INSERTed, not yet linked;
2. lock the chain: on PostgreSQL ``pg_advisory_xact_lock(CHAIN_LOCK)``, held until the
   transaction ends; on SQLite the INSERTs of step 1 took the database's write lock,
   held until the transaction ends too, so the head read next is read under it;
3. read the head: the previous holder released the lock only once its commit was
   visible, so the head is the newest (PostgreSQL's READ COMMITTED takes a snapshot
   per statement; SQLite grants the write lock only on the newest snapshot);
4. number and hash the events in the order ``record`` was called, and store the links.

The lock is taken last and held only through the commit: it stays short, and a
transaction holding it waits for nothing else, so it cannot deadlock with the row locks
callers take. The unique index on ``seq`` is the backstop: a fork could not commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, event, inspect, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from data.audit_chain import chain_head
from data.domain.audit_chain import ChainHead, event_hash
from data.models import AuditEvent

# pg_advisory_xact_lock key of the chain: the bytes "cp-audit" read as a bigint.
CHAIN_LOCK = int.from_bytes(b"cp-audit", "big")
_UNLINKED = "certpush.audit.unlinked"  # session.info key: this transaction's events
_EVENTS = AuditEvent.__table__
# A Core UPDATE (one executemany for all of a commit's events), not an ORM flush: the
# link is the chain lock's critical section, kept as short as it can be.
_LINK = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(
        seq=bindparam("link_seq"), prev_hash=bindparam("link_prev"), hash=bindparam("link_hash")
    )
)


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
    """Append one event in the caller's transaction, so it commits or rolls back with the change.

    The event joins the chain when that transaction commits (see the module docstring).
    """
    audit_event = AuditEvent(
        at=now,
        actor=actor,
        action=action,
        target=target[:256],
        detail=detail,
        user_id=user_id,
    )
    session.add(audit_event)
    session.info.setdefault(_UNLINKED, []).append(audit_event)


def lock_chain(session: Session) -> None:
    """Make this transaction the only one that may extend the chain, until it ends.

    SQLite: the caller must already have written in this transaction (the write lock
    is the chain's lock); ``_link_before_commit`` INSERTs before it calls this.
    """
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})


@event.listens_for(Session, "before_commit")
def _link_before_commit(session: Session) -> None:
    """Give this transaction's new events their place in the chain, under the chain lock."""
    pending = session.info.pop(_UNLINKED, None)
    if not pending:
        return
    session.flush()
    # An event added in a savepoint that was rolled back is no longer persistent.
    events = [e for e in pending if inspect(e).persistent]
    if not events:
        return
    lock_chain(session)
    head = chain_head(session)
    links = []
    for e in events:
        seq, prev = head.seq + 1, head.hash
        digest = event_hash(
            id=e.id,
            seq=seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            detail=e.detail,
            user_id=e.user_id,
            prev_hash=prev,
        )
        links.append({"event_id": e.id, "link_seq": seq, "link_prev": prev, "link_hash": digest})
        for name, value in (("seq", seq), ("prev_hash", prev), ("hash", digest)):
            set_committed_value(e, name, value)  # what the UPDATE below stores
        head = ChainHead(seq, digest)
    session.execute(_LINK, links)


@event.listens_for(Session, "after_rollback")
def _forget_unlinked(session: Session) -> None:
    session.info.pop(_UNLINKED, None)
