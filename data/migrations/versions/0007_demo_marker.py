"""Demo marker: push requests made up by `certpush demo` as simulated history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("push_requests") as batch:
        batch.add_column(sa.Column("demo", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("push_requests") as batch:
        batch.drop_column("demo")
