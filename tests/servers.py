"""Real, private servers on 127.0.0.1 for connector and push tests.

certpush pushes certificates to TLS servers over SSH/SFTP or the local filesystem and then
proves the new certificate is live with a TLS handshake. Mocks cannot show that a reload
really took effect, that a pinned host key really matches, or that a silent port really times
out, so these helpers start the real programs (Debian's nginx, apache2, haproxy and OpenSSH)
in a test's own folder:

- ``PrivateNginx``: an nginx master with its own prefix, config, pid file, logs and temp
  folders, run in the foreground as our child so it always stops (no systemd, no /etc/nginx).
- ``PrivateApache``: an apache2 (event MPM, mod_ssl) with a minimal ``httpd.conf`` of its
  own and the "separate" layout (certificate, key and chain files in ``tls/``); nothing from
  /etc/apache2. ``ctl_command`` runs Debian's ``apache2ctl`` against it.
- ``PrivateHaproxy``: a haproxy master-worker serving one combined PEM (certificate, chain,
  key) from ``tls/``; reloaded by ``kill -USR2`` to the master as on a real host.
- ``PrivateSshd``: an OpenSSH server on a free port with its own host key and
  authorized_keys, public-key login only, SFTP through ``internal-sftp``. With a
  ``path_prefix`` its sessions find programs in that folder first, and ``write_wrappers``
  puts scripts there named ``nginx``, ``apache2ctl``... that reach the private servers, so a
  device profile's bare ``nginx -t`` over SSH tests the private nginx.
- ``SilentServer``: accepts TCP and never says a word (banner and handshake timeouts).
- ``tls_fingerprint``, ``make_cert_files``, ``combined_pem``, ``free_port``,
  ``make_client_key``.

Everything listens on loopback only. Every server registers itself for an ``atexit`` stop
as a backup for tests that crash between ``start()`` and ``stop()``. This is a plain module
(no fixtures) so that unit, integration and end-to-end tests can all use it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import ipaddress
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/nginx"
SSHD = "/usr/sbin/sshd"  # sshd re-executes itself and insists on an absolute path.
APACHE2 = "/usr/sbin/apache2"
APACHE2CTL = "/usr/sbin/apache2ctl"
HAPROXY = "/usr/sbin/haproxy"  # the master re-executes itself on reload: absolute path.
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class ServerError(RuntimeError):
    """A private server did not start, reload or stop; the message carries its log tail."""


# --------------------------------------------------------------------------- small helpers


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on ``host``.

    The kernel picks it (bind to port 0), so parallel test runs do not collide on fixed
    numbers. Another process may still take it before we bind again; servers that choose
    their own port (``PrivateSshd``) retry on "Address already in use".
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return s.getsockname()[1]


def free_port_range(count: int, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive ports that were all free a moment ago."""
    import random

    for _ in range(200):
        base = random.randint(20000, 40000)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise ServerError(f"no {count} consecutive free ports found")


def ipv6_loopback_available() -> bool:
    """Whether ``::1`` can be bound here (containers often run without IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def tls_fingerprint(host: str, port: int, sni: str | None = None, timeout: float = 5) -> str:
    """SHA-256 (lowercase hex) of the leaf certificate DER that ``host:port`` serves.

    No verification: tests serve self-signed certificates and only ask *which* certificate
    is live. ``sni=None`` sends no SNI, so the server answers with its default certificate
    (Python never sends SNI for an IP address either). ``timeout`` bounds the connect and
    the handshake, so a port that accepts TCP and never answers raises ``TimeoutError``.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host.strip("[]"), port), timeout=timeout) as raw,
        ctx.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:  # pragma: no cover - a TLS server always sends a certificate here
        raise ssl.SSLError(f"{host}:{port} sent no certificate")
    return hashlib.sha256(der).hexdigest()


def wait_for_fingerprint(
    host: str,
    port: int,
    expected: str,
    sni: str | None = None,
    timeout: float = 10,
) -> None:
    """Poll ``tls_fingerprint`` until it equals ``expected``.

    A reload is asynchronous and a failed one leaves the old certificate in place; only a
    handshake proves which certificate is live.
    """
    last: str | BaseException | None = None
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = tls_fingerprint(host, port, sni=sni, timeout=min(2.0, timeout))
            if last == expected:
                return
        except (OSError, ssl.SSLError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise ServerError(
                f"{host}:{port} (SNI {sni!r}) still serves {last!r}, not {expected} "
                f"after {timeout} s"
            )
        time.sleep(0.05)


def _safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "cert"


def make_cert_files(
    dir: Path,
    cn: str,
    days: int = 365,
    *,
    sans: list[str] | None = None,
    stem: str | None = None,
) -> tuple[Path, Path, str]:
    """Write a self-signed EC P-256 server certificate and its PKCS#8 key as PEM.

    Returns ``(cert_path, key_path, fingerprint_hex)`` where the fingerprint is what
    ``tls_fingerprint`` reports once nginx serves the pair. The subject alternative names
    default to ``[cn]`` (IP addresses become IP SANs). Files are named after ``stem``
    (default: the CN) and never overwrite an existing pair unless ``stem`` is given, so
    "certificate B for the same host" can be made in the same folder as certificate A.
    A negative ``days`` gives an expired certificate.
    """
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    alt_names: list[x509.GeneralName] = []
    for san in sans if sans is not None else [cn]:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(san.strip("[]"))))
        except ValueError:
            alt_names.append(x509.DNSName(san))
    not_before = now - timedelta(days=1)
    not_after = now + timedelta(days=days)
    if not_after <= not_before:
        not_before = not_after - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(key, hashes.SHA256())

    base = _safe_stem(stem or cn)
    if stem is None:
        n = 1
        while (dir / f"{base}.crt").exists() or (dir / f"{base}.key").exists():
            n += 1
            base = f"{_safe_stem(cn)}-{n}"
    cert_path, key_path = dir / f"{base}.crt", dir / f"{base}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert_path, key_path, hashlib.sha256(der).hexdigest()


