"""Initial schema: certificates, private keys, users, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from data.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("common_name", sa.String(1024)),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("sans", sa.Text, nullable=False),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("not_before", UTCDateTime, nullable=False),
        sa.Column("not_after", UTCDateTime, nullable=False),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("key_size", sa.Integer),
        sa.Column("signature_algorithm", sa.String(128), nullable=False),
        sa.Column("extended_key_usage", sa.String(512), nullable=False),
        sa.Column("is_ca", sa.Boolean, nullable=False),
        sa.Column("spki_sha256", sa.String(64)),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.Column("parse_warnings", sa.Text, nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revocation_reason", sa.String(256)),
        sa.Column("push_failed", sa.Boolean, nullable=False),
        sa.Column("drift", sa.Boolean, nullable=False),
    )
    op.create_index("ix_certificates_not_after", "certificates", ["not_after"])
    op.create_index("ix_certificates_common_name", "certificates", ["common_name"])
    op.create_index("ix_certificates_spki", "certificates", ["spki_sha256"])
    op.create_table(
        "private_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("spki_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("key_size", sa.Integer),
        sa.Column("sealed_pkcs8", sa.LargeBinary, nullable=False),
        sa.Column("imported_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    if op.get_bind().dialect.name == "sqlite":
        # Substring search on names: a trigram index answers LIKE '%x%' without a table scan.
        op.execute(
            "CREATE VIRTUAL TABLE certificates_fts USING fts5("
            "common_name, sans, content='certificates', content_rowid='id', "
            "tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER certificates_fts_ai AFTER INSERT ON certificates BEGIN "
            "INSERT INTO certificates_fts(rowid, common_name, sans) "
            "VALUES (new.id, new.common_name, new.sans); END"
        )
        op.execute(
            "CREATE TRIGGER certificates_fts_ad AFTER DELETE ON certificates BEGIN "
            "INSERT INTO certificates_fts(certificates_fts, rowid, common_name, sans) "
            "VALUES ('delete', old.id, old.common_name, old.sans); END"
        )
        op.execute(
            "CREATE TRIGGER certificates_fts_au AFTER UPDATE OF common_name, sans "
            "ON certificates BEGIN "
            "INSERT INTO certificates_fts(certificates_fts, rowid, common_name, sans) "
            "VALUES ('delete', old.id, old.common_name, old.sans); "
            "INSERT INTO certificates_fts(rowid, common_name, sans) "
            "VALUES (new.id, new.common_name, new.sans); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("certificates_fts_ai", "certificates_fts_ad", "certificates_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS certificates_fts")
    op.drop_table("audit_events")
    op.drop_table("private_keys")
    op.drop_table("certificates")
    op.drop_table("users")
