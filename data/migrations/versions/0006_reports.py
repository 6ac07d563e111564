"""Reporting: when each push finished, indexes for period queries, produced reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("pushed_at", UTCDateTime))
    # Covering: period counts by state, connector and verdict read the index alone.
    op.create_index(
        "ix_work_orders_report",
        "work_orders",
        ["pushed_at", "status", "verification", "connector_id", "verified_at", "request_id"],
    )
    # Pushes that ended before this column existed: the end of their push attempt, or,
    # for a push failed as "interrupted" (no attempt row), when it was failed.
    op.execute(
        """
        UPDATE work_orders SET pushed_at = COALESCE(
            (SELECT MAX(pa.finished_at) FROM push_attempts pa
              WHERE pa.work_order_id = work_orders.id),
            CASE WHEN reason LIKE 'interrupted%' THEN updated_at END)
        WHERE status IN ('Completed', 'Failed')
        """
    )
    op.create_index("ix_push_attempts_work_order", "push_attempts", ["work_order_id", "outcome"])
    op.drop_index("ix_verification_results_work_order", "verification_results")
    op.create_index(
        "ix_verification_results_work_order",
        "verification_results",
        ["work_order_id", "at", "outcome"],
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("produced_at", UTCDateTime, nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.UniqueConstraint("kind", "period_start", "time_zone", name="uq_reports_period"),
    )


def downgrade() -> None:
    op.drop_table("reports")
    op.drop_index("ix_push_attempts_work_order", "push_attempts")
    op.drop_index("ix_verification_results_work_order", "verification_results")
    op.create_index("ix_verification_results_work_order", "verification_results", ["work_order_id"])
    op.drop_index("ix_work_orders_report", "work_orders")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("pushed_at")
