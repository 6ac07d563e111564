"""An SSH connector in another zone: its preflight, push and verification all go through
the zone's agent, with the connector's SSH key and the certificate's private key sealed
to that agent; afterwards RabbitMQ's data folder holds neither in the clear."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import Action, Actor
from data.models import PushAttempt, WorkOrder
from data.push_plans import get_plan
from data.workorders import act, claim_due, request_push
from jobs.plan_checks import check_plan
from jobs.workorders import run_work_order
from tests import broker as rabbit
from tests.integration.test_push import device, ssh_settings, sshd  # noqa: F401  (fixtures)
from tests.profiles import define
from tests.servers import tls_fingerprint
from tests.zones import trusted_agent

pytestmark = pytest.mark.skipif(not rabbit.available(), reason="needs rabbitmq-server and root")


def _pem_body_lines(pem: bytes) -> list[bytes]:
    """The base64 lines of a PEM (or OpenSSH) key: what a leak would show."""
    return [
        line.strip()
        for line in pem.splitlines()
        if line.strip() and not line.startswith(b"-----") and len(line.strip()) >= 40
    ]


def test_an_ssh_push_in_a_zone_keeps_the_keys_sealed_from_the_broker(
    sqlite_settings,
    broker,
    central,
    device,  # noqa: F811
    sshd,  # noqa: F811
    tmp_path,
):
    vault = load_vault(sqlite_settings)
    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        add_connector(
            db,
            vault,
            name="dmz-ssh",
            type_name="ssh",
            settings=ssh_settings(device, sshd),
            endpoints=[{"host": "127.0.0.1", "port": device.port}],
            secret=sshd.client_key,
            secret_kind="private_key",
            zone="dmz",
            actor="test",
            role="admin",
            now=now,
        )
        bind(db, "dmz-ssh", device.new_fingerprint, actor="test", now=now)
    agent = trusted_agent(sqlite_settings, broker.url, "dmz", "dmz-ssh-agent", tmp_path)
    try:
        with session_scope(sqlite_settings.database_url) as db:
            _label, [order] = request_push(
                db, device.new_fingerprint, actor=Actor("olivia", "operator"),
                now=datetime.now(UTC), comment="ssh into the dmz",
            )  # fmt: skip
            plan = get_plan(db, db.get(WorkOrder, order.id).plan_id)
        checked = check_plan(sqlite_settings.database_url, vault, plan, now=datetime.now(UTC),
                             min_days_left=7, broker_url=broker.url)  # fmt: skip
        checks = {c["name"]: c for c in checked["checks"]}
        assert checks["ssh"]["status"] == "ok", checked
        assert "logged in to dmz-ssh" in checks["ssh"]["message"]
        assert "checked by agent dmz-ssh-agent in zone dmz" in checks["ssh"]["message"]
        assert checks["folders"]["status"] == "ok", checked
        assert [e["now"]["fingerprint"] for e in checked["endpoints"]] == [device.old_fingerprint]
        with session_scope(sqlite_settings.database_url) as db:
            for who, action in (
                (Actor("ravi", "reviewer"), Action.APPROVE),
                (Actor("ines", "implementer"), Action.IMPLEMENT),
            ):
                assert act(db, order.id, action, actor=who, now=datetime.now(UTC)).ok
            assert claim_due(
                db, owner="test", now=datetime.now(UTC), grace=timedelta(hours=1),
                lease=timedelta(minutes=5), limit=5,
            ) == [order.id]  # fmt: skip
        settings = dataclasses.replace(
            sqlite_settings, broker_url=broker.url, verify_settle_seconds=0.2,
            verify_grace_seconds=10,
        )  # fmt: skip
        assert run_work_order(
            sqlite_settings.database_url, vault, order.id, "test", settings=settings
        ), (tmp_path / "dmz-ssh-agent.log").read_text()[-3000:]
        with session_scope(sqlite_settings.database_url) as db:
            assert db.get(WorkOrder, order.id).status == "Completed"
            install = db.scalar(select(PushAttempt).where(PushAttempt.kind == "install"))
            assert install.outcome == "installed"
            assert "by agent dmz-ssh-agent" in install.reason
        assert tls_fingerprint("127.0.0.1", device.port) == device.new_fingerprint
    finally:
        agent.terminate()
        agent.wait(timeout=20)
    store = b"".join(p.read_bytes() for p in broker.folder.rglob("*") if p.is_file())
    ssh_key_lines = _pem_body_lines(sshd.client_key)
    pushed_key_lines = _pem_body_lines((tmp_path / "new" / "renewed.key").read_bytes())
    assert ssh_key_lines and pushed_key_lines
    assert not [line for line in ssh_key_lines if line in store]  # the connector's secret
    assert not [line for line in pushed_key_lines if line in store]  # the pushed key


def test_preflight_of_a_zone_without_a_live_agent_warns_and_is_run_again_at_push(
    sqlite_settings,
    broker,
    device,  # noqa: F811
    tmp_path,
):
    from jobs.plan_checks import is_stale

    vault = load_vault(sqlite_settings)
    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        add_connector(
            db, vault, name="far-files", type_name="local", zone="far", actor="test",
            role="admin", now=now, endpoints=[{"host": "127.0.0.1", "port": device.port}],
            settings={"profile": define("far-files"), "cert_path": str(device.tls / "site.crt"),
                      "key_path": str(device.tls / "site.key")},
        )  # fmt: skip
        bind(db, "far-files", device.new_fingerprint, actor="test", now=now)
        _label, [order] = request_push(
            db, device.new_fingerprint, actor=Actor("olivia", "operator"), now=now
        )
        plan = get_plan(db, db.get(WorkOrder, order.id).plan_id)
    checked = check_plan(sqlite_settings.database_url, vault, plan, now=now, min_days_left=7,
                         broker_url=broker.url)  # fmt: skip
    checks = {c["name"]: c for c in checked["checks"]}
    assert checks["ssh"]["status"] == checks["folders"]["status"] == "warning"
    assert "zone far has no live approved agent" in checks["ssh"]["message"]
    assert [e["now"]["outcome"] for e in checked["endpoints"]] == ["zone_offline"]
    assert checked["status"] != "blocker" and checked["zone"] == "far"
    with session_scope(sqlite_settings.database_url) as db:
        plan = get_plan(db, plan.id)
        assert is_stale(plan, now, timedelta(days=1))  # the push looks again, through the zone
        assert act(db, order.id, Action.APPROVE, actor=Actor("ravi", "reviewer"), now=now).ok
