"""Fixtures of the integration tests that need a server of their own: RabbitMQ for zones."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests import broker as rabbit
from tests.zones import cli_env


@pytest.fixture(scope="session")
def broker() -> Iterator[rabbit.Broker]:
    """One private RabbitMQ for the whole run (it takes seconds to start)."""
    started = rabbit.start_broker()
    yield started
    started.stop()


@pytest.fixture
def central(sqlite_settings, broker, tmp_path) -> Iterator[dict[str, str]]:
    """``certpush central`` on the test's database; yields its environment."""
    env = cli_env(sqlite_settings, broker.url)
    log = open(tmp_path / "central.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "central"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    yield env
    process.terminate()
    process.wait(timeout=20)
    log.close()
