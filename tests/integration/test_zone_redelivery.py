"""Two agents serve one zone; the one running a push is killed (SIGKILL) in the middle:
RabbitMQ gives the unacknowledged push to the other agent, which finishes it, and the
device is installed once (the second run finds the certificate already in place, and
reloads the device again, since the first run died inside its reload)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data.agents import approve
from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import Action, Actor
from data.importer import import_paths
from data.models import PushAttempt, WorkOrder
from data.workorders import act, claim_due, request_push
from jobs.workorders import run_work_order
from tests import broker as rabbit
from tests.profiles import define
from tests.servers import make_cert_files
from tests.zones import agent_process, agents_by_name, wait_for

pytestmark = pytest.mark.skipif(not rabbit.available(), reason="needs rabbitmq-server and root")


def test_a_killed_agents_push_is_finished_once_by_the_other(
    sqlite_settings, broker, central, tmp_path
):
    # The reload takes 4 s: long enough to kill the agent in the middle of the push. It
    # notes each start, so the test sees whether the second agent reloaded again.
    starts = tmp_path / "reload-starts"
    script = tmp_path / "reload.py"
    script.write_text("import sys, time\nopen(sys.argv[1], 'a').write('start\\n')\ntime.sleep(4)\n")
    profile = define("slow-files", reload=[sys.executable, str(script), str(starts)])
    vault = load_vault(sqlite_settings)
    cert, key, fingerprint = make_cert_files(tmp_path / "in", "twice.dmz.example")
    old_cert, old_key, _old = make_cert_files(tmp_path / "device", "old.dmz.example")
    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [cert, key], now=now, actor="test")
        add_connector(
            db,
            vault,
            name="dmz-slow",
            type_name="local",
            actor="test",
            role="admin",
            now=now,
            zone="dmz",
            settings={"profile": profile, "cert_path": str(old_cert), "key_path": str(old_key)},
        )
        bind(db, "dmz-slow", fingerprint, actor="test", now=now)
    agents = {
        name: agent_process(broker.url, "dmz", tmp_path / name, name, tmp_path / f"{name}.log")
        for name in ("dmz-a", "dmz-b")
    }
    try:
        wait_for(lambda: set(agents) <= set(agents_by_name(sqlite_settings)), "both enrolled")
        with session_scope(sqlite_settings.database_url) as db:
            for name in agents:
                approve(db, name, actor="adam", role="admin", now=datetime.now(UTC))
        wait_for(
            lambda: all(
                a.live(datetime.now(UTC)) for a in agents_by_name(sqlite_settings).values()
            ),
            "both live",
        )
        with session_scope(sqlite_settings.database_url) as db:
            _label, [order] = request_push(
                db, fingerprint, actor=Actor("olivia", "operator"), now=datetime.now(UTC)
            )
            for who, action in (
                (Actor("ravi", "reviewer"), Action.APPROVE),
                (Actor("ines", "implementer"), Action.IMPLEMENT),
            ):
                assert act(db, order.id, action, actor=who, now=datetime.now(UTC)).ok
            claim_due(
                db,
                owner="test",
                now=datetime.now(UTC),
                grace=timedelta(hours=1),
                lease=timedelta(minutes=5),
                limit=5,
            )
        settings = dataclasses.replace(
            sqlite_settings,
            broker_url=broker.url,
            verify_settle_seconds=0.2,
            verify_grace_seconds=10,
        )
        done: dict[str, bool] = {}
        runner = threading.Thread(
            target=lambda: done.update(
                ok=run_work_order(
                    sqlite_settings.database_url, vault, order.id, "test", settings=settings
                )
            )
        )
        runner.start()

        def pushing() -> str | None:
            for name in agents:
                if "certpush.agent.push[" in (tmp_path / f"{name}.log").read_text():
                    return name
            return None

        first = wait_for(pushing, "an agent taking the push")
        time.sleep(1.5)  # inside its 4 s reload
        os.kill(agents[first].pid, signal.SIGKILL)
        runner.join(timeout=120)
        other = next(n for n in agents if n != first)
        assert done.get("ok") is True, (tmp_path / f"{other}.log").read_text()[-3000:]
        with session_scope(sqlite_settings.database_url) as db:
            assert db.get(WorkOrder, order.id).status == "Completed"
            installs = db.scalars(select(PushAttempt).where(PushAttempt.kind == "install")).all()
        assert len(installs) == 1
        assert installs[0].outcome == "already_installed", installs[0].reason
        assert f"by agent {other}" in installs[0].reason
        assert "reloaded again" in installs[0].reason
        # One reload started by the killed agent, one by the other after redelivery.
        assert starts.read_text().splitlines() == ["start", "start"]
        assert old_cert.read_bytes() == cert.read_bytes()
    finally:
        for process in agents.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
