"""A private RabbitMQ on 127.0.0.1 for the zone tests (Debian's rabbitmq-server).

Its folder lives under /var/tmp, owned by the ``rabbitmq`` user: the server drops to
that user and must enter every parent folder (a pytest tmp_path under /tmp is 0700).
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
from pathlib import Path

SERVER = "/usr/sbin/rabbitmq-server"
CTL = "/usr/sbin/rabbitmqctl"


def available() -> bool:
    return os.path.exists(SERVER) and os.geteuid() == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    folder: Path
    node: str
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.folder),
            "RABBITMQ_NODENAME": self.node,
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [CTL, "-n", self.node, *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    def stop(self) -> None:
        self.ctl("stop")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_broker() -> Broker:
    folder = Path(tempfile.mkdtemp(prefix="certpush-rabbit-", dir="/var/tmp"))
    folder.chmod(0o755)
    port, dist = _free_port(), _free_port()
    node = f"cp{uuid.uuid4().hex[:8]}@localhost"
    (folder / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"
    )
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
    broker = Broker(folder, node, port, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return broker
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                broker.stop()
                raise RuntimeError("the private RabbitMQ did not start") from None
            time.sleep(0.3)
