"""Demo devices: real TLS listeners on 127.0.0.1 that the demo's ``local`` connectors push to.

With nginx installed, one private nginx (its own prefix inside the instance folder)
serves every demo device and is reloaded by the connectors exactly as a real one
would be. Without nginx, a small built-in TLS server does the same job: it re-reads
a device's files when they change, so a push is live at the next handshake.
Either way a push is proven by a real handshake, never simulated.

The devices of the demo's history (jobs/demo_history.py) are served too, by SNI name
on the same five ports, with the certificate their history left installed: so the
live scheduler's sweeps find on every demo endpoint what the history says is there,
and probe nothing beyond 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.config import Settings
from data.connectors import add_connector, bind
from data.crypto import Vault
from data.demo import recorded_at
from data.domain.profiles import ProfileBook
from data.models import Certificate, Connector
from data.profiles import load_book, store_profile

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
# Demo certificates that get a device: (common name, device name). Kept apart from the
# certificates the browser tests add connectors to.
DEMO_DEVICES: tuple[tuple[str, str], ...] = (
    ("payments-api.corp.example", "demo-payments-nginx"),
    ("erp-gateway.corp.example", "demo-erp-nginx"),
    ("web-frontend-eu.corp.example", "demo-web-eu-nginx"),
    ("mail-relay.corp.example", "demo-mail-relay"),
    ("crm-connector.corp.example", "demo-crm-nginx"),
)


# Devices that exist for the demo's history (jobs/demo_history.py): (name, connector type,
# bound certificate, which demo port serves them, the SNI names they answer to). The
# five devices above are the default server of their port; these share the ports by name.
# Kept apart from the certificates the browser tests add connectors to, too.
HISTORY_DEVICES: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = (
    ("edge-lb-01", "ssh", "edi-partner-acme.corp.example", 0,
     ("edi-partner-acme.corp.example", "alt.edi-partner-acme.corp.example")),
    ("edge-lb-02", "ssh", "edi-partner-acme.corp.example", 1,
     ("edi-partner-acme.corp.example", "alt.edi-partner-acme.corp.example")),
    ("db-report-01", "local", "db-client-reporting.corp.example", 2,
     ("db-client-reporting.corp.example",)),
    ("db-report-02", "local", "db-client-reporting.corp.example", 3,
     ("db-client-reporting.corp.example",)),
    ("iot-gw-3", "ssh", "iot-gateway-3.corp.example", 4, ("iot-gateway-3.corp.example",)),
    ("sso-proxy-01", "ssh", "sso-client.corp.example", 0, ("sso-client.corp.example",)),
    ("api-gw-us-1", "ssh", "api-gw-client-us.corp.example", 1,
     ("api-gw-client-us.corp.example",)),
    ("backup-01", "local", "backup-agent-01.corp.example", 2, ("backup-agent-01.corp.example",)),
    ("metrics-relay", "local", "metrics-push.corp.example", 3, ("metrics-push.corp.example",)),
    ("ldap-sync-01", "ssh", "ldap-client-sync.corp.example", 4,
     ("ldap-client-sync.corp.example",)),
    ("radius-01", "ssh", "wifi-radius-client.corp.example", 0,
     ("wifi-radius-client.corp.example",)),
    ("mq-orders-01", "local", "mq-client-orders.corp.example", 1,
     ("mq-client-orders.corp.example",)),
)  # fmt: skip


@dataclass(frozen=True)
class DemoDevice:
    name: str
    common_name: str
    port: int
    folder: Path
    server_names: tuple[str, ...] = ()  # SNI names; empty: the common name
    type: str = "local"
    live: bool = True  # one of the five devices `certpush demo` sets up to push to

    @property
    def names(self) -> tuple[str, ...]:
        return self.server_names or (self.common_name,)

    @property
    def cert_path(self) -> Path:
        return self.folder / "site.crt"

    @property
    def key_path(self) -> Path:
        return self.folder / "site.key"


def devices_root(settings: Settings) -> Path:
    return settings.instance_dir / "demo-devices"


def nginx_binary() -> str | None:
    """nginx if installed, unless CERTPUSH_DEMO_SERVER=builtin asks for the fallback."""
    if os.environ.get("CERTPUSH_DEMO_SERVER") == "builtin":
        return None
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def live_devices(settings: Settings) -> list[DemoDevice]:
    """The five live devices."""
    root = devices_root(settings)
    return [
        DemoDevice(name, cn, settings.demo_first_port + i, root / name)
        for i, (cn, name) in enumerate(DEMO_DEVICES)
    ]


def history_devices(settings: Settings) -> list[DemoDevice]:
    """The devices of the demo's history, served beside the live ones by SNI name."""
    root = devices_root(settings)
    return [
        DemoDevice(name, cn, settings.demo_first_port + offset, root / name, names, kind, False)
        for name, kind, cn, offset, names in HISTORY_DEVICES
    ]


