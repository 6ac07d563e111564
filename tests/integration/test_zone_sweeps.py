"""A verification sweep across zones over a real RabbitMQ: a zone's endpoints are probed
by its approved agent (recorded as such), the scheduler's own zone in process, and a
zone with no live agent gets ``zone_offline``, which decides nothing."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from data.db import session_scope
from data.models import (
    Certificate,
    Connector,
    Endpoint,
    PushAttempt,
    VerificationResult,
    WorkOrder,
)
from jobs.verify import run_sweep
from tests import broker as rabbit
from tests import certs as c
from tests.zones import trusted_agent

pytestmark = pytest.mark.skipif(not rabbit.available(), reason="needs rabbitmq-server and root")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def tls_port(tmp_path) -> Iterator[tuple[int, str]]:
    """A TLS listener on 127.0.0.1 serving one certificate; yields (port, fingerprint)."""
    cert, key = c.make_cert("zone-web.example")
    (tmp_path / "site.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "site.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    der = cert.public_bytes(serialization.Encoding.DER)
    yield listener.getsockname()[1], hashlib.sha256(der).hexdigest()
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _pushed(session, name: str, zone: str, port: int, fingerprint: str) -> int:
    """A connector in ``zone`` whose last install pushed ``fingerprint``; its work order id."""
    cert = session.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
    if cert is None:
        cert = Certificate(
            fingerprint_sha256=fingerprint,
            common_name="zone-web.example",
            subject="CN=zone-web.example",
            issuer="CN=Test",
            serial="1",
            not_before=T0,
            not_after=datetime(2036, 1, 1, tzinfo=UTC),
            key_type="EC",
            signature_algorithm="ecdsa",
            der=b"x",
            imported_at=T0,
        )
        session.add(cert)
        session.flush()
    conn = Connector(name=name, type="ssh", settings="{}", created_at=T0, created_by="t", zone=zone)
    session.add(conn)
    session.flush()
    session.add(Endpoint(connector_id=conn.id, host="127.0.0.1", port=port, sni=""))
    from data.models import PushRequest

    req = PushRequest(certificate_id=cert.id, requester="t", comment="", created_at=T0)
    session.add(req)
    session.flush()
    wo = WorkOrder(
        request_id=req.id,
        connector_id=conn.id,
        status="Completed",
        version=1,
        levels_done=1,
        reason="",
        created_at=T0,
        updated_at=T0,
        pushed_at=T0,
    )
    session.add(wo)
    session.flush()
    session.add(
        PushAttempt(
            certificate_id=cert.id,
            connector_id=conn.id,
            actor="t",
            started_at=T0,
            finished_at=T0,
            outcome="installed",
            work_order_id=wo.id,
            kind="install",
        )
    )
    session.flush()
    return wo.id


def _results(settings) -> dict[str, tuple[str, str | None]]:
    with session_scope(settings.database_url) as db:
        rows = db.execute(
            select(Connector.name, VerificationResult.outcome, VerificationResult.agent).join(
                Connector, Connector.id == VerificationResult.connector_id
            )
        ).all()
    return {name: (outcome, agent) for name, outcome, agent in rows}


def test_each_zone_is_probed_by_its_own_agent_and_an_empty_zone_is_offline(
    sqlite_settings,
    broker,
    central,
    tls_port,
    tmp_path,
):
    port, fingerprint = tls_port
    with session_scope(sqlite_settings.database_url) as db:
        _pushed(db, "web-local", "local", port, fingerprint)
        _pushed(db, "web-dmz", "dmz", port, fingerprint)
        offline_wo = _pushed(db, "web-dc2", "dc2", port, fingerprint)
    agent = trusted_agent(sqlite_settings, broker.url, "dmz", "dmz-1", tmp_path)
    try:
        report = run_sweep(
            sqlite_settings.database_url,
            broker_url=broker.url,
            timeout=3,
            processes=1,
            trigger="test",
        )
    finally:
        agent.terminate()
        agent.wait(timeout=20)
    assert report.summary == {"match": 2, "zone_offline": 1}
    assert _results(sqlite_settings) == {
        "web-local": ("match", None),  # the scheduler's own zone, probed in process
        "web-dmz": ("match", "dmz-1"),  # through the zone's approved agent
        "web-dc2": ("zone_offline", None),  # nobody could look: never a mismatch
    }
    with session_scope(sqlite_settings.database_url) as db:
        assert db.get(WorkOrder, offline_wo).verification is None  # decides nothing
        drift = db.scalar(select(Certificate.drift))
    assert drift is False


def test_without_a_broker_every_zone_is_probed_in_process(sqlite_settings, tls_port):
    port, fingerprint = tls_port
    with session_scope(sqlite_settings.database_url) as db:
        _pushed(db, "web-dmz", "dmz", port, fingerprint)
    report = run_sweep(sqlite_settings.database_url, timeout=3, processes=1, trigger="test")
    assert report.summary == {"match": 1}
    assert _results(sqlite_settings) == {"web-dmz": ("match", None)}


def test_a_broker_restart_mid_sweep_loses_and_doubles_nothing(
    sqlite_settings, broker, central, tls_port, tmp_path
):
    port, fingerprint = tls_port
    with session_scope(sqlite_settings.database_url) as db:
        for i in range(3):
            _pushed(db, f"web-dmz-{i}", "dmz", port, fingerprint)
    agent = trusted_agent(sqlite_settings, broker.url, "dmz", "dmz-r", tmp_path)
    try:
        broker.ctl("stop_app")  # the broker goes away just as the sweep sends its batch
        found: dict = {}
        sweep = threading.Thread(
            target=lambda: found.update(
                report=run_sweep(
                    sqlite_settings.database_url,
                    broker_url=broker.url,
                    timeout=3,
                    processes=1,
                    trigger="test",
                )
            )
        )
        sweep.start()
        time.sleep(3)
        broker.ctl("start_app")
        sweep.join(timeout=120)
    finally:
        broker.ctl("start_app")  # running again whatever happened (a no-op when it is)
        agent.terminate()
        agent.wait(timeout=20)
    report = found["report"]
    assert sum(report.summary.values()) == 3  # every endpoint accounted for
    assert set(report.summary) <= {"match", "zone_offline"}
    with session_scope(sqlite_settings.database_url) as db:
        rows = db.scalars(select(VerificationResult.endpoint_id)).all()
    assert len(rows) == len(set(rows)) == 3  # no result twice
