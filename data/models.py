"""The schema as SQLAlchemy 2.0 models. Changes here need an Alembic migration."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
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
        # Partial indexes: their predicates (revoked_at IS NULL / IS NOT NULL) live in
        # migration 0002 only. Spelling them here needs sqlite_where/postgresql_where, and
        # SQLAlchemy then imports both dialects to check the keywords: 100 ms on every
        # process start (bench/cli_start.py), for nothing at run time.
        Index("ix_certificates_live", "not_after", "push_failed", "drift"),
        Index("ix_certificates_revoked", "revoked_at"),
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
    # A service user (a pipeline, a ticketing system) acts through API tokens only: it has
    # no password and cannot log in to the UI.
    service: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(254))  # where notifications go


class ApiToken(Base):
    """A personal API token: only the SHA-256 of the secret is kept (data/api_tokens.py).

    ``scope`` is read or write; the token acts with its user's role, capped by the scope.
    ``window_start``/``window_count`` count write calls for the rate limit, in the
    database so that every gunicorn worker sees the same count.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists, to tell tokens apart
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)


class IdempotencyKey(Base):
    """The first answer to a write call sent with an ``Idempotency-Key`` header.

    Unique per user and key: the same key again returns this answer instead of acting
    twice; two calls racing with one key cannot both insert, so only one acts.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    route: Mapped[str] = mapped_column(String(128))
    request_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)


class SchedulerHeartbeat(Base):
    """The scheduler's last sign of life (one row per process name): ``GET /health``."""

    __tablename__ = "scheduler_heartbeats"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A web login: the cookie holds a random token, this row its SHA-256 digest.

    Checked on every request (data/sessions.py): not revoked, not idle or too old, the
    user still active and holding the role they logged in with.
    """

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))  # the role at login
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    __table_args__ = (Index("ix_user_sessions_user", "user_id", "revoked_at"),)


class LoginThrottle(Base):
    """Failed logins counted per account name and per client address (data/domain/throttle.py)."""

    __tablename__ = "login_throttles"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # account | address
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_login_throttles_last_failure", "last_failure_at"),)


class AuditEvent(Base):
    """Append-only: who did what, when, to what, and why; a hash chain in ``seq`` order.

    ``seq`` is the commit order of appends (ids may be allocated out of it on
    PostgreSQL); ``hash`` covers the content and ``prev_hash`` (data/domain/audit_chain.py).
    Both are NULL only between the INSERT and the link made just before the commit
    (data/audit.py); a committed row without them was written around certpush.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    seq: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    # Unique: two transactions extending the same head could never both commit.
    __table_args__ = (Index("ux_audit_events_seq", "seq", unique=True),)


class Connector(Base):
    """An app connector: how certpush installs a certificate on one device.

    ``settings`` is JSON of non-secret values; the secret (SSH key or password) is
    sealed by the vault and never leaves the push process in the clear.
    """

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    settings: Mapped[str] = mapped_column(Text, default="{}")
    secret_kind: Mapped[str | None] = mapped_column(String(16))
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    # How pushes through it roll out (issue 13): maintenance windows, one per line
    # ("Tue,Thu 22:00-02:00 Europe/Paris"; empty: any time), undo on failed
    # verification, and whether a rollout takes it as its canary.
    maintenance_windows: Mapped[str] = mapped_column(Text, default="")
    auto_rollback: Mapped[bool] = mapped_column(Boolean, default=True)
    canary: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the device is reached from (issue 15): "local" is the scheduler itself; any
    # other zone is served by the agents enrolled in it, through the broker.
    zone: Mapped[str] = mapped_column(String(32), default="local")


class Agent(Base):
    """A zone agent: a worker inside a zone that pushes and probes for the central side.

    It enrols with its two public keys (Ed25519 to sign results, X25519 to receive sealed
    secrets) and gets work only once an admin approved that very fingerprint.
    """

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    zone: Mapped[str] = mapped_column(String(32))
    signing_key: Mapped[str] = mapped_column(String(64))
    sealing_key: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    version: Mapped[str] = mapped_column(String(32), default="")
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_agents_zone", "zone", "state"),)


