"""Audit chain: every audit event stores seq, prev_hash and hash.

Existing events are chained in id order (the order they were written in, as far as
anyone can tell now), so ``certpush audit verify`` holds right after the upgrade. The
hash is the one data/domain/audit_chain.py defines (its form is named and never changes).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from data.domain.audit_chain import GENESIS, event_hash
from data.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 5000

_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("at", UTCDateTime),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("detail", sa.Text),
    sa.column("user_id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.Integer))
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
    _backfill()
    op.create_index("ux_audit_events_seq", "audit_events", ["seq"], unique=True)


def _backfill() -> None:
    """Chain the existing events in id order, a batch at a time (any table size)."""
    bind = op.get_bind()
    update = (
        sa.update(_events)
        .where(_events.c.id == sa.bindparam("b_id"))
        .values(
            seq=sa.bindparam("b_seq"), prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash")
        )
    )
    last_id, seq, prev = 0, 0, GENESIS
    while True:
        rows = bind.execute(
            sa.select(
                _events.c.id,
                _events.c.at,
                _events.c.actor,
                _events.c.action,
                _events.c.target,
                _events.c.detail,
                _events.c.user_id,
            )
            .where(_events.c.id > last_id)
            .order_by(_events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        links = []
        for row in rows:
            seq += 1
            digest = event_hash(
                id=row.id,
                seq=seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                detail=row.detail,
                user_id=row.user_id,
                prev_hash=prev,
            )
            links.append({"b_id": row.id, "b_seq": seq, "b_prev": prev, "b_hash": digest})
            prev = digest
        bind.execute(update, links)
        last_id = rows[-1].id


def downgrade() -> None:
    op.drop_index("ux_audit_events_seq", "audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
