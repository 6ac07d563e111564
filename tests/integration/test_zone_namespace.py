"""The real thing: a device that listens on the loopback of a network namespace, where the
central processes cannot reach it, verified through the agent running inside that zone,
whose only way out is the veth pair to the broker."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from data.db import session_scope
from data.domain.connector_specs import EndpointSpec
from jobs.probe import probe
from jobs.verify import run_sweep
from tests import broker as rabbit
from tests import netns
from tests.integration.test_zone_sweeps import _pushed, _results
from tests.servers import free_port
from tests.zones import trusted_agent

pytestmark = pytest.mark.skipif(
    not (rabbit.available() and netns.available()), reason="needs rabbitmq-server, ip and root"
)

# A TLS device: serves one certificate on 127.0.0.1:PORT of wherever it runs.
DEVICE = """
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1])
server = socket.create_server(("127.0.0.1", int(sys.argv[2])))
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True):
            pass
    except OSError:
        conn.close()
"""


def test_a_device_only_its_zone_can_reach_is_verified_through_the_zone_agent(
    sqlite_settings, broker, central, tmp_path
):
    from tests import certs as c

    cert, key = c.make_cert("inside.dmz.example")
    (tmp_path / "device.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    import hashlib

    from cryptography.hazmat.primitives import serialization

    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    port = free_port()  # free on the host's loopback: nothing answers there
    zone = netns.make_zone()
    forward = netns.Forward((zone.host_address, broker.port), ("127.0.0.1", broker.port))
    device = subprocess.Popen(
        zone.command(sys.executable, "-c", DEVICE, str(tmp_path / "device.pem"), str(port)),
        stdout=subprocess.PIPE,
        text=True,
    )
    agent = None
    try:
        assert device.stdout.readline().strip() == "ready"
        # The central side cannot reach the device: its 127.0.0.1 is not the zone's.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert probe(EndpointSpec("127.0.0.1", port, None), fingerprint, 2).outcome.value in (
            "refused",
            "timeout",
            "unreachable",
        )
        with session_scope(sqlite_settings.database_url) as db:
            _pushed(db, "dmz-device", "dmz", port, fingerprint)
        inside_url = f"amqp://guest:guest@{zone.host_address}:{broker.port}//"
        agent = trusted_agent(sqlite_settings, inside_url, "dmz", "dmz-inside", tmp_path,
                              zone.command())  # fmt: skip
        report = run_sweep(
            sqlite_settings.database_url,
            broker_url=broker.url,
            timeout=3,
            processes=1,
            trigger="test",
        )
        assert report.summary == {"match": 1}, (tmp_path / "dmz-inside.log").read_text()[-3000:]
        assert _results(sqlite_settings) == {"dmz-device": ("match", "dmz-inside")}
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=20)
        device.kill()
        device.wait(timeout=10)
        forward.close()
        zone.remove()


# A device whose certificate files the push replaces: it reads them at every handshake.
FILE_DEVICE = """
import socket, ssl, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[3])))
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        with ctx.wrap_socket(conn, server_side=True):
            pass
    except (OSError, ssl.SSLError):
        conn.close()