class ZoneJob(Base):
    """Work sent to a zone's agents (a batch of probes, an install, a rollback) and their
    answer.

    Written ``sent`` by the sender, ``done`` by the central worker once an approved agent
    of that zone returned a signed answer (a redelivered answer changes nothing).
    """

    __tablename__ = "zone_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="probe")  # probe, install, rollback
    sweep_id: Mapped[int | None] = mapped_column(Integer)
    work_order_id: Mapped[int | None] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(32))
    endpoints: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8), default="sent")
    agent: Mapped[str | None] = mapped_column(String(32))
    results: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_zone_jobs_sweep", "sweep_id", "state"),)


class Endpoint(Base):
    """An IP:port (optional SNI name) where a connector's device serves the certificate."""

    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    sni: Mapped[str] = mapped_column(String(255), default="")  # "" = no SNI

    __table_args__ = (
        UniqueConstraint("connector_id", "host", "port", "sni", name="uq_endpoints_address"),
    )


class Binding(Base):
    """Certificate <-> app connector: Push to Device is offered only with at least one."""

    __tablename__ = "bindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("certificate_id", "connector_id", name="uq_bindings_pair"),
        Index("ix_bindings_connector", "connector_id"),
    )


class PushAttempt(Base):
    """One try at installing a certificate through a connector: failures are data."""

    __tablename__ = "push_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(32))  # installed, already_installed, failed
    reason_class: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    # install (a try at installing), verify (probes after the install), rollback
    # (restoring the previous files) or rollback_verify (probes after the rollback).
    kind: Mapped[str] = mapped_column(String(16), default="install")
    try_number: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_push_attempts_pair", "certificate_id", "connector_id", "started_at"),
        Index("ix_push_attempts_connector", "connector_id", "started_at"),
        Index("ix_push_attempts_work_order", "work_order_id", "outcome"),
    )


class Task(Base):
    """Intent recorded by the web process and carried out by the scheduler process.

    The web process never talks to devices; it queues a task (test a connection,
    later: push now, verify now) and shows its result when the scheduler is done.
    """

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued/running/done
    result: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_tasks_status", "status", "id"),)


class ApprovalLevel(Base):
    """The approval policy as data: level 1..N in order; the last level implements."""

    __tablename__ = "approval_levels"

    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))


class PushRequest(Base):
    """One Push to Device request (REQ-…): one work order per bound connector."""

    __tablename__ = "push_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    requester: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Made up by `certpush demo` as simulated history (its work orders, their events,
    # push attempts and verification results hang off it): demo data, not a real push.
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # `certpush push emergency`: pushed at once by an admin, outside the approvals; the
    # comment holds the reason. Shown as an emergency change wherever the push appears.
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)


class WorkOrder(Base):
    """One connector's part of a push request (WO-…), moved by the state machine only.

    ``version`` makes every transition a compare-and-set: two people acting at once,
    one wins. ``lease_owner``/``lease_until`` mark the scheduler process running it.
    """

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("push_requests.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id"))
    status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    levels_done: Mapped[int] = mapped_column(Integer, default=0)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Decided by the first verification sweep after the push: "verified" or "failed".
    verification: Mapped[str | None] = mapped_column(String(16))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the push ended (installed or failed); None: no push has run (yet).
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The push plan in force (push_plans): what the approvals are given for and what runs.
    plan_id: Mapped[int | None] = mapped_column(Integer)
    # The status a Halted work order had (Push-Scheduled or Push In Progress), for Resume.
    halted_from: Mapped[str | None] = mapped_column(String(32))
    # An admin's reason to push outside the connector's maintenance windows (audited).
    window_override: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_work_orders_status", "status", "run_at"),
        Index("ix_work_orders_request", "request_id"),
        Index(
            "ix_work_orders_report",
            "pushed_at",
            "status",
            "verification",
            "connector_id",
            "verified_at",
            "request_id",
        ),
    )


class Rollout(Base):
    """A push request with several work orders, pushed canary first, then in waves.

    ``state``: running, halted (a work order failed: nothing more starts until Resume
    or Abort), aborted, done. Failures that ended before ``resumed_at`` were accepted
    by the implementer who resumed and halt nothing again.
    """

    __tablename__ = "rollouts"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("push_requests.id", ondelete="CASCADE"), primary_key=True
    )
    canary_work_order_id: Mapped[int] = mapped_column(Integer)
    wave_size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="running")
    reason: Mapped[str] = mapped_column(Text, default="")
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class WorkOrderEvent(Base):
    """A work order's history: who did what, when, from which state to which, and why."""

    __tablename__ = "work_order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    # The digest of the push plan this approval (or implementation) was given for.
    plan_digest: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_work_order_events_wo", "work_order_id", "id"),)


