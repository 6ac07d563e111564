"""The demo's devices are real TLS listeners that a push really changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from data.config import Settings
from jobs.demo_devices import start_demo_devices
from tests.cli_auth import stdin_for
from tests.servers import free_port_range, tls_fingerprint, wait_for_fingerprint


@pytest.mark.parametrize("server", ["nginx", "builtin"])
def test_demo_devices_serve_what_a_push_installs(tmp_path, server, monkeypatch):
    monkeypatch.setenv("CERTPUSH_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("CERTPUSH_DEMO_PORT", str(free_port_range(5)))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    if server == "builtin":
        monkeypatch.setenv("CERTPUSH_DEMO_SERVER", "builtin")
    monkeypatch.setenv("CERTPUSH_EMERGENCY_PUSH", "on")
    env = dict(os.environ)

    passwords: dict[str, str] = {}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env,
                              input=stdin_for(args, passwords), capture_output=True, text=True,
                              timeout=120, check=True)  # fmt: skip
        return done.stdout

    demo = json.loads(cli("demo", "--json"))
    passwords.update({u["username"]: u["password"] for u in demo["users"]})
    assert demo["demo_devices_added"] == 5
    connectors = {c["name"]: c for c in json.loads(cli("connectors", "list", "--json"))}
    device = connectors["demo-payments-nginx"]
    assert device["bound_certificates"] == 1
    [endpoint] = device["endpoints"]
    certs = json.loads(cli("certs", "list", "--json"))
    [payments] = [c for c in certs if c["common_name"] == "payments-api.corp.example"]
    admin = next(u["username"] for u in demo["users"] if u["role"] == "admin")

    process = start_demo_devices(Settings.from_env())
    assert process is not None
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                before = tls_fingerprint("127.0.0.1", endpoint["port"], sni=endpoint["sni"])
                break
            except OSError:
                assert time.monotonic() < deadline, "demo devices did not start"
                time.sleep(0.2)
        assert before != payments["fingerprint_sha256"]  # the placeholder
        out = json.loads(
            cli(
                "push",
                "emergency",
                "--cert",
                payments["fingerprint_sha256"],
                "--connector",
                "demo-payments-nginx",
                "--reason",
                "demo device check",
                "--as",
                admin,
                "--json",
            )
        )
        assert out["outcome"] == "installed", out
        wait_for_fingerprint(
            "127.0.0.1", endpoint["port"], payments["fingerprint_sha256"], sni=endpoint["sni"]
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
