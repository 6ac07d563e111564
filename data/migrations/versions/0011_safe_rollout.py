"""Safe rollout: maintenance windows, auto rollback and canary per connector, attempt
kinds and tries, halted work orders and the rollouts table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connectors") as batch:
        batch.add_column(sa.Column("maintenance_windows", sa.Text, nullable=False,
                                   server_default=""))  # fmt: skip
        batch.add_column(sa.Column("auto_rollback", sa.Boolean, nullable=False,
                                   server_default=sa.true()))  # fmt: skip
        batch.add_column(sa.Column("canary", sa.Boolean, nullable=False,
                                   server_default=sa.false()))  # fmt: skip
    with op.batch_alter_table("push_attempts") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="install"))  # fmt: skip
        batch.add_column(sa.Column("try_number", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("halted_from", sa.String(32)))
        batch.add_column(sa.Column("window_override", sa.Text))
    op.create_table(
        "rollouts",
        sa.Column(
            "request_id",
            sa.Integer,
            sa.ForeignKey("push_requests.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("canary_work_order_id", sa.Integer, nullable=False),
        sa.Column("wave_size", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="running"),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("resumed_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )


def downgrade() -> None:
    op.drop_table("rollouts")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("window_override")
        batch.drop_column("halted_from")
    with op.batch_alter_table("push_attempts") as batch:
        batch.drop_column("try_number")
        batch.drop_column("kind")
    with op.batch_alter_table("connectors") as batch:
        batch.drop_column("canary")
        batch.drop_column("auto_rollback")
        batch.drop_column("maintenance_windows")
