"""Zones: a zone per connector, enrolled zone agents, the work sent to them (zone jobs), and the
agent behind each probe.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connectors") as batch:
        batch.add_column(sa.Column("zone", sa.String(32), nullable=False, server_default="local"))
    with op.batch_alter_table("verification_results") as batch:
        batch.add_column(sa.Column("agent", sa.String(32)))
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("signing_key", sa.String(64), nullable=False),
        sa.Column("sealing_key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("version", sa.String(32), nullable=False, server_default=""),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("last_heartbeat", UTCDateTime),
        sa.Column("in_flight", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_agents_zone", "agents", ["zone", "state"])
    op.create_table(
        "zone_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False, server_default="probe"),
        sa.Column("sweep_id", sa.Integer),
        sa.Column("work_order_id", sa.Integer),
        sa.Column("zone", sa.String(32), nullable=False),
        sa.Column("endpoints", sa.Integer, nullable=False),
        sa.Column("state", sa.String(8), nullable=False, server_default="sent"),
        sa.Column("agent", sa.String(32)),
        sa.Column("results", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("deadline", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_zone_jobs_sweep", "zone_jobs", ["sweep_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_zone_jobs_sweep", table_name="zone_jobs")
    op.drop_table("zone_jobs")
    op.drop_index("ix_agents_zone", table_name="agents")
    op.drop_table("agents")
    with op.batch_alter_table("verification_results") as batch:
        batch.drop_column("agent")
    with op.batch_alter_table("connectors") as batch:
        batch.drop_column("zone")
