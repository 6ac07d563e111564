"""Shared fixtures: a migrated database (SQLite, and PostgreSQL when a server is given),
settings with a fresh master key, and a certificate factory built on cryptography.

PostgreSQL tests run when CERTPUSH_TEST_POSTGRES_URL points at a server where we may
create databases (.ci/run starts one); each test gets its own database.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from data.config import Settings
from data.crypto import Vault, generate_master_key, load_vault
from data.db import engine_for
from data.schema import upgrade

PG_URL = os.environ.get("CERTPUSH_TEST_POSTGRES_URL")
# Importing dashboard.app builds the app from the environment: keep it off any real data.
os.environ.pop("DATABASE_URL", None)
os.environ["CERTPUSH_INSTANCE"] = tempfile.mkdtemp(prefix="certpush-tests-")
# Device profiles: the administrator's file (tests/profiles.py writes it) and local
# connectors allowed, for every process the tests start.
os.environ["CERTPUSH_PROFILES_FILE"] = os.path.join(
    os.environ["CERTPUSH_INSTANCE"], "profiles.toml"
)
os.environ["CERTPUSH_LOCAL_CONNECTORS"] = "on"
# Verification after a push and retries at test speed (tests that need other timings set
# them in a device profile or their own environment).
os.environ.setdefault("CERTPUSH_VERIFY_SETTLE", "0.2")
os.environ.setdefault("CERTPUSH_VERIFY_GRACE", "3")
os.environ.setdefault("CERTPUSH_RETRY_BASE", "0.2")
import tests.profiles  # noqa: E402,F401  (writes the file with the test-files profile)

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def pytest_report_header(config) -> str:
    """The clock and zone this run sees, so a log shows when a (shifted) run believed it was."""
    now = datetime.now(UTC)
    local = now.astimezone()
    offset = os.environ.get("CERTPUSH_TEST_CLOCK_OFFSET")
    return (
        f"clock: {now:%Y-%m-%d %H:%M:%S} UTC ({now:%A}), local {local:%Y-%m-%d %H:%M %Z}"
        f" (TZ={os.environ.get('TZ', 'unset')})"
        + (f", shifted {offset} s by tests/shifted_clock" if offset else "")
    )


def _make_settings(instance: Path, url: str) -> Settings:
    return Settings.for_folder(instance, database_url=url, master_key=generate_master_key())


@pytest.fixture
def instance(tmp_path_factory) -> Path:
    """A folder for the database and key files, apart from the test's input files."""
    return tmp_path_factory.mktemp("instance")


@pytest.fixture
def sqlite_settings(instance: Path) -> Settings:
    settings = _make_settings(instance, f"sqlite:///{instance / 'certpush.db'}")
    upgrade(settings.database_url)
    return settings


def _pg_database() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("CERTPUSH_TEST_POSTGRES_URL is not set (run the tests through .ci/run)")
    name = f"certpush_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request, instance: Path) -> Iterator[Settings]:
    """A migrated database of each kind: data-layer tests run on both."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_settings")
        return
    for url in _pg_database():
        s = _make_settings(instance, url)
        upgrade(s.database_url)
        yield s


@pytest.fixture
def vault(settings: Settings) -> Vault:
    return load_vault(settings)


@pytest.fixture
def now() -> datetime:
    return NOW
