"""Verification sweeps and their per-endpoint results; work orders' verification verdict.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_sweeps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("endpoints", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    fk = sa.ForeignKey
    op.create_table(
        "verification_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "sweep_id", sa.Integer, fk("verification_sweeps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "endpoint_id", sa.Integer, fk("endpoints.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "connector_id", sa.Integer, fk("connectors.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "certificate_id", sa.Integer, fk("certificates.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("work_order_id", sa.Integer, fk("work_orders.id")),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("expected_fingerprint", sa.String(64), nullable=False),
        sa.Column("served_fingerprint", sa.String(64)),
        sa.Column("served_subject", sa.String(1024)),
        sa.Column("served_not_after", UTCDateTime),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("sni", sa.String(255)),
        sa.Column("drift", sa.Boolean, nullable=False),
        sa.Column("chain_valid", sa.Boolean),
    )
    op.create_index(
        "ix_verification_results_endpoint", "verification_results", ["endpoint_id", "id"]
    )
    op.create_index("ix_verification_results_at", "verification_results", ["at"])
    op.create_index("ix_verification_results_work_order", "verification_results", ["work_order_id"])
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("verification", sa.String(16)))
        batch.add_column(sa.Column("verified_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("verified_at")
        batch.drop_column("verification")
    op.drop_table("verification_results")
    op.drop_table("verification_sweeps")
