"""Zone agents over a real, private RabbitMQ: an agent enrols as pending with the key it
made, an admin approves that key, its heartbeats keep it live; forged, altered and
revoked agents' messages are refused and audited. The agent runs with no database
settings at all: only the broker URL."""

from __future__ import annotations

import subprocess
import sys

import pytest

from data.envelopes import AgentKeys
from jobs.zones.broker import CENTRAL_QUEUE, HELLO_TASK, celery_app
from tests import broker as rabbit
from tests.zones import agent_process, agents_by_name, audited, wait_for

pytestmark = pytest.mark.skipif(not rabbit.available(), reason="needs rabbitmq-server and root")


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
    agent = agent_process(broker.url, "dmz", state, "dmz-1", tmp_path / "agent.log")
    try:
        pending = wait_for(lambda: agents_by_name(sqlite_settings).get("dmz-1"), "the enrolment")
        keys = AgentKeys.load_or_create(state)  # the key pair the agent made on first start
        assert (pending.zone, pending.state.value) == ("dmz", "pending")
        assert pending.fingerprint == keys.public.fingerprint
        listed = _cli(central, "agents", "list")
        assert "dmz-1" in listed and "pending" in listed and keys.public.fingerprint in listed

        said = _cli(central, "agents", "approve", "dmz-1")
        assert "approved" in said
        first = agents_by_name(sqlite_settings)["dmz-1"].last_heartbeat
        beat = wait_for(
            lambda: (a := agents_by_name(sqlite_settings)["dmz-1"]).last_heartbeat > first and a,
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
        wait_for(lambda: audited(sqlite_settings, "agent.hello.refused"), "the stolen name refused")
        wait_for(lambda: audited(sqlite_settings, "agent.message.refused"), "the bad signature")
        still = agents_by_name(sqlite_settings)["dmz-1"]
        assert (still.state.value, still.fingerprint) == ("approved", keys.public.fingerprint)

        _cli(central, "agents", "revoke", "dmz-1")
        wait_for(
            lambda: any(
                "revoked" in d for _t, d in audited(sqlite_settings, "agent.hello.refused")
            ),
            "the revoked agent's next heartbeat refused",
        )
        assert agents_by_name(sqlite_settings)["dmz-1"].state.value == "revoked"
    finally:
        agent.terminate()
        agent.wait(timeout=20)
    log = (tmp_path / "agent.log").read_text()
    assert "no-instance-here" not in log  # it never looked for a database
