"""A private RabbitMQ on 127.0.0.1 for the zone tests (Debian's rabbitmq-server).

Its folder lives under /var/tmp, owned by the ``rabbitmq`` user: the server drops to
that user and must enter every parent folder (a pytest tmp_path under /tmp is 0700).
With ``tls=True`` it also listens for ``amqps://`` with a server certificate (for
127.0.0.1 and localhost) from a throwaway CA whose certificate is ``Broker.ca_file``,
and on 127.0.0.2, an address that certificate does not name (``mismatch_port``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

SERVER = "/usr/sbin/rabbitmq-server"
CTL = "/usr/sbin/rabbitmqctl"


def available() -> bool:
    return os.path.exists(SERVER) and os.geteuid() == 0


def _free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    folder: Path
    node: str
    port: int
    process: subprocess.Popen
    tls_port: int | None = None
    mismatch_port: int | None = None  # TLS on 127.0.0.2, not named by the certificate

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def url_for(self, user: str, password: str, tls: bool = False) -> str:
        """The URL of ``user`` on this broker, over ``amqps://`` with ``tls``."""
        if tls:
            return f"amqps://{user}:{password}@127.0.0.1:{self.tls_port}//"
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}//"

    @property
    def ca_file(self) -> Path:
        """The certificate of the CA that signed the TLS listener's certificate."""
        return self.folder / "tls" / "ca.pem"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.folder),
            "RABBITMQ_NODENAME": self.node,
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str, check: bool = False, input: str | None = None) -> str:
        """``rabbitmqctl`` on this node, ``input`` on its stdin (a password it asks for);
        with ``check``, a failure raises with its output."""
        done = subprocess.run(
            [CTL, "-n", self.node, *args],
            env=self._env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def stop(self) -> None:
        self.ctl("stop")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def write_tls_files(folder: Path) -> None:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certpush test broker CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = folder / "tls"
    tls.mkdir()
    (tls / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tls / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (tls / "server.key").touch(mode=0o600)
    (tls / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def start_broker(tls: bool = False) -> Broker:
    """A private RabbitMQ; with ``tls``, an ``amqps://`` listener beside the plain one."""
    folder = Path(tempfile.mkdtemp(prefix="certpush-rabbit-", dir="/var/tmp"))
    folder.chmod(0o755)
    port, dist = _free_port(), _free_port()
    tls_port = _free_port() if tls else None
    mismatch_port = _free_port("127.0.0.2") if tls else None
    node = f"cp{uuid.uuid4().hex[:8]}@localhost"
    config = f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
    if tls:
        write_tls_files(folder)
        config += (
            f"listeners.ssl.default = 127.0.0.1:{tls_port}\n"
            f"listeners.ssl.mismatch = 127.0.0.2:{mismatch_port}\n"
            f"ssl_options.cacertfile = {folder / 'tls' / 'ca.pem'}\n"
            f"ssl_options.certfile = {folder / 'tls' / 'server.pem'}\n"
            f"ssl_options.keyfile = {folder / 'tls' / 'server.key'}\n"
            "ssl_options.verify = verify_none\n"
            "ssl_options.fail_if_no_peer_cert = false\n"
        )
    (folder / "rabbitmq.conf").write_text(config)
    (folder / "enabled_plugins").write_text("[].\n")
    for sub in ("mnesia", "log"):
        (folder / sub).mkdir()
    shutil.chown(folder, "rabbitmq", "rabbitmq")
    for path in folder.rglob("*"):
        shutil.chown(path, "rabbitmq", "rabbitmq")
    env = {
        **os.environ,
        "HOME": str(folder),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    process = subprocess.Popen(
        [SERVER],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    broker = Broker(folder, node, port, process, tls_port, mismatch_port)
    deadline = time.monotonic() + 60
    waiting = [("127.0.0.1", port)]
    if tls:
        waiting += [("127.0.0.1", tls_port), ("127.0.0.2", mismatch_port)]
    while True:
        try:
            with socket.create_connection(waiting[0], timeout=1):
                waiting.pop(0)
            if not waiting:
                return broker
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                broker.stop()
                raise RuntimeError("the private RabbitMQ did not start") from None
            time.sleep(0.3)
