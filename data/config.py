"""Settings read from the environment, once, into a frozen value passed around."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_INSTANCE = Path("instance")
MAX_UPLOAD_BYTES = 1024 * 1024
MAIL_ATTACH_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Where certpush keeps its state. ``instance_dir`` holds the SQLite file and key file."""

    database_url: str
    instance_dir: Path
    master_key: str | None
    master_key_file: Path
    secret_key_file: Path
    max_file_bytes: int = MAX_UPLOAD_BYTES
    missed_grace_minutes: int = 60
    schedule_horizon_days: int = 90
    push_parallelism: int = 4
    demo_first_port: int = 18443
    verify_minutes: int = 15
    verify_concurrency: int = 128
    verify_timeout: float = 5.0
    verify_processes: int | None = None  # None: one per core (at most 4); 1: in-process
    report_time_zone: str = "UTC"  # IANA name: report days, weeks and the weekly run
    report_weekday: str = "mon"  # the weekly report runs on this day ...
    report_time: str = "06:00"  # ... at this local time
    reports_dir: Path | None = None  # None: <instance>/reports
    profiles_file: Path | None = None  # None: <instance>/profiles.toml
    local_connectors: bool = False  # CERTPUSH_LOCAL_CONNECTORS=on: admins may add them
    emergency_push: bool = False  # CERTPUSH_EMERGENCY_PUSH=on: `push emergency` allowed
    plan_max_age_hours: float = 24.0  # preflight again at push time when older
    min_days_left: int = 7  # a certificate with fewer days left is not pushed
    login_delay_after: int = 5  # failures before each further attempt must wait 2**(n-5) s
    login_lock_after: int = 10  # failures before a lock (the right password refused too)
    login_lock_minutes: int = 15
    session_idle_minutes: int = 30  # a web session unused this long ends
    session_max_hours: int = 12  # and none lives longer than this
    proxy_fix: int = 0  # trusted proxies in front: X-Forwarded-For/-Proto from them count
    # Safe rollout (issue 13). A device profile's verify_settle / verify_grace win.
    verify_settle_seconds: float = 3.0  # first probe after an install, once reloads settle
    verify_grace_seconds: float = 60.0  # probe again until this long after the install
    push_retries: int = 3  # further tries after a transient failure (timeout, unreachable)
    retry_base_seconds: float = 5.0  # first backoff; doubles each try, with jitter
    # REST API (issue 14): write calls allowed per token in each window, "N/minute".
    api_write_rate: str = "60/minute"
    # Zone agents (issue 15): the RabbitMQ broker (amqp:// or amqps://); None: every
    # connector's work runs in the scheduler process, as zone "local".
    broker_url: str | None = None
    # The CA bundle that verifies an amqps:// broker's certificate; None: the system store.
    broker_ca: Path | None = None
    # Notifications (issue 16): the mail server (smtp://host:port, smtps://user:pass@host:port
    # or smtp+starttls://...); None: no e-mail, deliveries to users wait and say why. Kept
    # out of repr: its password must not reach a log through a printed Settings.
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "certpush@localhost"
    base_url: str = "http://127.0.0.1:8050"  # links in messages lead here
    mail_attach_limit_bytes: int = MAIL_ATTACH_LIMIT  # larger weekly reports are linked
    notify_backoff_base: float = 5.0  # a failed delivery waits 5 s, 10 s, 20 s...
    notify_backoff_cap: float = 300.0  # ... up to 5 minutes between tries
    notify_lease_seconds: float = 120.0  # a crashed notifier's claims come back after this

    @property
    def report_folder(self) -> Path:
        """Where weekly reports are written (and read back for download)."""
        return self.reports_dir or self.instance_dir / "reports"

    @property
    def profiles_path(self) -> Path:
        """The administrator's device profiles (built-ins apply when it does not exist)."""
        return self.profiles_file or self.instance_dir / "profiles.toml"

    @property
    def throttle_policy(self):
        """The login delay and lock rule with these thresholds (data/domain/throttle.py)."""
        from data.domain.throttle import ThrottlePolicy

        return ThrottlePolicy(
            delay_after=self.login_delay_after,
            lock_after=self.login_lock_after,
            lock_minutes=self.login_lock_minutes,
        )

    @property
    def session_policy(self):
        """Web session timeouts (data/domain/sessions.py)."""
        from datetime import timedelta

        from data.domain.sessions import SessionPolicy

        return SessionPolicy(
            idle=timedelta(minutes=self.session_idle_minutes),
            max_age=timedelta(hours=self.session_max_hours),
        )

    @classmethod
    def for_folder(
        cls, folder: Path, *, database_url: str | None = None, master_key: str | None = None
    ) -> Settings:
        """Self-contained settings in one folder (tests, benchmarks): SQLite there by default."""
        return cls(
            database_url=database_url or f"sqlite:///{folder / 'certpush.db'}",
            instance_dir=folder,
            master_key=master_key,
            master_key_file=folder / "master.key",
            secret_key_file=folder / "session.key",
        )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        instance = Path(env.get("CERTPUSH_INSTANCE", DEFAULT_INSTANCE)).resolve()
        url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'certpush.db'}"
        if url.startswith("postgres://"):  # Heroku-style URLs
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return cls(
            database_url=url,
            instance_dir=instance,
            master_key=env.get("CERTPUSH_MASTER_KEY") or None,
            master_key_file=Path(
                env.get("CERTPUSH_MASTER_KEY_FILE", instance / "master.key")
            ).resolve(),
            secret_key_file=Path(
                env.get("CERTPUSH_SECRET_KEY_FILE", instance / "session.key")
            ).resolve(),
            max_file_bytes=int(env.get("CERTPUSH_MAX_FILE_BYTES", MAX_UPLOAD_BYTES)),
            missed_grace_minutes=int(env.get("CERTPUSH_MISSED_GRACE_MINUTES", 60)),
            schedule_horizon_days=int(env.get("CERTPUSH_SCHEDULE_HORIZON_DAYS", 90)),
            push_parallelism=int(env.get("CERTPUSH_PUSH_PARALLELISM", 4)),
            demo_first_port=int(env.get("CERTPUSH_DEMO_PORT", 18443)),
            verify_minutes=int(env.get("CERTPUSH_VERIFY_MINUTES", 15)),
            verify_concurrency=int(env.get("CERTPUSH_VERIFY_CONCURRENCY", 128)),
            verify_timeout=float(env.get("CERTPUSH_VERIFY_TIMEOUT", 5)),
            report_time_zone=env.get("CERTPUSH_REPORT_TZ", "UTC"),
            report_weekday=env.get("CERTPUSH_REPORT_WEEKDAY", "mon").strip().lower()[:3],
            report_time=env.get("CERTPUSH_REPORT_TIME", "06:00"),
            reports_dir=Path(env.get("CERTPUSH_REPORTS_DIR", instance / "reports")).resolve(),
            profiles_file=Path(
                env.get("CERTPUSH_PROFILES_FILE", instance / "profiles.toml")
            ).resolve(),
            local_connectors=_local_connectors(env, instance),
            emergency_push=_on(env.get("CERTPUSH_EMERGENCY_PUSH")),
            plan_max_age_hours=float(env.get("CERTPUSH_PLAN_MAX_AGE", 24)),
            min_days_left=int(env.get("CERTPUSH_MIN_DAYS_LEFT", 7)),
            login_delay_after=int(env.get("CERTPUSH_LOGIN_DELAY_AFTER", 5)),
            login_lock_after=int(env.get("CERTPUSH_LOGIN_LOCK_AFTER", 10)),
            login_lock_minutes=int(env.get("CERTPUSH_LOGIN_LOCK_MINUTES", 15)),
            session_idle_minutes=int(env.get("CERTPUSH_SESSION_IDLE_MINUTES", 30)),
            session_max_hours=int(env.get("CERTPUSH_SESSION_MAX_HOURS", 12)),
            proxy_fix=_proxy_count(env.get("CERTPUSH_PROXY_FIX")),
            verify_settle_seconds=float(env.get("CERTPUSH_VERIFY_SETTLE", 3)),
            verify_grace_seconds=float(env.get("CERTPUSH_VERIFY_GRACE", 60)),
            push_retries=int(env.get("CERTPUSH_PUSH_RETRIES", 3)),
            retry_base_seconds=float(env.get("CERTPUSH_RETRY_BASE", 5)),
            api_write_rate=env.get("CERTPUSH_API_WRITE_RATE", "60/minute"),
            broker_url=env.get("CERTPUSH_BROKER_URL") or None,
            broker_ca=(
                Path(env["CERTPUSH_BROKER_CA"]).resolve() if env.get("CERTPUSH_BROKER_CA") else None
            ),
            smtp_url=env.get("CERTPUSH_SMTP_URL", "").strip() or None,
            mail_from=env.get("CERTPUSH_MAIL_FROM", "").strip() or "certpush@localhost",
            base_url=(env.get("CERTPUSH_BASE_URL", "").strip() or "http://127.0.0.1:8050").rstrip(
                "/"
            ),
            mail_attach_limit_bytes=int(env.get("CERTPUSH_MAIL_ATTACH_LIMIT", MAIL_ATTACH_LIMIT)),
            notify_backoff_base=float(env.get("CERTPUSH_NOTIFY_BACKOFF_BASE", 5)),
            notify_backoff_cap=float(env.get("CERTPUSH_NOTIFY_BACKOFF_CAP", 300)),
            notify_lease_seconds=float(env.get("CERTPUSH_NOTIFY_LEASE", 120)),
            verify_processes=(
                int(env["CERTPUSH_VERIFY_PROCESSES"])
                if env.get("CERTPUSH_VERIFY_PROCESSES")
                else None
            ),
        )


def _on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "on", "true", "yes")


def _proxy_count(value: str | None) -> int:
    """CERTPUSH_PROXY_FIX: a number of proxies, or on/off (on: one)."""
    text = (value or "").strip().lower()
    if not text or text in ("0", "off", "false", "no"):
        return 0
    if text.isdigit():
        return int(text)
    if _on(text):
        return 1
    raise ValueError(f"CERTPUSH_PROXY_FIX must be a number of proxies or on/off, not {value!r}")


LOCAL_CONNECTORS_MARKER = "local-connectors.on"


def _local_connectors(env, instance: Path) -> bool:
    """CERTPUSH_LOCAL_CONNECTORS decides when set (on/off); otherwise the instance's marker
    file, which ``certpush demo`` writes: its devices are local connectors, and the CLI
    used on the demo instance later must be able to plan their pushes too."""
    value = env.get("CERTPUSH_LOCAL_CONNECTORS")
    if value is not None and value.strip():
        return _on(value)
    return (instance / LOCAL_CONNECTORS_MARKER).exists()