def make_client_key(root: Path, name: str = "id_ed25519") -> tuple[Path, str]:
    """An Ed25519 client key pair for SSH logins.

    Returns ``(private_key_path, public_openssh_line)``. The private key is written in
    OpenSSH format (mode 0600), which both paramiko and OpenSSH's ``ssh`` load; the public
    line is what ``PrivateSshd.authorize`` wants.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    path = root / name
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} certpush-test"
    (root / f"{name}.pub").write_text(line + "\n")
    return path, line


def _wait_until(
    check: Callable[[], bool], timeout: float, what: str, alive: Callable[[], None]
) -> None:
    """Poll ``check`` until it is true; ``alive`` raises when the server died meanwhile."""
    deadline = time.monotonic() + timeout
    while not check():
        alive()
        if time.monotonic() > deadline:
            raise ServerError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=0.5):
            return True
    except OSError:
        return False


def _children(pid: int) -> set[int]:
    """Direct children of ``pid``, read from /proc (works without procps or psutil)."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # Field 4 is the parent pid; field 2 (comm) may hold spaces, so split after ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in _children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _descendant_levels(pid: int) -> list[set[int]]:
    """Descendants of ``pid`` by depth, children first."""
    levels: list[set[int]] = []
    current = _children(pid)
    seen: set[int] = set()
    while current:
        levels.append(current)
        seen |= current
        current = set().union(*(_children(p) for p in current)) - seen
    return levels


def _stop_levels(levels: list[set[int]]) -> None:
    """SIGTERM each level, deepest first, and SIGKILL what is still there after a while."""
    for level in reversed(levels):
        _kill(level, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_pid_alive(p) for p in level) and time.monotonic() < deadline:
            time.sleep(0.01)
        _kill({p for p in level if _pid_alive(p)}, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited already


def _kill(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:])


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_LIVE: set[_Stoppable] = set()
_LIVE_LOCK = threading.Lock()


def _track(server: _Stoppable) -> None:
    with _LIVE_LOCK:
        _LIVE.add(server)


def _untrack(server: _Stoppable) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(server)


@atexit.register
def _stop_all() -> None:
    """Backup for a test that died between start() and stop(): never leave servers behind."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


class _ChildServer:
    """A server process that we own: started in its own session, stopped with its tree.

    Subclasses write their config, spawn the program and say when it is ready.
    """

    log_path: Path
    _proc: subprocess.Popen[bytes] | None = None
    # sshd's per-connection processes outlive the listener (they setsid), so they are
    # stopped first, while their parents still reap them: on hosts whose pid 1 does not
    # reap orphans (minimal VMs, containers) they would stay zombies otherwise. nginx's
    # master must go first instead: it respawns workers that die under it.
    _children_first = False

    @property
    def pid(self) -> int | None:
        """The server's main process id while it runs."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def _spawn(self, argv: list[str], output: Path) -> None:
        with output.open("ab") as out:
            # Own session: the server never gets the terminal's Ctrl-C before we stop it,
            # and killpg reaches workers that stayed in the group.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        _track(self)

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            code = self._proc.returncode
            self._reap()
            raise ServerError(
                f"{type(self).__name__} exited with status {code} while starting:\n"
                f"{self._failure_details()}"
            )

    def _failure_details(self) -> str:
        return _tail(self.log_path)

    def stop(self) -> None:
        """Stop the server and everything it started; kill what does not exit in time.

        Safe to call twice and after a failed start.
        """
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                if self._children_first:
                    _stop_levels(_descendant_levels(proc.pid))
                # Noted before the signal: orphans would be reparented out of our reach.
                tree = _descendants(proc.pid)
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    tree |= _descendants(proc.pid)
                    proc.kill()
                    proc.wait(timeout=STOP_TIMEOUT)
                _stop_levels([tree])
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.wait(timeout=STOP_TIMEOUT)
        self._proc = None
        _untrack(self)

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


# --------------------------------------------------------------------------------- nginx


@dataclass(frozen=True)
class NginxSite:
    """One ``server {}`` block: a TLS listener answering 200 "ok"."""

    host: str  # as written in ``listen``: "127.0.0.1" or "[::1]"
    port: int
    cert_path: Path
    key_path: Path
    server_name: str | None