def served_devices(settings: Settings) -> list[DemoDevice]:
    """Every device that has files to serve; the live device of a port comes first."""
    return [d for d in live_devices(settings) + history_devices(settings) if d.cert_path.exists()]


def write_placeholder(device: DemoDevice) -> None:
    """What the device serves before certpush's first push: a self-signed stand-in."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{device.name} placeholder")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    write_device_files(
        device,
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def write_device_files(device: DemoDevice, cert_pem: bytes, key_pem: bytes) -> None:
    """What a device serves: its certificate file, and its key file (mode 0600)."""
    device.folder.mkdir(parents=True, exist_ok=True)
    device.cert_path.write_bytes(cert_pem)
    fd = os.open(device.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)


class DemoNginx:
    """The private nginx: every path inside its prefix, nothing from /etc/nginx."""

    def __init__(self, settings: Settings, binary: str):
        self.binary = binary
        self.prefix = devices_root(settings) / "nginx"
        self.conf = self.prefix / "nginx.conf"

    def _base(self) -> list[str]:
        return [self.binary, "-p", f"{self.prefix}/", "-e", str(self.prefix / "error.log"),
                "-c", str(self.conf)]  # fmt: skip

    def command(self, *extra: str) -> str:
        return shlex.join([*self._base(), *extra])

    def write_config(self, devices: list[DemoDevice]) -> None:
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "temp" / sub).mkdir(parents=True, exist_ok=True)
        user = ""
        if os.geteuid() == 0:  # workers would otherwise run as nobody
            user = f"user {pwd.getpwuid(0).pw_name};"
        p = self.prefix
        servers = "\n".join(
            f"""  server {{
    listen 127.0.0.1:{d.port} ssl;
    server_name {" ".join(d.names)};
    ssl_certificate {d.cert_path};
    ssl_certificate_key {d.key_path};
    return 200 "{d.name}\\n";
  }}"""
            for d in devices
        )
        self.conf.write_text(
            f"""{user}
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log;
daemon off;
events {{ worker_connections 256; }}
http {{
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path {p}/temp/client_body;
  proxy_temp_path {p}/temp/proxy;
  fastcgi_temp_path {p}/temp/fastcgi;
  uwsgi_temp_path {p}/temp/uwsgi;
  scgi_temp_path {p}/temp/scgi;
{servers}
}}
"""
        )

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self._base(), start_new_session=True)


DEMO_PROFILE = "demo-nginx"


def demo_profile_definition(settings: Settings) -> dict[str, object]:
    """The demo devices' profile: their files under this instance's devices folder, and
    the private nginx's config test and reload (argument lists) when nginx serves them."""
    binary = nginx_binary()
    nginx = DemoNginx(settings, binary) if binary else None
    return {
        "layout": "separate",
        "folders": [str(devices_root(settings).resolve())],
        "test": [*nginx._base(), "-t", "-q"] if nginx else None,
        "reload": [*nginx._base(), "-s", "reload"] if nginx else None,
        "description": "The demo devices (certpush demo): a private nginx on 127.0.0.1",
        "source": "demo",
    }


