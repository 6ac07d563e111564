"""HTTPS verification against real local endpoints: probes, sweeps, verdicts, drift, the CLI.

Every endpoint is a real listener started by the test (a private nginx, a silent TCP port,
a port that resets, a plain HTTP server), so each outcome is what a real handshake gives.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func
from sqlalchemy import select as sql_select

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.connector_specs import EndpointSpec
from data.domain.status import Status
from data.domain.verification import ProbeOutcome
from data.domain.workflow import Action, Actor
from data.importer import import_paths
from data.models import Certificate, VerificationResult, WorkOrder
from data.queries import certificate_detail
from data.workorders import act, request_push
from jobs.probe import probe
from jobs.push import push_certificate
from jobs.verify import run_sweep
from tests.profiles import nginx_profile
from tests.servers import (
    PrivateNginx,
    SilentServer,
    free_port,
    ipv6_loopback_available,
    make_cert_files,
    wait_for_fingerprint,
)

OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")


def now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ small local servers


class ResetServer:
    """Accepts TCP and answers with a RST (SO_LINGER 0, then close).

    ``after_hello=True`` first reads the client's first bytes (the TLS ClientHello), so
    the reset lands during the handshake rather than right after the TCP connect.
    """

    def __init__(self, after_hello: bool = False) -> None:
        self.after_hello = after_hello
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
                if not ready:
                    continue
                conn, _ = self._listener.accept()
            except (OSError, ValueError):
                return
            with contextlib.suppress(OSError):
                if self.after_hello:
                    conn.settimeout(2)
                    conn.recv(4096)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self._listener.close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"plain http\n")

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@contextlib.contextmanager
def plain_http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


# --------------------------------------------------------------------- probe-level tests


@dataclass
class SniSite:
    port: int
    expired_port: int
    fp_a: str  # default server (a.example), answers bare IP probes too
    fp_b: str  # b.example on the same port
    fp_expired: str


@pytest.fixture(scope="module")
def sni_site(tmp_path_factory) -> Iterator[SniSite]:
    root = tmp_path_factory.mktemp("probe-nginx")
    cert_a, key_a, fp_a = make_cert_files(root / "tls", "a.example")
    cert_b, key_b, fp_b = make_cert_files(root / "tls", "b.example")
    cert_x, key_x, fp_x = make_cert_files(root / "tls", "old.example", days=-3)
    port, expired_port = free_port(), free_port()
    nginx = PrivateNginx(root / "nginx")
    nginx.add_site(port, cert_a, key_a, server_name="a.example")
    nginx.add_site(port, cert_b, key_b, server_name="b.example")
    nginx.add_site(expired_port, cert_x, key_x)
    nginx.start()
    try:
        yield SniSite(port, expired_port, fp_a, fp_b, fp_x)
    finally:
        nginx.stop()


def test_probe_match(sni_site):
    result = probe(EndpointSpec("127.0.0.1", sni_site.port, "a.example"), sni_site.fp_a, 5)
    assert result.outcome is ProbeOutcome.MATCH, result.reason
    assert result.served_fingerprint == sni_site.fp_a
    assert result.served_subject == "CN=a.example"
    assert result.served_not_after > now()
    assert 0 <= result.latency_ms < 5000


def test_probe_mismatch_names_what_is_served(sni_site):
    result = probe(EndpointSpec("127.0.0.1", sni_site.port, "a.example"), sni_site.fp_b, 5)
    assert result.outcome is ProbeOutcome.MISMATCH
    assert result.served_fingerprint == sni_site.fp_a
    assert "a.example" in result.reason


def test_probe_sni_selects_the_certificate_and_bare_ip_gets_the_default(sni_site):
    by_sni = {
        sni: probe(EndpointSpec("127.0.0.1", sni_site.port, sni), sni_site.fp_a, 5)
        for sni in ("a.example", "b.example", None)
    }
    assert by_sni["a.example"].served_fingerprint == sni_site.fp_a
    assert by_sni["b.example"].served_fingerprint == sni_site.fp_b
    assert by_sni["b.example"].outcome is ProbeOutcome.MISMATCH
    assert by_sni[None].served_fingerprint == sni_site.fp_a  # the default_server
    assert by_sni[None].outcome is ProbeOutcome.MATCH
    b = probe(EndpointSpec("127.0.0.1", sni_site.port, "b.example"), sni_site.fp_b, 5)
    assert b.outcome is ProbeOutcome.MATCH and b.served_subject == "CN=b.example"


def test_probe_expired_certificate_still_compares(sni_site):
    result = probe(EndpointSpec("127.0.0.1", sni_site.expired_port), sni_site.fp_expired, 5)
    assert result.outcome is ProbeOutcome.MATCH, result.reason
    assert result.served_not_after is not None and result.served_not_after < now()


def test_probe_silent_port_times_out_within_the_bound():
    with SilentServer() as silent:
        start = time.monotonic()
        result = probe(EndpointSpec("127.0.0.1", silent.port), "0" * 64, timeout=1)
        took = time.monotonic() - start
    assert result.outcome is ProbeOutcome.TIMEOUT, result.reason
    assert "no TLS handshake" in result.reason
    assert 0.9 <= took < 2.0
    assert result.served_fingerprint is None


def test_probe_reset_right_after_connect_is_reset():
    server = ResetServer()
    try:  # a few probes: whether the RST beats the connect's completion is a race
        results = [probe(EndpointSpec("127.0.0.1", server.port), "0" * 64, 2) for _ in range(5)]
    finally:
        server.close()
    seen = {(r.outcome.value, r.reason) for r in results}
    assert {r.outcome for r in results} == {ProbeOutcome.RESET}, seen


def test_probe_reset_during_handshake_is_reset():
    server = ResetServer(after_hello=True)
    try:
        result = probe(EndpointSpec("127.0.0.1", server.port), "0" * 64, timeout=2)
    finally:
        server.close()
    assert result.outcome is ProbeOutcome.RESET, (result.outcome, result.reason)
    assert result.served_fingerprint is None


def test_probe_plain_http_is_not_tls():
    with plain_http_server() as port:
        result = probe(EndpointSpec("127.0.0.1", port), "0" * 64, timeout=2)
    assert result.outcome is ProbeOutcome.NOT_TLS, (result.outcome, result.reason)
    assert "not with TLS" in result.reason


def test_probe_closed_port_is_refused():
    result = probe(EndpointSpec("127.0.0.1", free_port()), "0" * 64, timeout=2)
    assert result.outcome is ProbeOutcome.REFUSED, result.reason


def test_probe_unknown_name_is_dns_error():
    result = probe(EndpointSpec("no-such-host.invalid", 443), "0" * 64, timeout=3)
    assert result.outcome is ProbeOutcome.DNS_ERROR, result.reason
    assert "no-such-host.invalid" in result.reason


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_probe_ipv6_loopback(tmp_path):
    cert, key, fp = make_cert_files(tmp_path / "tls", "v6.example", sans=["v6.example", "::1"])
    port = free_port("::1")
    nginx = PrivateNginx(tmp_path / "nginx")
    nginx.add_site(port, cert, key, host="::1")
    nginx.start()
    try:
        plain = probe(EndpointSpec("::1", port), fp, 5)
        named = probe(EndpointSpec("::1", port, "v6.example"), fp, 5)
    finally:
        nginx.stop()
    assert plain.outcome is ProbeOutcome.MATCH, plain.reason
    assert named.outcome is ProbeOutcome.MATCH, named.reason


# --------------------------------------------------------------------- sweep-level tests


@dataclass
class Device:
    settings: object
    nginx: PrivateNginx
    port: int
    tls: Path
    old: str  # what nginx serves at the start
    new: str  # in the inventory, bound to the connector


def make_device(sqlite_settings, tmp_path, *, reload_command=None, extra_endpoints=()) -> Device:
    """nginx serving certificate A from tls/site.*; a local connector bound to certificate B."""
    vault = load_vault(sqlite_settings)
    tls = tmp_path / "device" / "tls"
    cert_a, key_a, fp_a = make_cert_files(tls, "device.example", stem="site")
    cert_b, key_b, fp_b = make_cert_files(tmp_path / "new", "device.example", stem="renewed")
    port = free_port()
    nginx = PrivateNginx(tmp_path / "nginx")
    nginx.add_site(port, cert_a, key_a)
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [cert_b, key_b], now=now(), actor="t")
        add_connector(
            db,
            vault,
            name="web-local",
            type_name="local",
            settings={
                "profile": nginx_profile(
                    nginx, "test-nginx-verify", reload=[reload_command] if reload_command else None
                ),
                "cert_path": str(tls / "site.crt"),
                "key_path": str(tls / "site.key"),
                "command_timeout": 20,
            },
            endpoints=[{"host": "127.0.0.1", "port": port}, *extra_endpoints],
            actor="t",
            role="admin",
            now=now(),
        )
        bind(db, "web-local", fp_b, actor="t", now=now())
    nginx.start()
    return Device(sqlite_settings, nginx, port, tls, fp_a, fp_b)


@pytest.fixture
def device(sqlite_settings, tmp_path) -> Iterator[Device]:
    dev = make_device(sqlite_settings, tmp_path)
    try:
        yield dev
    finally:
        dev.nginx.stop()


def approved_work_order(settings, fingerprint: str) -> int:
    with session_scope(settings.database_url) as db:
        _, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renewal")
        result = act(db, wo.id, Action.APPROVE, actor=RAVI, now=now(), comment="ok")
        assert result.ok, result.message
    return wo.id


def push_with_work_order(dev: Device, *, reloads: bool = True) -> int:
    """Push certificate B under an approved work order; wait until nginx applied it.

    Until the old workers have exited, a handshake may still reach one of them and see the
    old certificate, so "one handshake saw B" is not enough before a deciding sweep.
    """
    wo_id = approved_work_order(dev.settings, dev.new)
    vault = load_vault(dev.settings)
    workers = dev.nginx.worker_pids()
    report = push_certificate(
        dev.settings.database_url, vault, dev.new, "web-local", actor="t", work_order_id=wo_id
    )
    assert report.outcome.value == "installed", report.reason
    if reloads:
        dev.nginx.wait_for_reload(workers)
        wait_for_fingerprint("127.0.0.1", dev.port, dev.new)
    return wo_id


def verification(settings, wo_id: int) -> str | None:
    with session_scope(settings.database_url) as db:
        return db.scalar(sql_select(WorkOrder.verification).where(WorkOrder.id == wo_id))


def colour(settings, fingerprint: str) -> Status:
    with session_scope(settings.database_url) as db:
        return certificate_detail(db, fingerprint, now()).row.status


def cert_flags(settings, fingerprint: str) -> tuple[bool, bool]:
    with session_scope(settings.database_url) as db:
        cert = db.scalar(
            sql_select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint)
        )
        return cert.push_failed, cert.drift


def result_rows(settings, sweep_id: int) -> int:
    with session_scope(settings.database_url) as db:
        return db.scalar(
            sql_select(func.count())
            .select_from(VerificationResult)
            .where(VerificationResult.sweep_id == sweep_id)
        )


def test_no_pushed_certificate_means_nothing_to_sweep(device):
    report = run_sweep(device.settings.database_url, timeout=2, settle_seconds=0)
    assert report.endpoints == [] and report.summary == {}


def test_push_then_sweep_marks_the_work_order_verified(device):
    wo_id = push_with_work_order(device)
    assert verification(device.settings, wo_id) is None  # not judged before a sweep

    report = run_sweep(device.settings.database_url, timeout=3, settle_seconds=0)
    [endpoint] = report.endpoints
    assert endpoint["outcome"] == "match", endpoint["reason"]
    assert endpoint["host"] == "127.0.0.1" and endpoint["port"] == device.port
    assert endpoint["expected_fingerprint"] == endpoint["served_fingerprint"] == device.new
    assert endpoint["drift"] is False
    assert report.summary == {"match": 1}
    assert verification(device.settings, wo_id) == "verified"
    assert cert_flags(device.settings, device.new) == (False, False)
    assert colour(device.settings, device.new) not in (Status.GRAY, Status.MID_PURPLE)
    assert result_rows(device.settings, report.sweep_id) == 1

    again = run_sweep(device.settings.database_url, timeout=3, settle_seconds=0)
    assert again.summary == {"match": 1}
    assert verification(device.settings, wo_id) == "verified"


def test_device_that_kept_the_old_certificate_fails_verification(sqlite_settings, tmp_path):
    dev = make_device(sqlite_settings, tmp_path, reload_command="true")  # never reloads
    try:
        wo_id = push_with_work_order(dev, reloads=False)
        assert (dev.tls / "site.crt").exists()  # the files changed, the live cert did not
        report = run_sweep(sqlite_settings.database_url, timeout=3, settle_seconds=0)
    finally:
        dev.nginx.stop()
    [endpoint] = report.endpoints
    assert endpoint["outcome"] == "mismatch"
    assert endpoint["served_fingerprint"] == dev.old
    assert endpoint["expected_fingerprint"] == dev.new
    assert endpoint["drift"] is False  # it never served ours: a failed push, not drift
    assert verification(sqlite_settings, wo_id) == "failed"
    assert cert_flags(sqlite_settings, dev.new) == (True, False)
    assert colour(sqlite_settings, dev.new) is Status.GRAY


def test_certificate_replaced_behind_our_back_is_drift(device, tmp_path):
    wo_id = push_with_work_order(device)
    first = run_sweep(device.settings.database_url, timeout=3, settle_seconds=0)
    assert first.summary == {"match": 1}
    assert verification(device.settings, wo_id) == "verified"

    # Someone installs another certificate on the device, outside certpush, and reloads.
    _, _, fp_c = make_cert_files(device.tls, "intruder.example", stem="site")
    device.nginx.reload()
    wait_for_fingerprint("127.0.0.1", device.port, fp_c)

    report = run_sweep(device.settings.database_url, timeout=3, settle_seconds=0)
    [endpoint] = report.endpoints
    assert endpoint["outcome"] == "mismatch"
    assert endpoint["drift"] is True
    assert endpoint["served_fingerprint"] == fp_c
    assert endpoint["expected_fingerprint"] == device.new
    assert verification(device.settings, wo_id) == "verified"  # the push itself was fine
    assert cert_flags(device.settings, device.new) == (False, True)
    assert colour(device.settings, device.new) is Status.MID_PURPLE
    with session_scope(device.settings.database_url) as db:
        row = db.scalar(
            sql_select(VerificationResult).where(VerificationResult.sweep_id == report.sweep_id)
        )
        assert row.drift and row.served_fingerprint == fp_c
        assert row.served_subject == "CN=intruder.example"


def test_sweep_with_a_hung_endpoint_finishes_in_about_one_timeout(sqlite_settings, tmp_path):
    silent = SilentServer()
    dev = None
    try:
        dev = make_device(
            sqlite_settings,
            tmp_path,
            extra_endpoints=[{"host": "127.0.0.1", "port": silent.port}],
        )
        wo_id = push_with_work_order(dev)
        start = time.monotonic()
        report = run_sweep(sqlite_settings.database_url, timeout=1, settle_seconds=0)
        took = time.monotonic() - start
        again = run_sweep(sqlite_settings.database_url, timeout=1, settle_seconds=0)
    finally:
        if dev is not None:
            dev.nginx.stop()
        silent.close()
    assert took < 2.5, f"the sweep took {took:.1f} s"
    by_port = {e["port"]: e for e in report.endpoints}
    assert by_port[dev.port]["outcome"] == "match"
    assert by_port[silent.port]["outcome"] == "timeout"
    assert report.summary == {"match": 1, "timeout": 1}
    assert result_rows(sqlite_settings, report.sweep_id) == 2
    assert verification(sqlite_settings, wo_id) == "failed"  # not every endpoint matched
    # the next sweep probes the endpoint that timed out first, so its timeout overlaps
    assert again.endpoints[0]["port"] == silent.port


# ------------------------------------------------------------------------------- the CLI


def test_cli_verify_json(device):
    push_with_work_order(device)
    s = device.settings
    env = {
        **os.environ,
        "DATABASE_URL": s.database_url,
        "CERTPUSH_MASTER_KEY": s.master_key,
        "CERTPUSH_INSTANCE": str(s.instance_dir),
    }
    help_text = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    ).stdout
    if " verify " not in help_text and "│ verify" not in help_text:
        pytest.skip("the CLI has no 'verify' command yet")
    result = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "verify", "--json", "--timeout", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"endpoints", "summary"}
    [endpoint] = data["endpoints"]
    assert endpoint["outcome"] == "match" and endpoint["served_fingerprint"] == device.new
    assert endpoint["port"] == device.port and endpoint["drift"] is False
    assert data["summary"] == {"match": 1}


def test_chain_validation_is_recorded(tmp_path):
    """A self-signed test certificate does not chain to the system's roots: recorded False."""
    from jobs.probe import chain_validates

    cert, _key, _fingerprint = make_cert_files(tmp_path, "chain.example")
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    assert chain_validates([der], EndpointSpec("127.0.0.1", 443, "chain.example")) is False
    assert chain_validates([], EndpointSpec("127.0.0.1", 443)) is None


