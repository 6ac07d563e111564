"""Pushing to real devices: a private nginx, reached over a private OpenSSH or locally.

Every failure path must leave nginx serving its previous certificate, proven by a
TLS handshake, and record a typed reason.
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from data.connectors import add_connector, bind, bound_connectors
from data.crypto import load_vault
from data.db import session_scope
from data.domain.nodes import ConnectorState
from data.importer import import_paths
from data.models import Certificate, PushAttempt
from jobs.connectors.base import FailureClass, InstallOutcome
from jobs.push import PushRefused, push_certificate
from tests import profiles
from tests.servers import (
    PrivateNginx,
    PrivateSshd,
    SilentServer,
    free_port,
    make_cert_files,
    make_client_key,
    tls_fingerprint,
    wait_for_fingerprint,
)

NOW = lambda: datetime.now(UTC)  # noqa: E731


@dataclass
class Device:
    nginx: PrivateNginx
    port: int
    tls: Path
    old_fingerprint: str
    new_fingerprint: str


@pytest.fixture
def device(tmp_path, sqlite_settings):
    """nginx serving certificate A from tls/site.crt; certificate B (+key) in the inventory."""
    tls = tmp_path / "device" / "tls"
    cert_a, key_a, fp_a = make_cert_files(tls, "device.example", stem="site")
    staging = tmp_path / "new"
    cert_b, key_b, fp_b = make_cert_files(staging, "device.example", stem="renewed")
    vault = load_vault(sqlite_settings)
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [cert_b, key_b], now=NOW(), actor="test")
    port = free_port()
    nginx = PrivateNginx(tmp_path / "nginx")
    nginx.add_site(port, cert_a, key_a)
    nginx.start()
    try:
        assert tls_fingerprint("127.0.0.1", port) == fp_a
        yield Device(nginx, port, tls, fp_a, fp_b)
    finally:
        nginx.stop()


@pytest.fixture
def sshd(tmp_path):
    server = PrivateSshd(tmp_path / "sshd")
    key_path, public = make_client_key(tmp_path / "client")
    server.authorize(public)
    server.start()
    server.client_key = key_path.read_bytes()
    try:
        yield server
    finally:
        server.stop()


def file_settings(device: Device, reload: list[str] | None = None, **overrides) -> dict:
    name = "test-nginx-bad-reload" if reload else "test-nginx"
    settings = {
        "profile": profiles.nginx_profile(device.nginx, name, reload=reload),
        "cert_path": str(device.tls / "site.crt"),
        "key_path": str(device.tls / "site.key"),
        "command_timeout": 20,
    }
    settings.update(overrides)
    return settings


def ssh_settings(
    device: Device, sshd: PrivateSshd, reload: list[str] | None = None, **overrides
) -> dict:
    settings = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.username,
        "host_key_fingerprint": sshd.host_key_fingerprint,
        "connect_timeout": 3,
        **file_settings(device, reload),
    }
    settings.update(overrides)
    return settings


def make_connector(settings_obj, device, name, type_name, settings, secret=None, kind=None):
    vault = load_vault(settings_obj)
    with session_scope(settings_obj.database_url) as db:
        add_connector(
            db,
            vault,
            name=name,
            type_name=type_name,
            settings=settings,
            endpoints=[{"host": "127.0.0.1", "port": device.port}],
            secret=secret,
            secret_kind=kind,
            actor="test",
            role="admin",
            now=NOW(),
        )
        bind(db, name, device.new_fingerprint, actor="test", now=NOW())


def push(settings_obj, device, name):
    vault = load_vault(settings_obj)
    return push_certificate(
        settings_obj.database_url, vault, device.new_fingerprint, name, actor="test"
    )


def assert_still_old(device: Device) -> None:
    assert tls_fingerprint("127.0.0.1", device.port) == device.old_fingerprint
    with contextlib.suppress(FileNotFoundError):
        assert not list(device.tls.glob("*.certpush-new"))


def test_ssh_push_installs_and_is_idempotent(sqlite_settings, device, sshd):
    make_connector(
        sqlite_settings,
        device,
        "web-ssh",
        "ssh",
        ssh_settings(device, sshd),
        sshd.client_key,
        "private_key",
    )
    report = push(sqlite_settings, device, "web-ssh")
    assert report.outcome is InstallOutcome.INSTALLED, report.reason
    wait_for_fingerprint("127.0.0.1", device.port, device.new_fingerprint)
    assert (device.tls / "site.key").stat().st_mode & 0o777 == 0o600
    assert (device.tls / "site.crt.certpush-prev").exists()  # kept for a manual rollback

    again = push(sqlite_settings, device, "web-ssh")
    assert again.outcome is InstallOutcome.ALREADY_INSTALLED
    with session_scope(sqlite_settings.database_url) as db:
        outcomes = db.scalars(select(PushAttempt.outcome).order_by(PushAttempt.id)).all()
        cert = db.scalar(
            select(Certificate).where(Certificate.fingerprint_sha256 == device.new_fingerprint)
        )
        [view] = bound_connectors(db, cert.id)
    assert outcomes == ["installed", "already_installed"]
    assert view.state is ConnectorState.INSTALLED and not cert.push_failed


def test_local_push_to_nginx(sqlite_settings, device):
    make_connector(sqlite_settings, device, "web-local", "local", file_settings(device))
    assert push(sqlite_settings, device, "web-local").outcome is InstallOutcome.INSTALLED
    wait_for_fingerprint("127.0.0.1", device.port, device.new_fingerprint)
    assert push(sqlite_settings, device, "web-local").outcome is InstallOutcome.ALREADY_INSTALLED


def _failed(sqlite_settings, device, name, failure: FailureClass):
    report = push(sqlite_settings, device, name)
    assert report.outcome is InstallOutcome.FAILED
    assert report.failure is failure, report.reason
    assert_still_old(device)
    with session_scope(sqlite_settings.database_url) as db:
        cert = db.scalar(
            select(Certificate).where(Certificate.fingerprint_sha256 == device.new_fingerprint)
        )
        assert cert.push_failed  # the certificate turns Gray
        attempt = db.scalar(select(PushAttempt).order_by(PushAttempt.id.desc()))
        assert attempt.reason_class == failure.value and attempt.reason == report.reason
    return report


def test_wrong_ssh_key(sqlite_settings, device, sshd, tmp_path):
    stranger, _ = make_client_key(tmp_path / "stranger")
    settings = ssh_settings(device, sshd)
    make_connector(
        sqlite_settings, device, "wrong-key", "ssh", settings, stranger.read_bytes(), "private_key"
    )
    report = _failed(sqlite_settings, device, "wrong-key", FailureClass.AUTH)
    assert "authentication" in report.reason


def test_changed_host_key_is_refused(sqlite_settings, device, sshd):
    settings = ssh_settings(device, sshd, host_key_fingerprint="SHA256:" + "A" * 43)
    make_connector(
        sqlite_settings, device, "changed", "ssh", settings, sshd.client_key, "private_key"
    )
    report = _failed(sqlite_settings, device, "changed", FailureClass.HOST_KEY)
    assert "host key changed" in report.reason and sshd.host_key_fingerprint in report.reason


def test_unknown_host_key_is_refused_and_shown(sqlite_settings, device, sshd):
    settings = ssh_settings(device, sshd)
    del settings["host_key_fingerprint"]
    make_connector(
        sqlite_settings, device, "unknown", "ssh", settings, sshd.client_key, "private_key"
    )
    report = _failed(sqlite_settings, device, "unknown", FailureClass.HOST_KEY)
    assert "unknown host key" in report.reason and sshd.host_key_fingerprint in report.reason


def test_unreachable_port(sqlite_settings, device, sshd):
    settings = ssh_settings(device, sshd, port=free_port())
    make_connector(
        sqlite_settings, device, "closed", "ssh", settings, sshd.client_key, "private_key"
    )
    report = _failed(sqlite_settings, device, "closed", FailureClass.UNREACHABLE)
    assert "refused the connection" in report.reason


def test_host_that_never_speaks_ssh_times_out(sqlite_settings, device, sshd):
    with SilentServer() as silent:
        settings = ssh_settings(device, sshd, port=silent.port, connect_timeout=1)
        make_connector(
            sqlite_settings, device, "silent", "ssh", settings, sshd.client_key, "private_key"
        )
        report = _failed(sqlite_settings, device, "silent", FailureClass.TIMEOUT)
    assert report.duration_ms < 5000
    assert "did not speak SSH" in report.reason


def test_failing_reload_restores_and_reloads(sqlite_settings, device, sshd):
    settings = ssh_settings(device, sshd, reload=["sh", "-c", "echo reload refused >&2; exit 3"])
    make_connector(
        sqlite_settings, device, "bad-reload", "ssh", settings, sshd.client_key, "private_key"
    )
    old_bytes = (device.tls / "site.crt").read_bytes()
    report = _failed(sqlite_settings, device, "bad-reload", FailureClass.RELOAD_FAILED)
    assert "previous files restored" in report.reason and "reload refused" in report.reason
    assert (device.tls / "site.crt").read_bytes() == old_bytes


def test_failing_nginx_config_test_restores(sqlite_settings, device, sshd, tmp_path):
    """A second site shares the certificate file with its own key: after the new certificate
    lands, 'nginx -t' really fails (key mismatch) and the old files come back."""
    other_port = free_port()
    device.nginx.add_site(other_port, device.tls / "site.crt", device.tls / "shared-a.key")
    (device.tls / "shared-a.key").write_bytes((device.tls / "site.key").read_bytes())
    device.nginx.reload()
    settings = ssh_settings(device, sshd, key_path=str(tmp_path / "elsewhere.key"))
    (tmp_path / "elsewhere.key").touch()
    make_connector(
        sqlite_settings, device, "bad-config", "ssh", settings, sshd.client_key, "private_key"
    )
    report = _failed(sqlite_settings, device, "bad-config", FailureClass.CONFIG_TEST_FAILED)
    assert "config test failed" in report.reason
    device.nginx.run_test()  # the restored files pass the config test again


def test_target_folder_without_write_permission(sqlite_settings, device, sshd):
    settings = ssh_settings(device, sshd)
    make_connector(
        sqlite_settings, device, "read-only", "ssh", settings, sshd.client_key, "private_key"
    )
    subprocess.run(["chattr", "+i", str(device.tls)], check=True)  # even root cannot write
    try:
        report = _failed(sqlite_settings, device, "read-only", FailureClass.PERMISSION)
    finally:
        subprocess.run(["chattr", "-i", str(device.tls)], check=True)
    assert "permission denied" in report.reason


def test_revoked_expired_and_keyless_certificates_are_refused(sqlite_settings, device, tmp_path):
    make_connector(sqlite_settings, device, "web-local", "local", file_settings(device))
    with session_scope(sqlite_settings.database_url) as db:
        cert = db.scalar(
            select(Certificate).where(Certificate.fingerprint_sha256 == device.new_fingerprint)
        )
        cert.revoked_at = NOW()
        cert.revocation_reason = "keyCompromise"
    with pytest.raises(PushRefused, match="revoked"):
        push(sqlite_settings, device, "web-local")
    expired_cert, expired_key, fp = make_cert_files(tmp_path / "old", "old.example", days=-2)
    lonely, _, lonely_fp = make_cert_files(tmp_path / "nokey", "nokey.example")
    vault = load_vault(sqlite_settings)
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [expired_cert, expired_key, lonely], now=NOW(), actor="t")
        bind(db, "web-local", fp, actor="t", now=NOW())
        bind(db, "web-local", lonely_fp, actor="t", now=NOW())
    for fingerprint, message in ((fp, "expired"), (lonely_fp, "no private key")):
        with pytest.raises(PushRefused, match=message):
            push_certificate(sqlite_settings.database_url, vault, fingerprint, "web-local",
                             actor="t")  # fmt: skip
    assert_still_old(device)
