"""The real-server helpers in tests/servers.py do what push tests rely on.

Connector tests trust these helpers to say which certificate nginx, apache2 and haproxy
really serve, that a reload really happened (or really failed), that sshd pins, serves SFTP
and runs a device's bare commands through the wrappers on its PATH, and that a silent port
really times out. Each of those is checked here against the real programs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.servers import (
    APACHE2,
    HAPROXY,
    NGINX,
    SSHD,
    PrivateApache,
    PrivateHaproxy,
    PrivateNginx,
    PrivateSshd,
    ServerError,
    SilentServer,
    combined_pem,
    free_port,
    ipv6_loopback_available,
    make_cert_files,
    make_client_key,
    openssh_fingerprint,
    tls_fingerprint,
    wait_for_fingerprint,
    write_wrappers,
)

needs_nginx = pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason=f"{NGINX} not installed")
needs_sshd = pytest.mark.skipif(not os.access(SSHD, os.X_OK), reason=f"{SSHD} not installed")
needs_apache = pytest.mark.skipif(
    not os.access(APACHE2, os.X_OK), reason=f"{APACHE2} not installed"
)
needs_haproxy = pytest.mark.skipif(
    not os.access(HAPROXY, os.X_OK), reason=f"{HAPROXY} not installed"
)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[PrivateNginx]:
    server = PrivateNginx(tmp_path / "nginx")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[PrivateSshd]:
    server = PrivateSshd(tmp_path / "sshd")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def apache(tmp_path: Path) -> Iterator[PrivateApache]:
    server = PrivateApache(tmp_path / "apache")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[PrivateHaproxy]:
    server = PrivateHaproxy(tmp_path / "haproxy")
    try:
        yield server
    finally:
        server.stop()


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """A device's command: an argument list, no shell."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _served_chain_length(port: int) -> int:
    """How many certificates ``127.0.0.1:port`` sends in its handshake."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"],
        input="",
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout
    return out.count("-----BEGIN CERTIFICATE-----")


def _replace(target_cert: Path, target_key: Path, cert: Path, key: Path) -> None:
    """Overwrite the served files in place, as a filesystem push does."""
    shutil.copyfile(cert, target_cert)
    shutil.copyfile(key, target_key)


@needs_nginx
def test_nginx_serves_a_cert_and_reload_switches_to_the_new_one(
    nginx: PrivateNginx, tmp_path: Path
) -> None:
    port = free_port()
    cert, key, fp_a = make_cert_files(tmp_path / "live", "a.test")
    _, _, fp_a_again = make_cert_files(tmp_path / "live", "a.test")  # never overwrites A
    assert fp_a_again != fp_a and cert.read_bytes()
    nginx.add_site(port, cert, key)
    nginx.start()
    assert tls_fingerprint("127.0.0.1", port) == fp_a

    cert_b, key_b, fp_b = make_cert_files(tmp_path / "new", "a.test")
    _replace(cert, key, cert_b, key_b)
    nginx.reload()
    assert tls_fingerprint("127.0.0.1", port) == fp_b

    # The connector's route: its own shell commands, then wait for the reload to land.
    cert_c, key_c, fp_c = make_cert_files(tmp_path / "new", "a.test")
    _replace(cert, key, cert_c, key_c)
    before, offset = nginx.worker_pids(), nginx.log_offset()
    subprocess.run(nginx.test_command, shell=True, check=True, capture_output=True)
    subprocess.run(nginx.reload_command, shell=True, check=True, capture_output=True)
    nginx.wait_for_reload(before, offset)
    assert tls_fingerprint("127.0.0.1", port) == fp_c
    wait_for_fingerprint("127.0.0.1", port, fp_c, timeout=1)


@needs_nginx
def test_a_refused_reload_is_reported_and_the_old_cert_stays_live(
    nginx: PrivateNginx, tmp_path: Path
) -> None:
    port = free_port()
    cert, key, fp_a = make_cert_files(tmp_path, "a.test")
    nginx.add_site(port, cert, key)
    nginx.start()

    # A key that does not match: "nginx -t" refuses it (so does "-s reload", which parses
    # the whole configuration before it signals).
    _, other_key, _ = make_cert_files(tmp_path, "other.test")
    shutil.copyfile(other_key, key)
    with pytest.raises(ServerError, match="nginx -t failed"):
        nginx.reload()
    assert subprocess.run(nginx.reload_command, shell=True, capture_output=True).returncode == 1

    # A bare signal (as "kill -HUP", or when files change between check and signal) exits
    # 0; only the master notices, logs [emerg] and keeps the old configuration.
    before, offset = nginx.worker_pids(), nginx.log_offset()
    subprocess.run(f"kill -HUP $(cat {nginx.pid_path})", shell=True, check=True)
    with pytest.raises(ServerError, match="refused the reload"):
        nginx.wait_for_reload(before, offset, timeout=5)
    assert nginx.worker_pids() == before
    assert tls_fingerprint("127.0.0.1", port) == fp_a


@needs_nginx
def test_sni_picks_the_cert_and_the_first_site_is_the_default(
    nginx: PrivateNginx, tmp_path: Path
) -> None:
    port = free_port()
    cert_a, key_a, fp_a = make_cert_files(tmp_path, "a.test")
    cert_b, key_b, fp_b = make_cert_files(tmp_path, "b.test")
    nginx.add_site(port, cert_a, key_a, server_name="a.test")
    nginx.add_site(port, cert_b, key_b, server_name="b.test")
    with nginx:
        assert tls_fingerprint("127.0.0.1", port, sni="a.test") == fp_a
        assert tls_fingerprint("127.0.0.1", port, sni="b.test") == fp_b
        assert tls_fingerprint("127.0.0.1", port) == fp_a  # no SNI: default_server
        assert tls_fingerprint("127.0.0.1", port, sni="unknown.test") == fp_a
    assert not nginx.running


@needs_nginx
@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 is not available")
def test_nginx_listens_on_ipv6_loopback(nginx: PrivateNginx, tmp_path: Path) -> None:
    port = free_port("::1")
    cert, key, fp = make_cert_files(tmp_path, "::1")
    nginx.add_site(port, cert, key, host="::1")
    nginx.start()
    assert tls_fingerprint("::1", port) == fp
    assert tls_fingerprint("[::1]", port) == fp


@needs_nginx
def test_stop_ends_master_and_workers(nginx: PrivateNginx, tmp_path: Path) -> None:
    port = free_port()
    cert, key, _ = make_cert_files(tmp_path, "a.test")
    nginx.add_site(port, cert, key)
    nginx.start()
    pids = {nginx.pid, *nginx.worker_pids()}
    nginx.stop()
    nginx.stop()  # idempotent
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids if pid)
    with pytest.raises(ConnectionRefusedError):
        tls_fingerprint("127.0.0.1", port, timeout=1)


@needs_nginx
def test_a_start_failure_says_why(nginx: PrivateNginx, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cert, key, _ = make_cert_files(tmp_path, "a.test")
        nginx.add_site(taken.getsockname()[1], cert, key)
        with pytest.raises(ServerError, match="Address already in use"):
            nginx.start()
    assert not nginx.running


@needs_sshd
def test_sshd_pins_its_host_key_and_serves_sftp(sshd: PrivateSshd, tmp_path: Path) -> None:
    key_path, public = make_client_key(tmp_path / "client")
    sshd.authorize(public)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line + "\n")

    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            sshd.host,
            port=sshd.port,
            username=sshd.username,
            pkey=paramiko.Ed25519Key.from_private_key_file(str(key_path)),
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
            banner_timeout=5,
            auth_timeout=5,
        )
        server_key = client.get_transport().get_remote_server_key()
        assert server_key.get_name() == sshd.host_key_type == "ssh-ed25519"
        assert openssh_fingerprint(server_key.asbytes()) == sshd.host_key_fingerprint
        assert sshd.host_key_fingerprint.startswith("SHA256:")

        source = tmp_path / "cert.pem"
        source.write_bytes(b"-----BEGIN CERTIFICATE-----\nabc\n" * 100)
        remote = tmp_path / "remote" / "cert.pem"
        remote.parent.mkdir()
        with client.open_sftp() as sftp:
            sftp.put(str(source), str(remote))
            sftp.get(str(remote), str(tmp_path / "back.pem"))
        assert remote.read_bytes() == source.read_bytes()
        assert (tmp_path / "back.pem").read_bytes() == source.read_bytes()
    finally:
        client.close()

    # A changed host key is refused by a pinned client.
    sshd.rotate_host_key()
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    try:
        with pytest.raises(paramiko.BadHostKeyException):
            client.connect(
                sshd.host,
                port=sshd.port,
                username=sshd.username,
                key_filename=str(key_path),
                look_for_keys=False,
                allow_agent=False,
                timeout=5,
            )
    finally:
        client.close()


@needs_sshd
def test_sshd_refuses_an_unknown_client_key(sshd: PrivateSshd, tmp_path: Path) -> None:
    key_path, _ = make_client_key(tmp_path / "client")
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(
                sshd.host,
                port=sshd.port,
                username=sshd.username,
                key_filename=str(key_path),
                look_for_keys=False,
                allow_agent=False,
                timeout=5,
            )
    finally:
        client.close()


def test_silent_server_makes_ssh_and_tls_time_out() -> None:
    with SilentServer() as silent:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        started = time.monotonic()
        try:
            with pytest.raises(paramiko.SSHException, match="banner"):
                client.connect(
                    silent.host,
                    port=silent.port,
                    username="root",
                    # timeout also bounds negotiation: at or below banner_timeout paramiko
                    # gives up quietly and later says only "No existing session".
                    timeout=5,
                    banner_timeout=1,
                    look_for_keys=False,
                    allow_agent=False,
                )
        finally:
            client.close()
        assert time.monotonic() - started < 2

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            tls_fingerprint(silent.host, silent.port, timeout=0.5)
        assert time.monotonic() - started < 1.5
        assert silent.accepted == 2
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(silent.address, timeout=1).close()


@needs_apache
def test_apache_serves_the_separate_files_and_a_graceful_restart_switches_cert(
    apache: PrivateApache, tmp_path: Path
) -> None:
    cert, key, fp_a = make_cert_files(tmp_path / "a", "a.test")
    chain, _, _ = make_cert_files(tmp_path / "a", "ca.test")
    apache.install_cert(cert, key, chain)
    apache.start()
    assert apache.cert_path.parent == apache.key_path.parent == apache.cert_dir
    assert tls_fingerprint("127.0.0.1", apache.port) == apache.fingerprint() == fp_a
    assert _served_chain_length(apache.port) == 2  # SSLCertificateChainFile is sent

    # A push replaces the files in place, tests the config and restarts gracefully.
    cert_b, key_b, fp_b = make_cert_files(tmp_path / "b", "a.test")
    _replace(apache.cert_path, apache.key_path, cert_b, key_b)
    before, offset = apache.worker_pids(), apache.log_offset()
    assert _run(apache.test_argv).returncode == 0
    assert _run(apache.reload_argv).returncode == 0
    apache.wait_for_reload(before, offset)
    wait_for_fingerprint("127.0.0.1", apache.port, fp_b, timeout=5)

    # Debian's apache2ctl reaches the same instance.
    cert_c, key_c, fp_c = make_cert_files(tmp_path / "c", "a.test")
    _replace(apache.cert_path, apache.key_path, cert_c, key_c)
    before, offset = apache.worker_pids(), apache.log_offset()
    configtest = _run(apache.ctl_command("configtest"))
    assert configtest.returncode == 0, configtest.stderr
    assert "Syntax OK" in configtest.stderr
    assert _run(apache.ctl_command("graceful")).returncode == 0
    apache.wait_for_reload(before, offset)
    wait_for_fingerprint("127.0.0.1", apache.port, fp_c, timeout=5)

    # Without a chain the directive goes away with the file.
    apache.install_cert(cert_c, key_c)
    assert "SSLCertificateChainFile" not in apache.conf_path.read_text()
    apache.reload()
    assert _served_chain_length(apache.port) == 1
    assert apache.fingerprint() == fp_c


@needs_apache
def test_apache_test_fails_on_a_broken_config_and_stop_leaves_no_process(
    apache: PrivateApache, tmp_path: Path
) -> None:
    cert, key, _ = make_cert_files(tmp_path, "a.test")
    apache.install_cert(cert, key)
    apache.start()
    pids = {apache.pid, *apache.worker_pids()}

    apache.cert_path.unlink()
    result = _run(apache.test_argv)
    assert result.returncode != 0
    assert "does not exist or is empty" in result.stderr
    with pytest.raises(ServerError, match="apache2 -t failed"):
        apache.reload()
    shutil.copyfile(cert, apache.cert_path)
    with apache.conf_path.open("a") as conf:
        conf.write("NoSuchDirective on\n")
    assert _run(apache.test_argv).returncode != 0
    assert apache.fingerprint()  # the running instance is untouched

    apache.stop()
    apache.stop()  # idempotent
    assert not any(_alive(pid) for pid in pids if pid)
    with pytest.raises(ConnectionRefusedError):
        tls_fingerprint("127.0.0.1", apache.port, timeout=1)


@needs_apache
def test_apache_test_passes_a_key_that_does_not_match_and_the_restart_then_dies(
    apache: PrivateApache, tmp_path: Path
) -> None:
    """What a push to apache2 must guard against itself: ``-t`` does not load the key."""
    cert, key, _ = make_cert_files(tmp_path, "a.test")
    _, other_key, _ = make_cert_files(tmp_path, "other.test")
    apache.install_cert(cert, key)
    apache.start()
    shutil.copyfile(other_key, apache.key_path)
    assert _run(apache.test_argv).returncode == 0
    before, offset = apache.worker_pids(), apache.log_offset()
    assert _run(apache.reload_argv).returncode == 0
    with pytest.raises(ServerError, match="do not match"):
        apache.wait_for_reload(before, offset, timeout=5)
    deadline = time.monotonic() + 5
    while apache.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not apache.running
    with pytest.raises(ConnectionRefusedError):
        tls_fingerprint("127.0.0.1", apache.port, timeout=1)


@needs_haproxy
def test_haproxy_serves_a_combined_pem_and_usr2_switches_cert(
    haproxy: PrivateHaproxy, tmp_path: Path
) -> None:
    cert, key, fp_a = make_cert_files(tmp_path / "a", "a.test")
    chain, _, _ = make_cert_files(tmp_path / "a", "ca.test")
    haproxy.install_cert(cert, key, chain)
    pem = haproxy.pem_path.read_text()
    assert pem.index(cert.read_text()) < pem.index(chain.read_text()) < pem.index("PRIVATE KEY")
    haproxy.start()
    assert haproxy.pem_path.parent == haproxy.cert_dir
    assert tls_fingerprint("127.0.0.1", haproxy.port) == haproxy.fingerprint() == fp_a
    assert _served_chain_length(haproxy.port) == 2
    master = haproxy.master_pid
    assert int(haproxy.pid_path.read_text().split()[0]) == master

    cert_b, key_b, fp_b = make_cert_files(tmp_path / "b", "a.test")
    haproxy.pem_path.write_bytes(combined_pem(cert_b, key_b))
    before, offset = haproxy.worker_pids(), haproxy.log_offset()
    result = _run(haproxy.test_argv)
    assert result.returncode == 0, result.stderr
    assert _run(haproxy.reload_argv).returncode == 0
    haproxy.wait_for_reload(before, offset)
    wait_for_fingerprint("127.0.0.1", haproxy.port, fp_b, timeout=5)
    assert haproxy.master_pid == master  # the master re-executes itself in place

    cert_c, key_c, fp_c = make_cert_files(tmp_path / "c", "a.test")
    haproxy.install_cert(cert_c, key_c)
    haproxy.reload()
    assert haproxy.fingerprint() == fp_c


@needs_haproxy
def test_haproxy_refuses_a_broken_pem_keeps_the_old_cert_and_stop_leaves_no_process(
    haproxy: PrivateHaproxy, tmp_path: Path
) -> None:
    cert, key, fp_a = make_cert_files(tmp_path, "a.test")
    _, other_key, _ = make_cert_files(tmp_path, "other.test")
    haproxy.install_cert(cert, key)
    haproxy.start()

    haproxy.install_cert(cert, other_key)
    result = _run(haproxy.test_argv)
    assert result.returncode != 0
    assert "inconsistencies between private key and certificate" in result.stdout + result.stderr
    with pytest.raises(ServerError, match="haproxy -c failed"):
        haproxy.reload()
    # The signal alone: the master fails to load the new configuration and keeps the old.
    before, offset = haproxy.worker_pids(), haproxy.log_offset()
    assert _run(haproxy.reload_argv).returncode == 0
    with pytest.raises(ServerError, match="refused the reload"):
        haproxy.wait_for_reload(before, offset, timeout=5)
    assert haproxy.worker_pids() == before
    assert haproxy.fingerprint() == fp_a

    pids = {haproxy.pid, *haproxy.worker_pids()}
    haproxy.stop()
    haproxy.stop()  # idempotent
    assert not any(_alive(pid) for pid in pids if pid)
    with pytest.raises(ConnectionRefusedError):
        tls_fingerprint("127.0.0.1", haproxy.port, timeout=1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie left to a non-reaping pid 1 has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _exec(client: paramiko.SSHClient, command: str) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=10)
    code = stdout.channel.recv_exit_status()
    return code, stdout.read().decode(), stderr.read().decode()


@needs_nginx
@needs_sshd
def test_sshd_path_prefix_runs_the_wrapper_that_reaches_the_private_nginx(
    nginx: PrivateNginx, tmp_path: Path
) -> None:
    port = free_port()
    cert, key, _ = make_cert_files(tmp_path / "live", "a.test")
    nginx.add_site(port, cert, key)
    nginx.start()
    bin_dir = write_wrappers(tmp_path / "device bin", {"nginx": nginx.command()})
    assert (bin_dir / "nginx").stat().st_mode & 0o111
    assert _run([str(bin_dir / "nginx"), "-t"]).returncode == 0
    assert _run(nginx.test_argv).returncode == 0
    assert nginx.reload_argv == [*nginx.command(), "-s", "reload"]

    key_path, public = make_client_key(tmp_path / "client")
    with PrivateSshd(tmp_path / "sshd", path_prefix=bin_dir) as sshd:
        sshd.authorize(public)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(
            sshd.host,
            port=sshd.port,
            username=sshd.username,
            key_filename=str(key_path),
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
        )
        try:
            code, out, _ = _exec(client, 'printf %s "$PATH"')
            assert code == 0 and out == sshd.session_path
            assert out.startswith(f"{bin_dir}:")
            assert _exec(client, "command -v nginx")[1].strip() == str(bin_dir / "nginx")

            code, _, err = _exec(client, "nginx -t")
            assert code == 0, err
            assert f"{nginx.conf_path} test is successful" in err

            # The device's "test, then reload" reaches the private nginx's master.
            cert_b, key_b, fp_b = make_cert_files(tmp_path / "new", "a.test")
            _replace(cert, key, cert_b, key_b)
            before, offset = nginx.worker_pids(), nginx.log_offset()
            code, _, err = _exec(client, "nginx -t && nginx -s reload")
            assert code == 0, err
            nginx.wait_for_reload(before, offset)
            wait_for_fingerprint("127.0.0.1", port, fp_b, timeout=5)

            _, other_key, _ = make_cert_files(tmp_path / "other", "other.test")
            shutil.copyfile(other_key, key)
            code, _, err = _exec(client, "nginx -t")
            assert code == 1 and str(nginx.conf_path) in err
        finally:
            client.close()


@needs_sshd
def test_sshd_without_a_path_prefix_sets_no_environment(sshd: PrivateSshd) -> None:
    assert sshd.session_path is None
    assert "SetEnv" not in sshd.config_path.read_text()
