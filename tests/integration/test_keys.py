"""Sealed start: the CLI and the scheduler run as a user runs them (subprocesses on
their own instance).

Nothing makes a master key on its own: without one the scheduler will not start,
commands needing the key refuse, and the others work.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from data.db import session_scope
from data.models import AuditEvent
from tests import certs as c
from tests.profiles import FILES

PASSWORD = "long enough password"
TOTAL = 10_000


def now() -> datetime:
    return datetime.now(UTC)


def environment(instance: Path, database_url: str | None = None, **more: str) -> dict[str, str]:
    """The environment of a certpush process on ``instance``: no key unless given here."""
    env = {**os.environ, "CERTPUSH_INSTANCE": str(instance), **more}
    for name in ("CERTPUSH_MASTER_KEY", "CERTPUSH_MASTER_KEY_FILE", "DATABASE_URL"):
        if name not in more:
            env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def certpush(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def audit_events(url: str, action: str) -> list[AuditEvent]:
    with session_scope(url) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# ------------------------------------------------------------------------- sealed start


def test_the_scheduler_without_a_key_exits_at_once_and_writes_nothing(tmp_path):
    instance = tmp_path / "instance"
    env = environment(instance)
    assert certpush(env, "db", "upgrade").returncode == 0
    files = sorted(p.name for p in instance.iterdir())
    for command in (["-m", "jobs.scheduler"], ["-m", "jobs.cli", "scheduler"]):
        started = time.monotonic()
        done = subprocess.run([sys.executable, *command], env=env, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode != 0, command
        assert time.monotonic() - started < 10
        assert "no master key" in done.stderr and "certpush keys generate" in done.stderr
        assert "scheduler starting" not in done.stderr
    assert sorted(p.name for p in instance.iterdir()) == files  # no key file, nothing else
    with sqlite3.connect(instance / "certpush.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "apscheduler_jobs" not in tables  # the job store was never started
    fresh = tmp_path / "never-made"
    done = subprocess.run([sys.executable, "-m", "jobs.scheduler"], env=environment(fresh),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0 and not fresh.exists()


def test_commands_needing_the_key_refuse_without_one_and_the_others_work(tmp_path):
    """Importing a certificate needs no key; its private key does (rejected with the fix,
    never stored unsealed). A credential, a push and a rotation need the key."""
    instance = tmp_path / "instance"
    env = environment(instance, CERTPUSH_EMERGENCY_PUSH="on")
    cert, key = c.make_cert("sealed-start.example")
    fingerprint = cert.fingerprint(c.hashes.SHA256()).hex()
    (tmp_path / "both.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    ssh_key = tmp_path / "id_ed25519"
    ssh_key.write_bytes(c.key_pem(c.make_key("ed25519")))
    device = tmp_path / "device"
    device.mkdir()
    (tmp_path / "local.json").write_text(json.dumps({"profile": FILES,
        "cert_path": str(device / "site.crt"), "key_path": str(device / "site.key")}))  # fmt: skip
    (tmp_path / "ssh.json").write_text(json.dumps({"host": "127.0.0.1", "username": "deploy",
        "private_key_file": str(ssh_key), "profile": FILES,
        "cert_path": str(device / "a.crt"), "key_path": str(device / "a.key")}))  # fmt: skip

    assert certpush(env, "db", "upgrade").returncode == 0
    added = certpush(env, "users", "add", "root", "--role", "admin", "--password-stdin",
                     stdin=PASSWORD)  # fmt: skip
    assert added.returncode == 0, added.stderr
    imported = certpush(env, "import", str(tmp_path / "both.pem"), "--json")
    assert imported.returncode == 0, imported.stderr
    results = {r["kind"]: r for r in json.loads(imported.stdout)}
    assert results["certificate"]["result"] == "imported"
    assert results["private_key"]["result"] == "rejected"
    assert "no master key" in results["private_key"]["reason"]
    assert "certpush keys generate" in results["private_key"]["reason"]
    plain = certpush(env, "import", str(tmp_path / "both.pem"))
    assert plain.returncode == 0 and "private keys were not stored" in plain.stderr
    listed = json.loads(certpush(env, "certs", "list", "--json").stdout)
    assert [r["fingerprint_sha256"] for r in listed] == [fingerprint]

    with_secret = certpush(env, "connectors", "add", "dev-ssh", "--type", "ssh",
                           "--config", str(tmp_path / "ssh.json"))  # fmt: skip
    assert with_secret.returncode == 1 and "no master key" in with_secret.stderr
    without = certpush(env, "connectors", "add", "dev", "--type", "local",
                       "--config", str(tmp_path / "local.json"), "--as", "root")  # fmt: skip
    assert without.returncode == 0, without.stderr
    assert certpush(env, "connectors", "bind", "dev", "--cert", fingerprint).returncode == 0
    assert certpush(env, "connectors", "test", "dev").returncode == 0  # it has no credential
    assert [c["name"] for c in json.loads(certpush(env, "connectors", "list", "--json").stdout)
            ] == ["dev"]  # fmt: skip
    emergency = ("push", "emergency", "--cert", fingerprint, "--connector", "dev",
                 "--reason", "replace it now", "--as", "root")  # fmt: skip
    refused = certpush(env, *emergency)
    assert refused.returncode == 1 and "no master key" in refused.stderr
    assert json.loads(certpush(env, "workorders", "list", "--json").stdout) == []
    assert not (instance / "master.key").exists()

    made = certpush(env, "keys", "generate")
    assert made.returncode == 0 and "mode 0600" in made.stdout
    key_file = instance / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    written = key_file.read_bytes()
    again = certpush(env, "keys", "generate")
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert key_file.read_bytes() == written
    stored = json.loads(certpush(env, "import", str(tmp_path / "both.pem"), "--json").stdout)
    assert {r["kind"]: r["result"] for r in stored}["private_key"] == "imported"
    pushed = certpush(env, *emergency)
    assert pushed.returncode == 0, pushed.stderr
    assert (device / "site.crt").read_bytes() == c.pem(cert)