def demo_book(settings: Settings, session: Session) -> ProfileBook:
    """The profiles in force with the demo's own (kept in this instance's database, as it
    names this instance's folders), and local connectors allowed: the demo's devices are
    local connectors on this host."""
    store_profile(session, DEMO_PROFILE, demo_profile_definition(settings), now=datetime.now(UTC))
    return replace(load_book(settings, session), local_connectors=True)


def local_settings(settings: Settings, device: DemoDevice) -> dict[str, object]:
    """A ``local`` connector's settings for a demo device: the demo profile and its files."""
    return {
        "profile": DEMO_PROFILE,
        "cert_path": str(device.cert_path),
        "key_path": str(device.key_path),
        "command_timeout": 30,
    }


def setup_demo_devices(session: Session, vault: Vault, settings: Settings, now: datetime) -> int:
    """Create demo devices and their ``local`` connectors, bound to demo certificates.

    The connectors are recorded as made when the demo's inventory was (``recorded_at``).
    Returns how many connectors were added (0 when they exist already).
    """
    devices = live_devices(settings)
    existing = set(session.scalars(select(Connector.name)))
    binary = nginx_binary()
    if binary:
        DemoNginx(settings, binary).write_config(devices)
    made = recorded_at(now)
    book = demo_book(settings, session)
    added = 0
    for device in devices:
        if device.name in existing:
            continue
        fingerprint = session.scalar(
            select(Certificate.fingerprint_sha256).where(
                Certificate.common_name == device.common_name, Certificate.source.like("demo:%")
            )
        )
        if fingerprint is None:
            continue
        write_placeholder(device)
        add_connector(
            session,
            vault,
            name=device.name,
            type_name="local",
            settings=local_settings(settings, device),
            endpoints=[{"host": "127.0.0.1", "port": device.port, "sni": device.common_name}],
            actor="demo",
            role="admin",
            book=book,
            now=made,
        )
        bind(session, device.name, fingerprint, actor="demo", now=made)
        added += 1
    return added


class _FileBackedTLS(socketserver.ThreadingTCPServer):
    """Fallback devices of one port: each answers TLS, chosen by SNI name (the first one
    without a known name), with whatever certificate its files hold right now."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, devices: list[DemoDevice]):
        self.devices = devices
        self.by_name = {name: d for d in reversed(devices) for name in d.names}
        self._contexts: dict[str, tuple[tuple[float, float], ssl.SSLContext]] = {}
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", devices[0].port), _Handler)

    def context(self, device: DemoDevice | None = None) -> ssl.SSLContext:
        device = device or self.devices[0]
        stamp = (device.cert_path.stat().st_mtime, device.key_path.stat().st_mtime)
        with self._lock:
            known = self._contexts.get(device.name)
            if known is None or known[0] != stamp:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(device.cert_path, device.key_path)
                ctx.sni_callback = self._choose
                known = self._contexts[device.name] = (stamp, ctx)
            return known[1]

    def _choose(self, sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        device = self.by_name.get(name or "")
        if device is not None and device is not self.devices[0]:
            sock.context = self.context(device)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            with self.server.context().wrap_socket(self.request, server_side=True) as tls:
                tls.recv(1024)
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
                )
        except (OSError, ssl.SSLError):
            pass


def serve_fallback(settings: Settings) -> None:
    """Run the built-in TLS servers until SIGTERM (``python -m jobs.demo_devices``)."""
    by_port: dict[int, list[DemoDevice]] = {}
    for device in served_devices(settings):
        by_port.setdefault(device.port, []).append(device)
    servers = [_FileBackedTLS(devices) for devices in by_port.values()]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for server in servers:
        server.shutdown()


def start_demo_devices(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start whatever serves the demo devices, or None when there are none."""
    devices = served_devices(settings)
    if not devices:
        return None
    binary = nginx_binary()
    if binary:
        nginx = DemoNginx(settings, binary)
        nginx.write_config(devices)
        return nginx.start()
    return subprocess.Popen([sys.executable, "-m", "jobs.demo_devices"])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    serve_fallback(Settings.from_env())
