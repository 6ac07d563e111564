"""A real certpush (gunicorn, scheduler, demo devices) for the REST API tests, with a
write-scoped API token for each demo user. Tokens are made through the data layer, the
same function ``certpush tokens create`` calls."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from data.api_tokens import create_token
from data.config import Settings
from data.db import session_scope
from tests.servers import free_port_range


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ApiServer:
    url: str
    instance: Path
    env: dict[str, str]
    users: dict[str, str]  # role -> user name
    passwords: dict[str, str]  # user name -> password
    tokens: dict[str, str] = field(default_factory=dict)  # role -> write token

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def token(self, username: str, *, scope: str = "write", lifetime=None) -> str:
        with session_scope(self.settings.database_url) as db:
            _info, secret = create_token(db, username, f"test {scope}", scope=scope,
                                         lifetime=lifetime, actor="test", actor_role="admin",
                                         now=datetime.now(UTC))  # fmt: skip
        return secret

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=60, **kwargs)

    def as_role(self, role: str):
        """Call the API with the write token of the demo user of ``role``."""
        token = self.tokens[role]

        def call(method: str, path: str, **kwargs):
            return self.call(method, path, token, **kwargs)

        return call


def start_api_server(instance: Path, *, extra_env: dict[str, str] | None = None):
    """certpush demo, then serve with the scheduler and demo devices; returns the server
    and its process."""
    env = {**os.environ, "CERTPUSH_INSTANCE": str(instance),
           "CERTPUSH_DEMO_PORT": str(free_port_range(5)),
           "CERTPUSH_PROFILES_FILE": str(instance / "profiles.toml"),
           "CERTPUSH_VERIFY_SETTLE": "0.3", "CERTPUSH_VERIFY_GRACE": "5",
           "CERTPUSH_API_WRITE_RATE": "100000/minute", **(extra_env or {})}  # fmt: skip
    env.pop("DATABASE_URL", None)
    demo = subprocess.run([sys.executable, "-m", "jobs.cli", "demo", "--json"], env=env,
                          capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    users = json.loads(demo.stdout)["users"]
    port = _free_port()
    log = open(instance / "server.log", "w")  # noqa: SIM115 - closed by stop_api_server
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "serve", "--port", str(port), "--workers", "2",
         "--with-scheduler", "--with-demo-devices"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    process.log = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 40
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError((instance / "server.log").read_text()) from None
            time.sleep(0.2)
    server = ApiServer(
        url=url,
        instance=instance,
        env=env,
        users={u["role"]: u["username"] for u in users},
        passwords={u["username"]: u["password"] for u in users},
    )
    for role, username in server.users.items():
        server.tokens[role] = server.token(username)
    return server, process


def stop_api_server(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    process.log.close()


@pytest.fixture(scope="session")
def api_server(tmp_path_factory) -> Iterator[ApiServer]:
    """One server for the workflow tests (the schemathesis run has its own)."""
    server, process = start_api_server(tmp_path_factory.mktemp("api-instance"))
    try:
        yield server
    finally:
        stop_api_server(process)
