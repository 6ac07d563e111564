"""App connectors, their endpoints, bindings to certificates, push attempts, tasks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("secret_kind", sa.String(16)),
        sa.Column("sealed_secret", sa.LargeBinary),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "connector_id",
            sa.Integer,
            sa.ForeignKey("connectors.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("sni", sa.String(255), nullable=False),
        sa.UniqueConstraint("connector_id", "host", "port", "sni", name="uq_endpoints_address"),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "certificate_id",
            sa.Integer,
            sa.ForeignKey("certificates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "connector_id",
            sa.Integer,
            sa.ForeignKey("connectors.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("certificate_id", "connector_id", name="uq_bindings_pair"),
    )
    op.create_index("ix_bindings_connector", "bindings", ["connector_id"])
    op.create_table(
        "push_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "certificate_id",
            sa.Integer,
            sa.ForeignKey("certificates.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "connector_id",
            sa.Integer,
            sa.ForeignKey("connectors.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason_class", sa.String(32)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Integer),
    )
    op.create_index(
        "ix_push_attempts_pair", "push_attempts", ["certificate_id", "connector_id", "started_at"]
    )
    op.create_index("ix_push_attempts_connector", "push_attempts", ["connector_id", "started_at"])
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_tasks_status", "tasks", ["status", "id"])


def downgrade() -> None:
    op.drop_table("tasks")
    op.drop_table("push_attempts")
    op.drop_table("bindings")
    op.drop_table("endpoints")
    op.drop_table("connectors")
