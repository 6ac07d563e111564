"""Push requests, work orders with their history, and the approval policy (default two levels).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    levels = op.create_table(
        "approval_levels",
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
    )
    op.bulk_insert(
        levels,
        [
            {"position": 1, "name": "Approve", "role": "reviewer"},
            {"position": 2, "name": "Implement", "role": "implementer"},
        ],
    )
    op.create_table(
        "push_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "certificate_id",
            sa.Integer,
            sa.ForeignKey("certificates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "request_id",
            sa.Integer,
            sa.ForeignKey("push_requests.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("connector_id", sa.Integer, sa.ForeignKey("connectors.id"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("levels_done", sa.Integer, nullable=False),
        sa.Column("proposed_at", UTCDateTime),
        sa.Column("run_at", UTCDateTime),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_work_orders_status", "work_orders", ["status", "run_at"])
    op.create_index("ix_work_orders_request", "work_orders", ["request_id"])
    op.create_table(
        "work_order_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "work_order_id",
            sa.Integer,
            sa.ForeignKey("work_orders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(32)),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_index("ix_work_order_events_wo", "work_order_events", ["work_order_id", "id"])
    with op.batch_alter_table("push_attempts") as batch:
        batch.add_column(sa.Column("work_order_id", sa.Integer))
        batch.create_foreign_key(
            "fk_push_attempts_work_order", "work_orders", ["work_order_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("push_attempts") as batch:
        batch.drop_constraint("fk_push_attempts_work_order", type_="foreignkey")
        batch.drop_column("work_order_id")
    op.drop_table("work_order_events")
    op.drop_table("work_orders")
    op.drop_table("push_requests")
    op.drop_table("approval_levels")