def _signed(subject: str, issuer_key, issuer_name: str | None, *, ca: bool, san: str | None):
    """A certificate for ``subject`` signed by ``issuer_key`` (self-signed without a name)."""
    from datetime import timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer = (
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]) if issuer_name else name
    )
    start = now() - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer_key is not None:  # the web PKI profile wants AKI on everything below a root
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return cert, key


def test_chain_validation_accepts_a_chain_to_a_trusted_root():
    """Root -> intermediate -> leaf validates for the leaf's name; not for another name,
    and not without the intermediate; a root the store lacks is refused."""
    from jobs.probe import TrustAnchors, chain_validates

    def der(cert):
        return cert.public_bytes(serialization.Encoding.DER)

    root, root_key = _signed("Test Root", None, None, ca=True, san=None)
    inter, inter_key = _signed("Test Intermediate", root_key, "Test Root", ca=True, san=None)
    leaf, _ = _signed(
        "www.chain.test", inter_key, "Test Intermediate", ca=False, san="www.chain.test"
    )
    anchors = TrustAnchors.of([root])
    good = EndpointSpec("127.0.0.1", 443, "www.chain.test")
    assert chain_validates([der(leaf), der(inter)], good, anchors) is True
    assert (
        chain_validates(
            [der(leaf), der(inter)], EndpointSpec("127.0.0.1", 443, "other.test"), anchors
        )
        is False
    )
    assert chain_validates([der(leaf)], good, anchors) is False  # intermediate not served
    other_root, _ = _signed("Other Root", None, None, ca=True, san=None)
    assert chain_validates([der(leaf), der(inter)], good, TrustAnchors.of([other_root])) is False