class PushPlan(Base):
    """What one work order will write and run, pinned: never updated, only superseded.

    ``body`` is canonical JSON and ``digest`` its SHA-256; the push executes the body.
    ``preflight`` is the evidence the scheduler gathered for it (not part of the digest:
    checking again does not change what runs).
    """

    __tablename__ = "push_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    preflight_status: Mapped[str] = mapped_column(String(16), default="pending")
    preflight: Mapped[str | None] = mapped_column(Text)
    preflight_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_push_plans_work_order", "work_order_id", "id"),)


class MigratedProfile(Base):
    """A device profile made from an old connector's free commands when profiles arrived.

    It reproduces what the connector ran (through ``/bin/sh -c``), and is flagged for an
    administrator's review until one looks at it (``certpush profiles review``).
    """

    __tablename__ = "migrated_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VerificationSweep(Base):
    """One run of the HTTPS verification job."""

    __tablename__ = "verification_sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(32))
    endpoints: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="{}")


class VerificationResult(Base):
    """One endpoint probed in one sweep: what it served versus what it should serve."""

    __tablename__ = "verification_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("verification_sweeps.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_fingerprint: Mapped[str] = mapped_column(String(64))
    served_fingerprint: Mapped[str | None] = mapped_column(String(64))
    served_subject: Mapped[str | None] = mapped_column(String(1024))
    served_not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    sni: Mapped[str | None] = mapped_column(String(255))
    drift: Mapped[bool] = mapped_column(Boolean, default=False)
    chain_valid: Mapped[bool | None] = mapped_column(Boolean)
    agent: Mapped[str | None] = mapped_column(String(32))  # the zone agent that probed

    __table_args__ = (
        Index("ix_verification_results_endpoint", "endpoint_id", "id"),
        Index("ix_verification_results_at", "at"),
        Index("ix_verification_results_work_order", "work_order_id", "at", "outcome"),
    )


class Report(Base):
    """A produced report (the weekly one): its period and the files written for it.

    Unique per kind, first day and time zone, so a week is never produced twice.
    """

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    time_zone: Mapped[str] = mapped_column(String(64))
    produced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    files: Mapped[str] = mapped_column(Text, default="{}")  # {"csv": "name.csv", ...}

    __table_args__ = (
        UniqueConstraint("kind", "period_start", "time_zone", name="uq_reports_period"),
    )


class NotificationPref(Base):
    """A user's choice for one kind of event: now, in the daily digest, or off. No row: the
    default of data.domain.notifications.choose_mode."""

    __tablename__ = "notification_prefs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))

    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_notification_prefs"),)


class NotifyChannel(Base):
    """An admin's channel (Slack, Teams, a webhook...): its Apprise URL carries secrets, so
    it is sealed by the vault and never shown again; ``events`` is a JSON list of kinds."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scheme: Mapped[str] = mapped_column(String(32))  # what kind of channel, for lists
    sealed_url: Mapped[bytes] = mapped_column(LargeBinary)
    events: Mapped[str] = mapped_column(Text, default="[]")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationEvent(Base):
    """Something worth telling, written in the same transaction as the change behind it.

    ``payload`` holds only what a message may show (names, ids, states, comments): never a
    secret; messages are rendered from it when they are sent."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64), default="")
    work_order_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_notification_events_at", "at"),)


class NotificationDelivery(Base):
    """One event to one recipient (``user:NAME`` or ``channel:NAME``), at most once: the
    pair is unique, and the notifier claims a row before it sends (a lease that a crashed
    notifier's successor waits out)."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notification_events.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(80))
    mode: Mapped[str] = mapped_column(String(8), default="now")  # now, digest
    # pending, sending, sent, failed (gave up), digested (sent inside a daily digest)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("event_id", "recipient", name="uq_notification_deliveries"),
        Index("ix_notification_deliveries_due", "state", "next_attempt_at"),
    )


class NotifyState(Base):
    """What the notifier last told about a thing (a certificate's colour, a zone being
    online), so that an alert goes out when it changes, not at every look."""

    __tablename__ = "notify_state"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
