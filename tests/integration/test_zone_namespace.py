"""The real thing: a device that listens on the loopback of a network namespace, where the
central processes cannot reach it, verified through the agent running inside that zone,
whose only way out is the veth pair to the broker."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from data.agents import approve
from data.db import session_scope
from data.domain.connector_specs import EndpointSpec
from jobs.probe import probe
from jobs.verify import run_sweep
from tests import broker as rabbit
from tests import netns
from tests.integration.test_zone_sweeps import _pushed, _results
from tests.servers import free_port
from tests.zones import agent_process, agents_by_name, wait_for

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
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    agent = None
    try:
        assert device.stdout.readline().strip() == "ready"
        # The central side cannot reach the device: its 127.0.0.1 is not the zone's.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert probe(EndpointSpec("127.0.0.1", port, None), fingerprint, 2).outcome.value in (
            "refused", "timeout", "unreachable")  # fmt: skip
        with session_scope(sqlite_settings.database_url) as db:
            _pushed(db, "dmz-device", "dmz", port, fingerprint)
        inside_url = f"amqp://guest:guest@{zone.host_address}:{broker.port}//"
        agent = agent_process(inside_url, "dmz", tmp_path / "state", "dmz-inside",
                              tmp_path / "agent.log", prefix=zone.command())  # fmt: skip
        wait_for(lambda: agents_by_name(sqlite_settings).get("dmz-inside"), "the enrolment")
        with session_scope(sqlite_settings.database_url) as db:
            approve(db, "dmz-inside", actor="adam", role="admin", now=datetime.now(UTC))
        live = lambda: agents_by_name(sqlite_settings)["dmz-inside"].live(datetime.now(UTC))  # noqa: E731
        wait_for(live, "a live agent")
        report = run_sweep(sqlite_settings.database_url, broker_url=broker.url, timeout=3,
                           processes=1, trigger="test")  # fmt: skip
        assert report.summary == {"match": 1}, (tmp_path / "agent.log").read_text()[-3000:]
        assert _results(sqlite_settings) == {"dmz-device": ("match", "dmz-inside")}
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=20)
        device.kill()
        device.wait(timeout=10)
        forward.close()
        zone.remove()