def test_sharded_probes_give_the_same_outcomes_as_one_process(sni_site):
    """Worker processes (forkserver) return every endpoint's honest outcome, and progress
    reaches the total."""
    from jobs.probe_shards import probe_sharded

    with SilentServer() as silent:
        requests = [
            ("a", EndpointSpec("127.0.0.1", sni_site.port, "a.example"), sni_site.fp_a),
            ("b", EndpointSpec("127.0.0.1", sni_site.port, "b.example"), sni_site.fp_a),
            ("silent", EndpointSpec("127.0.0.1", silent.port), "0" * 64),
            ("closed", EndpointSpec("127.0.0.1", free_port()), "0" * 64),
            ("expired", EndpointSpec("127.0.0.1", sni_site.expired_port), sni_site.fp_expired),
        ]
        seen: list[tuple[int, int]] = []
        workers: list[dict] = []
        start = time.monotonic()
        results = probe_sharded(
            requests,
            concurrency=8,
            timeout=1,
            bound=10,
            processes=2,
            min_per_worker=1,
            on_progress=lambda done, total: seen.append((done, total)),
            usage=workers,
            chunk=1,  # one endpoint per hand-out: the worker gets some of them
        )
        took = time.monotonic() - start
    outcomes = {key: r.outcome.value for key, r in results.items()}
    assert outcomes == {
        "a": "match",
        "b": "mismatch",
        "silent": "timeout",
        "closed": "refused",
        "expired": "match",
    }
    assert results["b"].served_fingerprint == sni_site.fp_b
    assert seen[-1] == (5, 5)
    assert len(workers) == 1 and workers[0]["cpu"] > 0  # a worker process took part
    assert took < 5  # the silent port costs its own timeout, not the run
