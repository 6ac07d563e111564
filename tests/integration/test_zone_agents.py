"""Zone agents over a real, private RabbitMQ: an agent enrols as pending with the key it
made, an admin approves that key, its heartbeats keep it live; forged, altered and
revoked agents' messages are refused and audited. The agent runs with no database
settings at all: only the broker URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from data.agents import list_agents
from data.db import session_scope
from data.envelopes import AgentKeys
from data.models import AuditEvent
from jobs.zones.broker import CENTRAL_QUEUE, HELLO_TASK, celery_app
from tests import broker as rabbit

pytestmark = pytest.mark.skipif(not rabbit.available(), reason="needs rabbitmq-server and root")


@pytest.fixture(scope="module")
def broker() -> Iterator[rabbit.Broker]:
    started = rabbit.start_broker()
    yield started
    started.stop()


def _cli_env(settings, broker_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CERTPUSH_INSTANCE": str(settings.instance_dir),
        "DATABASE_URL": settings.database_url,
        "CERTPUSH_BROKER_URL": broker_url,
        "CERTPUSH_MASTER_KEY": settings.master_key or "",
        "CERTPUSH_AGENT_HEARTBEAT": "1",
    }
    return env


@pytest.fixture
def central(sqlite_settings, broker, tmp_path) -> Iterator[dict[str, str]]:
    env = _cli_env(sqlite_settings, broker.url)
    log = open(tmp_path / "central.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "central"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    yield env
    process.terminate()
    process.wait(timeout=20)
    log.close()


def _agent(broker_url: str, zone: str, state: Path, name: str, log: Path) -> subprocess.Popen:
    """An agent as it runs in a zone: the broker URL and nothing of the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTPUSH_", "DATABASE_URL"))}
    env.update(
        CERTPUSH_BROKER_URL=broker_url,
        CERTPUSH_AGENT_HEARTBEAT="1",
        CERTPUSH_INSTANCE=str(state / "no-instance-here"),
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobs.cli",
            "agent",
            "--zone",
            zone,
            "--state",
            str(state),
            "--name",
            name,
        ],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def _wait(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def _agents(settings) -> dict:
    with session_scope(settings.database_url) as db:
        return {a.name: a for a in list_agents(db)}


def _audit(settings, action: str) -> list[AuditEvent]:
    with session_scope(settings.database_url) as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [(r.target, r.detail) for r in rows]


def _cli(env, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_an_agent_enrols_pending_is_approved_and_forgeries_are_refused(
    sqlite_settings, broker, central, tmp_path
):
    state = tmp_path / "dmz-state"
    agent = _agent(broker.url, "dmz", state, "dmz-1", tmp_path / "agent.log")
    try:
        pending = _wait(lambda: _agents(sqlite_settings).get("dmz-1"), "the enrolment")
        keys = AgentKeys.load_or_create(state)  # the key pair the agent made on first start
        assert (pending.zone, pending.state.value) == ("dmz", "pending")
        assert pending.fingerprint == keys.public.fingerprint
        listed = _cli(central, "agents", "list")
        assert "dmz-1" in listed and "pending" in listed and keys.public.fingerprint in listed

        said = _cli(central, "agents", "approve", "dmz-1")
        assert "approved" in said
        first = _agents(sqlite_settings)["dmz-1"].last_heartbeat
        beat = _wait(
            lambda: (a := _agents(sqlite_settings)["dmz-1"]).last_heartbeat > first and a,
            "a heartbeat after approval",
        )
        assert beat.state.value == "approved"

        # Another key claiming the name, and the agent's own identity with a bad signature.
        app = celery_app(broker.url, "forger")
        thief = AgentKeys.generate()
        stolen = thief.sign(
            {
                "type": "hello",
                "agent": "dmz-1",
                "zone": "dmz",
                "identity": thief.public.to_json(),
                "version": "1",
            }
        )
        app.send_task(HELLO_TASK, args=[stolen], queue=CENTRAL_QUEUE)
        genuine = keys.sign(
            {
                "type": "hello",
                "agent": "dmz-1",
                "zone": "dmz",
                "identity": keys.public.to_json(),
                "version": "1",
            }
        )
        genuine["body"]["zone"] = "dmz"  # unchanged body, forged signature below
        genuine["signature"] = thief.sign(genuine["body"])["signature"]
        app.send_task(HELLO_TASK, args=[genuine], queue=CENTRAL_QUEUE)
        _wait(lambda: _audit(sqlite_settings, "agent.hello.refused"), "the stolen name refused")
        _wait(lambda: _audit(sqlite_settings, "agent.message.refused"), "the bad signature")
        still = _agents(sqlite_settings)["dmz-1"]
        assert (still.state.value, still.fingerprint) == ("approved", keys.public.fingerprint)

        _cli(central, "agents", "revoke", "dmz-1")
        _wait(
            lambda: any("revoked" in d for _t, d in _audit(sqlite_settings, "agent.hello.refused")),
            "the revoked agent's next heartbeat refused",
        )
        assert _agents(sqlite_settings)["dmz-1"].state.value == "revoked"
    finally:
        agent.terminate()
        agent.wait(timeout=20)
    log = (tmp_path / "agent.log").read_text()
    assert "no-instance-here" not in log  # it never looked for a database
