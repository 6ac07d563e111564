"""Push plans, device profiles, emergency pushes.

Pinned push plans per work order (push_plans), the plan digest each approval was given
for, emergency push requests, and profiles migrated from connectors that carried free
test/reload commands: each such connector now names a profile ``migrated-<connector>``
that runs the same commands through ``/bin/sh -c`` and needs an administrator's review.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import json
import posixpath
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "work_order_id",
            sa.Integer,
            sa.ForeignKey("work_orders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("preflight_status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("preflight", sa.Text),
        sa.Column("preflight_at", sa.DateTime),
    )
    op.create_index("ix_push_plans_work_order", "push_plans", ["work_order_id", "id"])
    op.create_table(
        "migrated_profiles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("needs_review", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("reviewed_by", sa.String(64)),
        sa.Column("reviewed_at", sa.DateTime),
    )
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("plan_id", sa.Integer))
    with op.batch_alter_table("work_order_events") as batch:
        batch.add_column(sa.Column("plan_digest", sa.String(64)))
    with op.batch_alter_table("push_requests") as batch:
        batch.add_column(
            sa.Column("emergency", sa.Boolean, nullable=False, server_default=sa.false())
        )
    _migrate_free_commands()


def _migrate_free_commands() -> None:
    """Connectors with test/reload commands get a profile reproducing them, for review."""
    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = bind.execute(sa.text("SELECT id, name, settings FROM connectors")).all()
    for connector_id, name, text in rows:
        settings = json.loads(text or "{}")
        test = settings.pop("test_command", None)
        reload = settings.pop("reload_command", None)
        fullchain = settings.pop("fullchain", False)
        if "profile" in settings:
            continue
        folders = sorted(
            {
                posixpath.dirname(settings[key])
                for key in ("cert_path", "key_path", "chain_path")
                if settings.get(key)
            }
        )
        profile = f"migrated-{name}"[:64]
        definition = {
            "layout": "fullchain" if fullchain else "separate",
            "test": ["/bin/sh", "-c", test] if test else None,
            "reload": ["/bin/sh", "-c", reload] if reload else None,
            "folders": folders or ["/etc/ssl/certpush"],
            "description": f"made from connector {name}'s former free commands",
        }
        bind.execute(
            sa.text(
                "INSERT INTO migrated_profiles (name, definition, needs_review, created_at) "
                "VALUES (:name, :definition, :review, :now)"
            ),
            {"name": profile, "definition": json.dumps(definition), "review": True, "now": now},
        )
        settings["profile"] = profile
        bind.execute(
            sa.text("UPDATE connectors SET settings = :s WHERE id = :id"),
            {"s": json.dumps(settings, sort_keys=True), "id": connector_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("push_requests") as batch:
        batch.drop_column("emergency")
    with op.batch_alter_table("work_order_events") as batch:
        batch.drop_column("plan_digest")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("plan_id")
    op.drop_table("migrated_profiles")
    op.drop_index("ix_push_plans_work_order", "push_plans")
    op.drop_table("push_plans")
