"""The schema as SQLAlchemy 2.0 models. Changes here need an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (sortable text in SQLite, timestamp in PostgreSQL), read as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Certificate(Base):
    """One X.509 certificate, identified by the SHA-256 fingerprint of its DER."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    common_name: Mapped[str | None] = mapped_column(String(1024))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    sans: Mapped[str] = mapped_column(Text, default="")  # newline-separated "DNS:x" entries
    serial: Mapped[str] = mapped_column(String(128))  # decimal; may be negative or huge
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    key_type: Mapped[str] = mapped_column(String(64))
    key_size: Mapped[int | None] = mapped_column(Integer)
    signature_algorithm: Mapped[str] = mapped_column(String(128))
    extended_key_usage: Mapped[str] = mapped_column(String(512), default="")  # comma-separated
    is_ca: Mapped[bool] = mapped_column(Boolean, default=False)
    spki_sha256: Mapped[str | None] = mapped_column(String(64))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    parse_warnings: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(1024), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(256))
    # Status inputs maintained by the push and verification services (see DESIGN.md colours).
    push_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    drift: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_certificates_not_after", "not_after"),
        Index("ix_certificates_common_name", "common_name"),
        Index("ix_certificates_spki", "spki_sha256"),
        Index(
            "ix_certificates_live",
            "not_after",
            "push_failed",
            "drift",
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index(
            "ix_certificates_revoked",
            "revoked_at",
            sqlite_where=text("revoked_at IS NOT NULL"),
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
        Index("ix_certificates_issuer", "issuer"),
        Index("ix_certificates_serial", "serial"),
    )


class PrivateKey(Base):
    """A private key, sealed by the vault. Matched to certificates by public-key hash."""

    __tablename__ = "private_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spki_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    key_type: Mapped[str] = mapped_column(String(64))
    key_size: Mapped[int | None] = mapped_column(Integer)
    sealed_pkcs8: Mapped[bytes] = mapped_column(LargeBinary)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Append-only: who did what, when, to what, and why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
