"""Notifications: users' e-mail addresses and choices, admins' channels (sealed URLs), and
the outbox (events and one delivery per event and recipient).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(254)))
    op.create_table(
        "notification_prefs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.UniqueConstraint("user_id", "kind", name="uq_notification_prefs"),
    )
    op.create_table(
        "notify_channels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("scheme", sa.String(32), nullable=False),
        sa.Column("sealed_url", sa.LargeBinary, nullable=False),
        sa.Column("events", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "notification_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False, server_default=""),
        sa.Column("work_order_id", sa.Integer),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_notification_events_at", "notification_events", ["at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "event_id",
            sa.Integer,
            sa.ForeignKey("notification_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("recipient", sa.String(80), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False, server_default="now"),
        sa.Column("state", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", UTCDateTime),
        sa.UniqueConstraint("event_id", "recipient", name="uq_notification_deliveries"),
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["state", "next_attempt_at"],
    )
    op.create_table(
        "notify_state",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_state")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_notification_events_at", table_name="notification_events")
    op.drop_table("notification_events")
    op.drop_table("notify_channels")
    op.drop_table("notification_prefs")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