"""


def test_a_push_to_a_device_only_its_zone_reaches_goes_through_the_agent(
    sqlite_settings, broker, central, tmp_path
):
    import dataclasses
    from datetime import timedelta

    from sqlalchemy import select

    from data.connectors import add_connector, bind
    from data.crypto import load_vault
    from data.domain.workflow import Action, Actor
    from data.importer import import_paths
    from data.models import PushAttempt, WorkOrder
    from data.push_plans import get_plan
    from data.workorders import act, claim_due, request_push
    from jobs.plan_checks import check_plan
    from jobs.workorders import run_work_order
    from tests.profiles import FILES
    from tests.servers import make_cert_files

    vault = load_vault(sqlite_settings)
    new_cert, new_key, fingerprint = make_cert_files(tmp_path / "in", "pushed.dmz.example")
    old_cert, old_key, _old = make_cert_files(tmp_path / "device", "old.dmz.example")
    port = free_port()
    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [new_cert, new_key], now=now, actor="test")
        add_connector(
            db,
            vault,
            name="dmz-files",
            type_name="local",
            actor="test",
            role="admin",
            now=now,
            zone="dmz",
            endpoints=[f"127.0.0.1:{port}"],
            settings={"profile": FILES, "cert_path": str(old_cert), "key_path": str(old_key)},
        )
        bind(db, "dmz-files", fingerprint, actor="test", now=now)
    zone = netns.make_zone()
    forward = netns.Forward((zone.host_address, broker.port), ("127.0.0.1", broker.port))
    device = subprocess.Popen(
        zone.command(sys.executable, "-c", FILE_DEVICE, str(old_cert), str(old_key), str(port)),
        stdout=subprocess.PIPE,
        text=True,
    )
    agent = None
    try:
        assert device.stdout.readline().strip() == "ready"
        with pytest.raises(OSError):  # the central side has no way to the device
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        inside_url = f"amqp://guest:guest@{zone.host_address}:{broker.port}//"
        agent = trusted_agent(sqlite_settings, inside_url, "dmz", "dmz-pusher", tmp_path,
                              zone.command())  # fmt: skip
        with session_scope(sqlite_settings.database_url) as db:
            _label, [order] = request_push(
                db,
                fingerprint,
                actor=Actor("olivia", "operator"),
                now=datetime.now(UTC),
                comment="into the dmz",
            )
            plan = get_plan(db, db.get(WorkOrder, order.id).plan_id)
        # Preflight: the device's side is checked by the zone's agent, from inside.
        checked = check_plan(sqlite_settings.database_url, vault, plan, now=datetime.now(UTC),
                             min_days_left=7, broker_url=broker.url)  # fmt: skip
        checks = {c["name"]: c for c in checked["checks"]}
        assert checks["ssh"]["status"] == checks["folders"]["status"] == "ok", checked
        assert "checked by agent dmz-pusher in zone dmz" in checks["folders"]["message"]
        assert "serves another certificate now" in checks["endpoints_now"]["message"]
        assert [e["now"]["outcome"] for e in checked["endpoints"]] == ["mismatch"]
        assert "zone" not in checked  # seen from its zone: no need to look again at push
        with session_scope(sqlite_settings.database_url) as db:
            for who, action in (
                (Actor("ravi", "reviewer"), Action.APPROVE),
                (Actor("ines", "implementer"), Action.IMPLEMENT),
            ):
                assert act(db, order.id, action, actor=who, now=datetime.now(UTC)).ok
            assert claim_due(
                db,
                owner="test",
                now=datetime.now(UTC),
                grace=timedelta(hours=1),
                lease=timedelta(minutes=5),
                limit=5,
            ) == [order.id]
        settings = dataclasses.replace(
            sqlite_settings,
            broker_url=broker.url,
            verify_settle_seconds=0.2,
            verify_grace_seconds=10,
        )
        assert run_work_order(
            sqlite_settings.database_url, vault, order.id, "test", settings=settings
        ), (tmp_path / "dmz-inside.log").read_text()[-3000:]
        with session_scope(sqlite_settings.database_url) as db:
            assert db.get(WorkOrder, order.id).status == "Completed"
            install = db.scalar(select(PushAttempt).where(PushAttempt.kind == "install"))
            assert install.outcome == "installed" and "by agent dmz-pusher" in install.reason
        assert old_cert.read_bytes() == new_cert.read_bytes()  # the agent wrote the files
        key_line = new_key.read_text().splitlines()[1]
        store = b"".join(p.read_bytes() for p in broker.folder.rglob("*") if p.is_file())
        assert key_line.encode() not in store  # the broker never held the key in the clear
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=20)
        device.kill()
        device.wait(timeout=10)
        forward.close()
        zone.remove()
