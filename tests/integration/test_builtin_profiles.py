"""The built-in device profiles push to real nginx, apache2 and haproxy over SSH.

Each server runs privately on 127.0.0.1 and is reached through the private sshd. The
built-in profiles run bare program names (``nginx -t``, ``apache2ctl graceful``,
``systemctl reload haproxy``), resolved by the device's PATH: the sshd puts a folder of
small scripts first on every session's PATH, which reach this test's private server the
way the real programs reach the system's. The administrator's profiles file only points
each built-in at the test's folders. A TLS handshake proves the new certificate is live.
"""

from __future__ import annotations

import shlex
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.importer import import_paths
from jobs.push import push_certificate
from tests.profiles import adapt_builtin, forget
from tests.servers import (
    PrivateApache,
    PrivateHaproxy,
    PrivateNginx,
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
    tls_fingerprint,
    wait_for_fingerprint,
    write_wrappers,
)

pytestmark = pytest.mark.skipif(
    not (shutil.which("apache2", path="/usr/sbin") and shutil.which("haproxy", path="/usr/sbin")),
    reason="apache2 and haproxy are installed by .ci/setup",
)


def _script(folder: Path, name: str, argv: list[str]) -> None:
    """A device command that ignores its arguments (the built-in's fixed ones name the
    system's config file, which on this device is the private server's)."""
    path = folder / name
    path.write_text(f"#!/bin/sh\nexec {shlex.join(argv)}\n")
    path.chmod(0o755)


def _push(settings, tmp_path, sshd, key_path, profile, files, port, new) -> str:
    cert, key, fingerprint = new
    vault = load_vault(settings)
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [cert, key], now=now, actor="t")
        add_connector(db, vault, name=f"dev-{profile}", type_name="ssh", actor="t", now=now,
                      settings={"profile": profile, "host": "127.0.0.1", "port": sshd.port,
                                "username": sshd.username,
                                "host_key_fingerprint": sshd.host_key_fingerprint,
                                "command_timeout": 20, **files},
                      endpoints=[{"host": "127.0.0.1", "port": port}],
                      secret=key_path.read_bytes(), secret_kind="private_key")  # fmt: skip
        bind(db, f"dev-{profile}", fingerprint, actor="t", now=now)
    report = push_certificate(settings.database_url, vault, fingerprint, f"dev-{profile}",
                              actor="t")  # fmt: skip
    assert report.outcome.value == "installed", report.reason
    return fingerprint


@pytest.fixture
def device_bin(tmp_path):
    folder = tmp_path / "device-bin"
    folder.mkdir()
    return folder


@pytest.fixture
def sshd(tmp_path, device_bin):
    key_path, public = make_client_key(tmp_path / "client")
    server = PrivateSshd(tmp_path / "sshd", path_prefix=device_bin)
    server.authorize(public)
    server.start()
    server.key_path = key_path
    yield server
    server.stop()


@pytest.mark.parametrize("kind", ["nginx", "apache2", "haproxy"])
def test_builtin_profile_pushes_to_the_real_server(kind, sqlite_settings, tmp_path, sshd,
                                                   device_bin):  # fmt: skip
    old = make_cert_files(tmp_path / "old", f"{kind}.example", stem="old")
    new = make_cert_files(tmp_path / "new", f"{kind}.example", stem="new")
    if kind == "nginx":
        server = PrivateNginx(tmp_path / "nginx")
        port = free_port()
        live = tmp_path / "nginx-tls"
        live.mkdir()
        shutil.copyfile(old[0], live / "site.crt")
        shutil.copyfile(old[1], live / "site.key")
        server.add_site(port, live / "site.crt", live / "site.key")
        write_wrappers(device_bin, {"nginx": server.command()})
        files = {"cert_path": str(live / "site.crt"), "key_path": str(live / "site.key")}
        folder = live
    elif kind == "apache2":
        server = PrivateApache(tmp_path / "apache")
        server.install_cert(old[0], old[1])
        port = server.port
        write_wrappers(device_bin, {"apache2ctl": server.ctl_command()})
        files = {"cert_path": str(server.cert_path), "key_path": str(server.key_path)}
        folder = server.cert_dir
    else:
        server = PrivateHaproxy(tmp_path / "haproxy")
        server.install_cert(old[0], old[1])
        port = server.port
        _script(device_bin, "haproxy", [*server.command(), "-c"])
        files = {"cert_path": str(server.pem_path)}
        folder = server.cert_dir
    server.start()
    try:
        if kind == "haproxy":
            _script(device_bin, "systemctl", server.reload_argv)
        assert tls_fingerprint("127.0.0.1", port) == old[2]
        adapt_builtin(kind, [str(folder)])
        fingerprint = _push(sqlite_settings, tmp_path, sshd, sshd.key_path, kind, files, port,
                            new)  # fmt: skip
        wait_for_fingerprint("127.0.0.1", port, fingerprint, timeout=15)
    finally:
        forget(kind)
        server.stop()