def _listen_host(host: str) -> str:
    host = host.strip()
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class PrivateNginx(_ChildServer):
    """A private nginx instance living entirely in ``root``.

    The master runs in the foreground (``daemon off``) as our child in its own session, so
    ``stop()`` can always find and end it and its workers, even when the pid file is gone.
    The pid file is still written, so ``reload_command`` (``nginx ... -s reload``) works the
    way a connector runs it on a real host. The same ``-p``/``-e``/``-c`` options are used
    for every command: without ``-c`` a signal would go to the system nginx.

    Sites are written to ``nginx.conf`` as they are added. Add them before ``start()``, or
    add more later and call ``reload()``.
    """

    def __init__(self, root: Path, *, worker_user: str | None = None) -> None:
        self.root = Path(root).absolute()
        self.conf_path = self.root / "nginx.conf"
        self.pid_path = self.root / "logs" / "nginx.pid"
        self.log_path = self.root / "logs" / "error.log"
        self.sites: list[NginxSite] = []
        # Workers run as us when we are root: the folder comes from tmp_path (mode 0700),
        # which nginx's default "nobody" could not enter.
        self._worker_user = worker_user or (
            pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
        )
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / "temp" / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.write_config()

    # ----- configuration

    def add_site(
        self,
        port: int,
        cert_path: Path,
        key_path: Path,
        server_name: str | None = None,
        host: str = "127.0.0.1",
    ) -> NginxSite:
        """Serve ``cert_path``/``key_path`` on ``host:port`` (IPv6 as ``::1`` or ``[::1]``).

        Several sites on one address are told apart by SNI; the first one added for an
        address is its ``default_server`` (answers clients without SNI or with an unknown
        name).
        """
        site = NginxSite(
            _listen_host(host),
            port,
            Path(cert_path).absolute(),
            Path(key_path).absolute(),
            server_name,
        )
        self.sites.append(site)
        self.write_config()
        return site

    def config_text(self) -> str:
        """The whole nginx.conf: every path inside ``root``, nothing from /etc/nginx."""
        r = self.root
        lines = [
            "# Written by tests/servers.py: a private nginx for certpush tests.",
            *([f"user {self._worker_user};"] if self._worker_user else []),
            "daemon off;",
            "master_process on;",
            "worker_processes 1;",
            f'pid "{self.pid_path}";',
            f'lock_file "{r / "logs" / "nginx.lock"}";',
            f'error_log "{self.log_path}" notice;',
            "events { worker_connections 128; }",
            "http {",
            f'    access_log "{r / "logs" / "access.log"}";',
            f'    client_body_temp_path "{r / "temp" / "client_body"}";',
            f'    proxy_temp_path "{r / "temp" / "proxy"}";',
            f'    fastcgi_temp_path "{r / "temp" / "fastcgi"}";',
            f'    uwsgi_temp_path "{r / "temp" / "uwsgi"}";',
            f'    scgi_temp_path "{r / "temp" / "scgi"}";',
            "    default_type text/plain;",
            # No keep-alive: a reload's old workers then exit at once, and a probe's next
            # handshake is answered by the new configuration.
            "    keepalive_timeout 0;",
        ]
        seen: set[tuple[str, int]] = set()
        for site in self.sites:
            address = (site.host, site.port)
            default = " default_server" if address not in seen else ""
            seen.add(address)
            lines += [
                "    server {",
                f"        listen {site.host}:{site.port} ssl{default};",
                f"        server_name {site.server_name or '_'};",
                f'        ssl_certificate "{site.cert_path}";',
                f'        ssl_certificate_key "{site.key_path}";',
                '        return 200 "ok\\n";',
                "    }",
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        self.conf_path.write_text(self.config_text())

    # ----- commands, as a connector runs them

    def _base_argv(self) -> list[str]:
        return [
            NGINX,
            "-p",
            f"{self.root}/",
            "-e",
            str(self.log_path),
            "-c",
            str(self.conf_path),
        ]

    def command(self, *args: str) -> list[str]:
        """argv of ``nginx`` with this instance's ``-p``/``-e``/``-c`` options, then ``args``.

        ``write_wrappers(folder, {"nginx": server.command()})`` makes a bare ``nginx -t`` or
        ``nginx -s reload`` on the "device" reach this instance.
        """
        return [*self._base_argv(), *args]

    @property
    def test_argv(self) -> list[str]:
        """argv that checks this instance's configuration (``nginx -t``), for a shell-less run."""
        return self.command("-t")

    @property
    def reload_argv(self) -> list[str]:
        """argv that asks this instance's master to reload (``nginx -s reload``)."""
        return self.command("-s", "reload")

    @property
    def test_command(self) -> str:
        """Shell command that checks the configuration (``nginx -t``) of this instance."""
        return shlex.join([*self._base_argv(), "-t"])

    @property
    def reload_command(self) -> str:
        """Shell command that asks this instance's master to reload (``-s reload``)."""
        return shlex.join([*self._base_argv(), "-s", "reload"])

    # ----- life cycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the master and return once every configured address accepts TCP."""
        if self.running:
            return
        if not self.sites:
            raise ServerError("PrivateNginx has no sites: call add_site() first")
        self.write_config()
        self.pid_path.unlink(missing_ok=True)
        offset = self.log_offset()
        addresses = {(s.host, s.port) for s in self.sites}

        def ready() -> bool:
            # nginx retries a busy port for 2.5 s before giving up: fail at the first [emerg].
            if errors := self.new_errors(offset):
                raise ServerError("nginx failed to start:\n" + "\n".join(errors))
            return (
                self.pid_path.exists()
                and all(_tcp_open(h, p) for h, p in addresses)
                and bool(self.worker_pids())
            )

        self._spawn(self._base_argv(), self.root / "logs" / "stdout.log")
        try:
            _wait_until(ready, timeout, f"nginx in {self.root} to listen", self._check_alive)
        except BaseException:
            self.stop()
            raise

    def _failure_details(self) -> str:
        return f"{_tail(self.log_path)}\n{_tail(self.root / 'logs' / 'stdout.log')}"

    def worker_pids(self) -> set[int]:
        """The master's current children: new ones appear once a reload has been applied."""
        pid = self.pid
        return _children(pid) if pid else set()

    def run_test(self) -> None:
        """Run ``nginx -t``; raise with its output when the configuration is invalid."""
        self._run([*self._base_argv(), "-t"], "nginx -t")

    def _run(self, argv: list[str], what: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise ServerError(
                f"{what} failed with status {result.returncode}:\n{result.stderr}{result.stdout}"
            )

    def reload(self, wait: bool = True, timeout: float = 10) -> None:
        """Write the config, run ``nginx -t``, then ``-s reload``; by default wait for it.

        ``-s reload`` only delivers a signal and exits 0 even when the new configuration is
        then rejected, hence the ``-t`` first and ``wait_for_reload`` after.
        """
        if not self.running:
            raise ServerError("nginx is not running")
        self.write_config()
        self.run_test()
        before = self.worker_pids()
        offset = self.log_offset()
        self._run([*self._base_argv(), "-s", "reload"], "nginx -s reload")
        if wait:
            self.wait_for_reload(before, offset, timeout=timeout)

    def new_errors(self, offset: int) -> list[str]:
        """``[emerg]``/``[alert]`` lines the error log gained after ``offset``."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return []
        return [ln for ln in text.splitlines() if "[emerg]" in ln or "[alert]" in ln]

    def log_offset(self) -> int:
        """Current size of the error log: pass it to ``wait_for_reload`` to see new errors."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def wait_for_reload(
        self, old_workers: set[int], log_offset: int | None = None, timeout: float = 10
    ) -> None:
        """Wait until a reload has taken effect: new workers up and the old ones gone.

        Use it after running ``reload_command`` yourself: note ``worker_pids()`` (and
        ``log_offset()``) before. Raises when the master logged an ``[emerg]``/``[alert]``
        after ``log_offset`` (the reload was refused and the old config stays live).
        """

        def applied() -> bool:
            if log_offset is not None and (errors := self.new_errors(log_offset)):
                raise ServerError("nginx refused the reload:\n" + "\n".join(errors))
            now = self.worker_pids()
            live_old = {p for p in old_workers if _pid_alive(p)}
            return bool(now - old_workers) and not live_old

        _wait_until(applied, timeout, "nginx to apply the reload", self._check_alive)

    def fingerprint(self, port: int, sni: str | None = None, host: str = "127.0.0.1") -> str:
        """The certificate this instance serves on ``host:port`` for ``sni``."""
        return tls_fingerprint(host, port, sni=sni)


# ------------------------------------------------------------------ apache2 and haproxy


def combined_pem(cert_path: Path, key_path: Path, chain_path: Path | None = None) -> bytes:
    """One PEM holding the certificate, then the chain (if any), then the key.

    The file haproxy's ``bind ... ssl crt FILE`` wants (and many appliances too).
    """
    parts = [Path(cert_path).read_bytes()]
    if chain_path is not None:
        parts.append(Path(chain_path).read_bytes())
    parts.append(Path(key_path).read_bytes())
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def _worker_identity() -> tuple[str, int] | None:
    """User name and group id for apache2's children when we are root (it refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_name, entry.pw_gid
    raise ServerError("PrivateApache needs a www-data or nobody user to run its children")


def _kill_argv(sig: str, pid: int) -> list[str]:
    """``kill -SIG PID`` as argv: procps' kill where it exists, else sh's built-in."""
    kill = shutil.which("kill", path="/usr/bin:/bin")
    if kill:
        return [kill, f"-{sig}", str(pid)]
    return ["/bin/sh", "-c", f'kill -{sig} "$1"', "kill", str(pid)]


class PrivateApache(_ChildServer):
    """A private apache2 (event MPM, mod_ssl) serving TLS on ``127.0.0.1:port``.

    Everything lives in ``root``: ``httpd.conf`` (``ServerRoot /usr/lib/apache2`` for the
    modules, nothing read from /etc/apache2), pid file and runtime files in ``run/``, logs in
    ``logs/`` and the certificate in the "separate" layout: ``tls/server.crt``,
    ``tls/server.key`` and, when one was installed, ``tls/chain.crt``
    (``SSLCertificateChainFile``, written into the config only while that file exists).

    The parent runs in the foreground (``-k start -D FOREGROUND``) as our child in its own
    session, so ``stop()`` always ends it and its children; as root they run as www-data,
    which needs no access to ``root`` (the parent reads the certificate). ``test_argv``,
    ``reload_argv`` and ``ctl_command`` are what a device runs.

    Two facts a push must live with, both checked in tests/integration/test_servers.py:
    ``apache2 -t`` checks syntax and that the files exist, not that the key matches the
    certificate; and a graceful restart with a key that does not match stops apache2 for
    good (the parent logs ``[ssl:emerg]`` and exits). Only a TLS probe proves the result.
    """

    def __init__(
        self, root: Path, port: int | None = None, *, server_name: str = "localhost"
    ) -> None:
        self.root = Path(root).absolute()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.server_name = server_name
        self.conf_path = self.root / "httpd.conf"
        self.envvars_path = self.root / "envvars"
        self.cert_dir = self.root / "tls"
        self.cert_path = self.cert_dir / "server.crt"
        self.key_path = self.cert_dir / "server.key"
        self.chain_path = self.cert_dir / "chain.crt"
        self.run_dir = self.root / "run"
        self.pid_path = self.run_dir / "httpd.pid"
        self.log_path = self.root / "logs" / "error.log"
        self._worker = _worker_identity()
        for folder in (self.cert_dir, self.run_dir, self.root / "logs", self.root / "htdocs"):
            folder.mkdir(parents=True, exist_ok=True)
        self.write_config()

    # ----- certificate and configuration

    def install_cert(self, cert_path: Path, key_path: Path, chain_path: Path | None = None) -> None:
        """Copy a certificate, its key and optionally a chain into ``cert_dir``.

        Without ``chain_path`` an earlier chain file is removed. Rewrites the config (the
        chain directive follows the chain file); a running server needs ``reload()``.
        """
        shutil.copyfile(cert_path, self.cert_path)
        shutil.copyfile(key_path, self.key_path)
        self.key_path.chmod(0o600)
        if chain_path is not None:
            shutil.copyfile(chain_path, self.chain_path)
        else:
            self.chain_path.unlink(missing_ok=True)
        self.write_config()

    def config_text(self) -> str:
        """The whole httpd.conf: modules from /usr/lib/apache2, every other path in ``root``."""
        run = self.run_dir
        address = f"{self.host}:{self.port}"
        lines = [
            "# Written by tests/servers.py: a private apache2 for certpush tests.",
            'ServerRoot "/usr/lib/apache2"',
            f"ServerName {self.server_name}",
            f'DefaultRuntimeDir "{run}"',
            f'PidFile "{self.pid_path}"',
            f'ErrorLog "{self.log_path}"',
            "LogLevel notice",
            "LoadModule mpm_event_module modules/mod_mpm_event.so",
            "LoadModule authz_core_module modules/mod_authz_core.so",
            "LoadModule socache_shmcb_module modules/mod_socache_shmcb.so",
            "LoadModule ssl_module modules/mod_ssl.so",
            *([f"User {self._worker[0]}", f"Group #{self._worker[1]}"] if self._worker else []),
            # Few, small children; no keep-alive, so a graceful restart's old children exit
            # at once and the next handshake is answered by the new configuration.
            "StartServers 1",
            "ServerLimit 4",
            "ThreadLimit 4",
            "ThreadsPerChild 4",
            "MinSpareThreads 1",
            "MaxSpareThreads 8",
            "MaxRequestWorkers 8",
            "KeepAlive Off",
            "GracefulShutdownTimeout 5",
            f'SSLSessionCache "shmcb:{run / "ssl_scache"}(128000)"',
            f'DocumentRoot "{self.root / "htdocs"}"',
            "<Directory />",
            "    Require all denied",
            "</Directory>",
            f"Listen {address}",
            f"<VirtualHost {address}>",
            f"    ServerName {self.server_name}",
            "    SSLEngine on",
            f'    SSLCertificateFile "{self.cert_path}"',
            f'    SSLCertificateKeyFile "{self.key_path}"',
            *(
                [f'    SSLCertificateChainFile "{self.chain_path}"']
                if self.chain_path.exists()
                else []
            ),
            "</VirtualHost>",
        ]
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        """Write ``httpd.conf`` and the ``envvars`` file that ``ctl_command`` needs."""
        self.conf_path.write_text(self.config_text())
        lines = [
            "# Written by tests/servers.py: read by Debian's apache2ctl (APACHE_CONFDIR).",
            f"export APACHE_RUN_DIR={shlex.quote(str(self.run_dir))}",
            f"export APACHE_LOCK_DIR={shlex.quote(str(self.root / 'lock'))}",
            f"export APACHE_LOG_DIR={shlex.quote(str(self.log_path.parent))}",
            *([f"export APACHE_RUN_USER={self._worker[0]}"] if self._worker else []),
            f"export APACHE_ARGUMENTS={shlex.quote(f'-f {self.conf_path}')}",
        ]
        self.envvars_path.write_text("\n".join(lines) + "\n")

    # ----- commands, as a device runs them

    def command(self, *args: str) -> list[str]:
        """argv of ``apache2 -f httpd.conf`` for this instance, then ``args``."""
        return [APACHE2, "-f", str(self.conf_path), *args]

    def ctl_command(self, *args: str) -> list[str]:
        """argv of Debian's ``apache2ctl`` aimed at this instance, then ``args``.

        ``ctl_command("configtest")`` runs ``apache2 -t`` and ``ctl_command("graceful")``
        checks, then restarts gracefully, as on a Debian host. apache2ctl splits its
        arguments on spaces, so ``root`` must not contain any.
        """
        if any(ch.isspace() for ch in str(self.root)):
            raise ServerError(f"apache2ctl cannot use a folder with spaces: {self.root}")
        return ["/usr/bin/env", f"APACHE_CONFDIR={self.root}", APACHE2CTL, *args]

    @property
    def test_argv(self) -> list[str]:
        """argv that checks this instance's configuration (``apache2 -t``)."""
        return self.command("-t")

    @property
    def reload_argv(self) -> list[str]:
        """argv that restarts this instance gracefully (``apache2 -k graceful``)."""
        return self.command("-k", "graceful")

    @property
    def stop_argv(self) -> list[str]:
        """argv that stops this instance (``apache2 -k stop``); ``stop()`` works without it."""
        return self.command("-k", "stop")

    # ----- life cycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the parent and return once it listens and has a child to answer."""
        if self.running:
            return
        if not (self.cert_path.exists() and self.key_path.exists()):
            raise ServerError("PrivateApache has no certificate: call install_cert() first")
        self.write_config()
        self.pid_path.unlink(missing_ok=True)
        offset = self.log_offset()

        def ready() -> bool:
            if errors := self.new_errors(offset):
                raise ServerError("apache2 failed to start:\n" + "\n".join(errors))
            return (
                self.pid_path.exists()
                and _tcp_open(self.host, self.port)
                and bool(self.worker_pids())
            )

        self._spawn(
            self.command("-k", "start", "-D", "FOREGROUND"), self.root / "logs" / "stdout.log"
        )
        try:
            _wait_until(ready, timeout, f"apache2 in {self.root} to listen", self._check_alive)
        except BaseException:
            self.stop()
            raise

    def _failure_details(self) -> str:
        return f"{_tail(self.log_path)}\n{_tail(self.root / 'logs' / 'stdout.log')}"

    def worker_pids(self) -> set[int]:
        """The parent's current children: new ones appear once a graceful restart is done."""
        pid = self.pid
        return _children(pid) if pid else set()

    def log_offset(self) -> int:
        """Current size of the error log: pass it to ``wait_for_reload`` to see new errors."""
        return _log_size(self.log_path)

    def new_errors(self, offset: int) -> list[str]:
        """``emerg``/``alert`` lines the error log gained after ``offset``."""
        text = _log_since(self.log_path, offset)
        return [ln for ln in text.splitlines() if re.search(r":(emerg|alert)\]", ln)]

    def run_test(self) -> None:
        """Run ``apache2 -t``; raise with its output when the configuration is invalid."""
        _run_or_raise(self.test_argv, "apache2 -t")

    def reload(self, wait: bool = True, timeout: float = 10) -> None:
        """Write the config, run ``apache2 -t``, then ``-k graceful``; by default wait."""
        if not self.running:
            raise ServerError("apache2 is not running")
        self.write_config()
        self.run_test()
        before, offset = self.worker_pids(), self.log_offset()
        _run_or_raise(self.reload_argv, "apache2 -k graceful")
        if wait:
            self.wait_for_reload(before, offset, timeout=timeout)

    def wait_for_reload(
        self, old_workers: set[int], log_offset: int | None = None, timeout: float = 10
    ) -> None:
        """Wait until a graceful restart has taken effect: new children up, old ones gone.

        Use it after running ``reload_argv`` yourself: note ``worker_pids()`` and
        ``log_offset()`` before. Raises when the error log gained an ``emerg`` line after
        ``log_offset`` (apache2 then exits: a refused graceful restart is fatal).
        """

        def applied() -> bool:
            if log_offset is not None and (errors := self.new_errors(log_offset)):
                raise ServerError("apache2 refused the reload:\n" + "\n".join(errors))
            now = self.worker_pids()
            live_old = {p for p in old_workers if _pid_alive(p)}
            return bool(now - old_workers) and not live_old

        _wait_until(applied, timeout, "apache2 to apply the reload", self._check_alive)

    def fingerprint(self, sni: str | None = None) -> str:
        """The certificate this instance serves now (``tls_fingerprint``)."""
        return tls_fingerprint(self.host, self.port, sni=sni)


class PrivateHaproxy(_ChildServer):
    """A private haproxy (master-worker) serving TLS on ``127.0.0.1:port``.

    One frontend answers every request with 200 "ok" from ``bind ... ssl crt tls/site.pem``,
    a combined PEM (certificate, chain, key; see ``install_cert`` and ``combined_pem``).
    The master runs in the foreground as our child in its own session (``haproxy -f CFG -p
    PIDFILE`` with ``master-worker`` in ``global``), so ``stop()`` always ends it and its
    workers; the pid file holds the master's pid as with ``-D``. A reload is ``kill -USR2``
    to the master (``reload_argv``): it re-executes itself with the same pid, and a new
    configuration that fails to load keeps the old worker serving ("Loading failure!").
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root).absolute()
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.cfg_path = self.root / "haproxy.cfg"
        self.cert_dir = self.root / "tls"
        self.pem_path = self.cert_dir / "site.pem"
        self.pid_path = self.root / "haproxy.pid"
        self.log_path = self.root / "haproxy.log"  # the master's and workers' stderr
        self.cert_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()

    # ----- certificate and configuration

    def install_cert(self, cert_path: Path, key_path: Path, chain_path: Path | None = None) -> None:
        """Write ``pem_path`` from a certificate, its key and optionally a chain."""
        self.pem_path.write_bytes(combined_pem(cert_path, key_path, chain_path))
        self.pem_path.chmod(0o600)

    def config_text(self) -> str:
        """The whole haproxy.cfg."""
        return "\n".join(
            [
                "# Written by tests/servers.py: a private haproxy for certpush tests.",
                "global",
                "    master-worker",
                # An old worker still serving a client is ended this long after a reload.
                "    hard-stop-after 5s",
                "defaults",
                "    mode http",
                "    option httpclose",
                "    timeout connect 2s",
                "    timeout client 5s",
                "    timeout server 5s",
                "frontend tls",
                f'    bind {self.host}:{self.port} ssl crt "{self.pem_path}"',
                '    http-request return status 200 content-type text/plain string "ok"',
                "",
            ]
        )

    def write_config(self) -> None:
        self.cfg_path.write_text(self.config_text())

    # ----- commands, as a device runs them

    def command(self, *args: str) -> list[str]:
        """argv of ``haproxy -f haproxy.cfg`` for this instance, then ``args``."""
        return [HAPROXY, "-f", str(self.cfg_path), *args]

    @property
    def test_argv(self) -> list[str]:
        """argv that checks this instance's configuration (``haproxy -c -f CFG``)."""
        return [HAPROXY, "-c", "-f", str(self.cfg_path)]

    @property
    def master_pid(self) -> int:
        """The master's pid (first line of ``pid_path``); it stays the same across reloads."""
        if self.pid is None:
            raise ServerError("haproxy is not running")
        return self.pid

    @property
    def reload_argv(self) -> list[str]:
        """argv that reloads this instance: ``kill -USR2 <master pid>`` (while it runs)."""
        return _kill_argv("USR2", self.master_pid)

    # ----- life cycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the master and return once it listens and has a worker."""
        if self.running:
            return
        if not self.pem_path.exists():
            raise ServerError("PrivateHaproxy has no certificate: call install_cert() first")
        self.write_config()
        self.pid_path.unlink(missing_ok=True)

        def ready() -> bool:
            return (
                self.pid_path.exists()
                and _tcp_open(self.host, self.port)
                and bool(self.worker_pids())
            )

        self._spawn(self.command("-p", str(self.pid_path)), self.log_path)
        try:
            _wait_until(ready, timeout, f"haproxy in {self.root} to listen", self._check_alive)
        except BaseException:
            self.stop()
            raise

    def worker_pids(self) -> set[int]:
        """The master's current children: a new one appears once a reload has loaded."""
        pid = self.pid
        return _children(pid) if pid else set()

    def log_offset(self) -> int:
        """Current size of the log: pass it to ``wait_for_reload`` to see what a reload said."""
        return _log_size(self.log_path)

    def run_test(self) -> None:
        """Run ``haproxy -c``; raise with its output when the configuration is invalid."""
        _run_or_raise(self.test_argv, "haproxy -c")

    def reload(self, wait: bool = True, timeout: float = 10) -> None:
        """Write the config, run ``haproxy -c``, then ``kill -USR2``; by default wait."""
        if not self.running:
            raise ServerError("haproxy is not running")
        self.write_config()
        self.run_test()
        before, offset = self.worker_pids(), self.log_offset()
        _run_or_raise(self.reload_argv, "kill -USR2")
        if wait:
            self.wait_for_reload(before, offset, timeout=timeout)

    def wait_for_reload(self, old_workers: set[int], log_offset: int, timeout: float = 10) -> None:
        """Wait until a reload has taken effect: loaded, a new worker up, the old one gone.

        Use it after running ``reload_argv`` yourself: note ``worker_pids()`` and
        ``log_offset()`` before. Raises when the master logged "Loading failure!" after
        ``log_offset`` (the old worker and configuration stay live).
        """

        def applied() -> bool:
            text = _log_since(self.log_path, log_offset)
            if "Loading failure!" in text:
                alerts = [ln for ln in text.splitlines() if "[ALERT]" in ln]
                raise ServerError("haproxy refused the reload:\n" + "\n".join(alerts))
            now = self.worker_pids()
            live_old = {p for p in old_workers if _pid_alive(p)}
            return "Loading success." in text and bool(now - old_workers) and not live_old

        _wait_until(applied, timeout, "haproxy to apply the reload", self._check_alive)

    def fingerprint(self, sni: str | None = None) -> str:
        """The certificate this instance serves now (``tls_fingerprint``)."""
        return tls_fingerprint(self.host, self.port, sni=sni)


def _run_or_raise(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise ServerError(
            f"{what} failed with status {result.returncode}:\n{result.stderr}{result.stdout}"
        )


# ---------------------------------------------------------------------------------- sshd


def current_user() -> str:
    """The login name sshd will accept for the keys we authorize (root on CI machines)."""
    return pwd.getpwuid(os.geteuid()).pw_name


# sshd's own PATH for sessions (Debian's --with-superuser-path and --with-default-path).
_SSHD_ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SSHD_USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"


def write_wrappers(folder: Path, wrappers: dict[str, list[str]]) -> Path:
    """Write one executable ``/bin/sh`` script per entry: ``name`` runs ``argv + "$@"``.

    For a ``PrivateSshd`` with ``path_prefix=folder``: a device profile's bare command then
    reaches a private server, e.g. ``{"nginx": nginx.command()}`` makes ``nginx -t`` run
    ``nginx -p ... -e ... -c ... -t``, ``{"apache2ctl": apache.ctl_command()}`` makes
    ``apache2ctl configtest`` test the private apache2 and ``{"haproxy-reload":
    haproxy.reload_argv}`` signals the private haproxy. Every word is quoted with
    ``shlex.quote``. Returns ``folder`` (absolute).
    """
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    for name, argv in wrappers.items():
        if not name or "/" in name or name in (".", "..") or not argv:
            raise ValueError(f"bad wrapper {name!r}: {argv!r}")
        path = folder / name
        path.write_text(
            "#!/bin/sh\n"
            "# Written by tests/servers.py: runs a private test server's command.\n"
            f'exec {shlex.join(argv)} "$@"\n'
        )
        path.chmod(0o755)
    return folder


class PrivateSshd(_ChildServer):
    """A private OpenSSH server on 127.0.0.1 with its own host key and authorized_keys.

    Public-key login only, as ``current_user()`` (root on CI); SFTP via ``internal-sftp``.
    Runs as ``sshd -D`` (no daemonizing) in its own session so that ``stop()`` always ends
    it, together with the per-connection processes it forked.

    ``path_prefix`` (set it before ``start()``, or ``restart()`` after changing it) puts a
    folder first on every session's PATH, so that commands run by bare name (``nginx -t``)
    find the scripts ``write_wrappers`` put there before the system's programs. It is
    ``SetEnv PATH=<prefix>:<sshd's own PATH>`` plus ``SHLVL=1``: bash runs ``~/.bashrc`` for
    commands sent over SSH only in a top-level shell, and root's ``~/.bashrc`` on these
    machines prepends its own folders (pyenv, cargo) to PATH. ``SHLVL=1`` makes bash a
    nested shell that skips it, so the prefix stays first. Without a prefix nothing changes.
    """

    _children_first = True

    def __init__(
        self, root: Path, port: int | None = None, *, path_prefix: Path | None = None
    ) -> None:
        self.root = Path(root).absolute()
        self.path_prefix = Path(path_prefix).absolute() if path_prefix is not None else None
        self.root.mkdir(parents=True, exist_ok=True)
        self._auto_port = port is None
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.username = current_user()
        self.config_path = self.root / "sshd_config"
        self.host_key_path = self.root / "ssh_host_ed25519_key"
        self.authorized_keys_path = self.root / "authorized_keys"
        self.pid_path = self.root / "sshd.pid"
        self.log_path = self.root / "sshd.log"
        self.authorized_keys_path.touch(exist_ok=True)
        if not self.host_key_path.exists():
            self._generate_host_key()

    def _generate_host_key(self) -> None:
        for path in (self.host_key_path, self.host_key_path.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        argv = [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "certpush-test-host"]
        subprocess.run(
            [*argv, "-f", str(self.host_key_path)],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def config_text(self) -> str:
        return "\n".join(
            [
                "# Written by tests/servers.py: a private sshd for certpush tests.",
                f"ListenAddress {self.host}",
                f"Port {self.port}",
                f'HostKey "{self.host_key_path}"',
                f'PidFile "{self.pid_path}"',
                f'AuthorizedKeysFile "{self.authorized_keys_path}"',
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "UseDNS no",
                "PrintMotd no",
                "X11Forwarding no",
                "LoginGraceTime 30",
                "LogLevel VERBOSE",
                "Subsystem sftp internal-sftp",
                *self._setenv_lines(),
                "",
            ]
        )

    @property
    def session_path(self) -> str | None:
        """The PATH every session gets with ``path_prefix`` set (else sshd's own, ``None``)."""
        if self.path_prefix is None:
            return None
        default = _SSHD_ROOT_PATH if os.geteuid() == 0 else _SSHD_USER_PATH
        return f"{self.path_prefix}:{default}"

    def _setenv_lines(self) -> list[str]:
        path = self.session_path
        if path is None:
            return []
        if '"' in path or ":" in str(self.path_prefix):
            raise ServerError(f"path_prefix cannot go on PATH: {self.path_prefix}")
        return [f'SetEnv "PATH={path}" SHLVL=1']

    def restart(self) -> None:
        """Stop and start again on the same port, e.g. after changing ``path_prefix``."""
        self.stop()
        self.start()

    def write_config(self) -> None:
        self.config_path.write_text(self.config_text())

    def authorize(self, public_key_openssh: str) -> None:
        """Allow logins with this public key (one ``authorized_keys`` line)."""
        with self.authorized_keys_path.open("a") as f:
            f.write(public_key_openssh.strip() + "\n")

    # ----- host key, for pinning

    @property
    def host_key_openssh(self) -> str:
        """The host public key as ``"ssh-ed25519 AAAA..."`` (type and base64, no comment)."""
        kind, b64, *_ = self.host_key_path.with_suffix(".pub").read_text().split()
        return f"{kind} {b64}"

    @property
    def host_key_type(self) -> str:
        """The host key's SSH type name, e.g. ``"ssh-ed25519"`` (paramiko's ``get_name()``)."""
        return self.host_key_openssh.split()[0]

    @property
    def host_key_fingerprint(self) -> str:
        """``"SHA256:..."`` exactly as ``ssh-keygen -l -f hostkey.pub`` prints it."""
        out = subprocess.run(
            [SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(self.host_key_path.with_suffix(".pub"))],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return out.split()[1]

    @property
    def known_hosts_line(self) -> str:
        """A ``known_hosts`` line for this server (``[127.0.0.1]:PORT ssh-ed25519 AAAA...``)."""
        return f"[{self.host}]:{self.port} {self.host_key_openssh}"

    def rotate_host_key(self) -> None:
        """Give the server a new host key (restarting it on the same port if it runs).

        For "a changed host key is refused" tests.
        """
        was_running = self.running
        self.stop()
        self._generate_host_key()
        if was_running:
            self.start()

    # ----- life cycle

    def _argv(self) -> list[str]:
        return [SSHD, "-D", "-f", str(self.config_path), "-E", str(self.log_path)]

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start sshd and return once the port answers with an SSH banner.

        When we chose the port and someone else took it meanwhile, retry on another one.
        """
        if self.running:
            return
        # sshd's privilege separation needs this folder (systemd normally creates it).
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        for attempt in range(3):
            self.write_config()
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn(self._argv(), self.root / "sshd.stdout.log")
            try:
                _wait_until(
                    self._banner_ok,
                    timeout,
                    f"sshd on {self.host}:{self.port} to send its banner",
                    self._check_alive,
                )
                return
            except ServerError:
                self.stop()
                log = self.log_path.read_text(errors="replace")[offset:]
                if self._auto_port and "Address already in use" in log and attempt < 2:
                    self.port = free_port()
                    continue
                raise
            except BaseException:
                self.stop()
                raise

    def _banner_ok(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.settimeout(1)
                return s.recv(64).startswith(b"SSH-")
        except OSError:
            return False

    def _failure_details(self) -> str:
        return f"{_tail(self.log_path)}\n{_tail(self.root / 'sshd.stdout.log')}"


# ------------------------------------------------------------------------- silent server


class SilentServer:
    """A TCP listener on a free 127.0.0.1 port that accepts and never sends a byte.

    Models a host that takes the connection but never speaks SSH or TLS, so that banner
    and handshake timeouts can be tested without waiting for a real network. Accepted
    sockets stay open (no EOF that would end a client early) until ``close()``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name=f"SilentServer:{self.port}", daemon=True
        )
        self._thread.start()
        _track(self)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def _serve(self) -> None:
        while not self._stop.is_set():
            # select with a timeout, so close() ends the thread within 0.1 s.
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            self._conns.append(conn)
            self.accepted += 1

    def close(self) -> None:
        """Stop accepting and close every connection (clients then see EOF)."""
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._conns.clear()
        with contextlib.suppress(OSError):
            self._listener.close()
        _untrack(self)

    stop = close

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def openssh_fingerprint(key_bytes: bytes) -> str:
    """OpenSSH's ``SHA256:`` fingerprint of a public key blob (``PKey.asbytes()``)."""
    digest = hashlib.sha256(key_bytes).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
