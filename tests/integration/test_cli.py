"""The certpush command line, run as a user runs it: a subprocess with its own instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.domain.status import Status
from tests import certs as c
from tests.cli_auth import stdin_for
from tests.profiles import define

# Passes the password policy (data/domain/passwords.py): 12+ characters, not common.
PASSWORD = "s3cret pass phrase"
# Every user the tests here add has this password (--as asks for it).
PASSWORDS = {n: "long-password" for n in ("root-admin", "op", "olivia", "ravi", "ines", "adam")}


@pytest.fixture
def cli(tmp_path):
    env = {**os.environ, "CERTPUSH_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    env.pop("CERTPUSH_MASTER_KEY", None)

    def run(*args: str, stdin: str = "", **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args],
            input=stdin_for(args, PASSWORDS, stdin),
            capture_output=True,
            text=True,
            env={**env, **more},
            timeout=120,
            check=False,
        )

    return run


def test_help_lists_every_command(cli):
    out = cli("--help").stdout
    for command in ("db", "import", "certs", "users", "demo", "serve", "scheduler"):
        assert command in out
    assert "upgrade" in cli("db", "--help").stdout


def test_commands_before_upgrade_say_what_to_do(cli):
    result = cli("certs", "list")
    assert result.returncode == 1
    assert "run 'certpush db upgrade'" in result.stderr
    assert "Traceback" not in result.stderr


def test_users_add(cli):
    assert cli("db", "upgrade").returncode == 0
    ok = cli("users", "add", "rita", "--role", "reviewer", "--password-stdin", stdin=PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert "added user rita with role reviewer" in ok.stdout
    again = cli("users", "add", "rita", "--role", "reviewer", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad_role = cli("users", "add", "bob", "--role", "boss", "--password-stdin", stdin=PASSWORD)
    assert bad_role.returncode == 1 and "use one of operator" in bad_role.stderr
    short = cli("users", "add", "bob", "--role", "admin", "--password-stdin", stdin="abc")
    assert short.returncode == 1 and "too short" in short.stderr
    common = cli("users", "add", "bob", "--role", "admin", "--password-stdin", stdin="password1234")
    assert common.returncode == 1 and "most common passwords" in common.stderr
    assert "password1234" not in common.stderr


def test_import_json_shape_and_exit_code(cli, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    cert, key = c.make_cert("cli.example")
    (inputs / "a.pem").write_bytes(c.pem(cert))
    (inputs / "a.key").write_bytes(c.key_pem(key, b"pw"))
    (inputs / "junk.txt").write_text("hello")
    (tmp_path / "passwords").write_text("pw\n")
    assert cli("db", "upgrade").returncode == 0
    assert cli("keys", "generate").returncode == 0
    result = cli("import", str(inputs), "--password-file", str(tmp_path / "passwords"), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    records = json.loads(result.stdout)
    by_path = {Path(r["path"]).name: r for r in records}
    assert set(by_path) == {"a.pem", "a.key", "junk.txt"}
    for record in records:
        assert {
            "path",
            "result",
            "reason",
            "fingerprint_sha256",
            "common_name",
            "not_after",
            "status",
        } <= set(record)
    assert by_path["a.pem"]["result"] == "imported"
    assert by_path["a.pem"]["status"] == "green"
    assert by_path["a.key"]["result"] == "imported"
    assert by_path["junk.txt"]["result"] == "rejected"
    assert by_path["junk.txt"]["reason"].startswith("not a certificate")
    again = json.loads(cli("import", str(inputs / "a.pem"), "--json").stdout)
    assert again[0]["result"] == "duplicate"
    plain = cli("import", str(inputs / "junk.txt"))
    assert plain.returncode == 0 and "rejected" in plain.stdout


def test_demo_covers_every_colour_and_runs_once(cli):
    first = cli("demo", "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert {u["role"] for u in summary["users"]} == {
        "operator",
        "reviewer",
        "implementer",
        "manager",
        "admin",
    }
    assert summary["certificates_added"] >= 24
    listed = json.loads(cli("certs", "list", "--json").stdout)
    assert {r["status"] for r in listed} == {s.value for s in Status}
    orange = json.loads(cli("certs", "list", "--json", "--status", "orange").stdout)
    assert orange and all(r["status"] == "orange" for r in orange)
    assert set(orange[0]) == {"fingerprint_sha256", "common_name", "not_after", "status"}
    second = json.loads(cli("demo", "--json").stdout)
    history = second.pop("history")  # the demo's history is made once, too
    assert second == {"users": [], "certificates_added": 0, "demo_devices_added": 0}
    assert history["skipped"] and history["push_requests"] == 0
    bad = cli("certs", "list", "--status", "purple")
    assert bad.returncode == 1 and "use one of" in bad.stderr


def test_connectors_and_push_from_the_command_line(cli, tmp_path):
    from tests.servers import make_client_key

    cert, key = c.make_cert("cli-push.example")
    (tmp_path / "cert.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    fingerprint = cert.fingerprint(c.hashes.SHA256()).hex()
    assert cli("db", "upgrade").returncode == 0
    assert cli("keys", "generate").returncode == 0
    assert cli("import", str(tmp_path / "cert.pem")).returncode == 0
    for name, role in (("root-admin", "admin"), ("op", "operator")):
        cli("users", "add", name, "--role", role, "--password-stdin", stdin="long-password\n")
    target = tmp_path / "device"
    target.mkdir()
    (tmp_path / "local.json").write_text(
        json.dumps(
            {
                "profile": define("test-true", reload=["true"]),
                "cert_path": str(target / "site.crt"),
                "key_path": str(target / "site.key"),
                "endpoints": [{"host": "127.0.0.1", "port": 8443, "sni": "cli-push.example"}],
            }
        )
    )
    key_path, _ = make_client_key(tmp_path / "client")
    (tmp_path / "ssh.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "username": "deploy",
                "private_key_file": str(key_path),
                "profile": define("test-etc-tls", folders=["/etc/tls"]),
                "cert_path": "/etc/tls/a.crt",
                "key_path": "/etc/tls/a.key",
                "endpoints": [{"host": "::1", "port": 443}],
            }
        )
    )
    as_operator = cli("connectors", "add", "dev-local", "--type", "local",
                      "--config", str(tmp_path / "local.json"), "--as", "op")  # fmt: skip
    assert as_operator.returncode == 1
    assert "only an admin may" in as_operator.stderr  # it acts on the certpush host itself
    from sqlalchemy import create_engine, text

    with create_engine(f"sqlite:///{tmp_path / 'instance' / 'certpush.db'}").connect() as db:
        refusals = db.execute(text("SELECT actor, target FROM audit_events "
                                   "WHERE action = 'connector.add.refused'")).all()  # fmt: skip
        stored = db.execute(text("SELECT count(*) FROM connectors")).scalar()
    assert [tuple(r) for r in refusals] == [("op", "dev-local")] and stored == 0  # audited
    added = cli("connectors", "add", "dev-local", "--type", "local",
                "--config", str(tmp_path / "local.json"), "--as", "root-admin")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "1 endpoint(s)" in added.stdout
    ssh = cli(
        "connectors", "add", "dev-ssh", "--type", "ssh", "--config", str(tmp_path / "ssh.json")
    )
    assert ssh.returncode == 0, ssh.stderr
    bad = cli(
        "connectors", "add", "bad one", "--type", "ssh", "--config", str(tmp_path / "local.json")
    )
    assert bad.returncode == 1
    assert "host: required" in bad.stderr and "name:" in bad.stderr
    listed = json.loads(cli("connectors", "list", "--json").stdout)
    by_name = {c["name"]: c for c in listed}
    assert by_name["dev-ssh"]["secret"] == "private_key (stored encrypted)"
    assert "PRIVATE KEY" not in json.dumps(listed)
    assert by_name["dev-local"]["endpoints"] == [
        {"host": "127.0.0.1", "port": 8443, "sni": "cli-push.example"}
    ]
    assert cli("connectors", "bind", "dev-local", "--cert", fingerprint).returncode == 0
    assert "already" in cli("connectors", "bind", "dev-local", "--cert", fingerprint).stdout
    # nothing serves 127.0.0.1:8443 here: without endpoints, installed is the whole story
    (tmp_path / "no-endpoints.json").write_text(json.dumps({"endpoints": []}))
    cleared = cli("connectors", "update", "dev-local", "--config",
                  str(tmp_path / "no-endpoints.json"), "--as", "root-admin")  # fmt: skip
    assert cleared.returncode == 0, cleared.stderr
    emergency = ("push", "emergency", "--cert", fingerprint, "--connector", "dev-local",
                 "--reason", "certificate leaked, replace it now")  # fmt: skip
    off = cli(*emergency, "--as", "root-admin")
    assert off.returncode == 1 and "CERTPUSH_EMERGENCY_PUSH=on" in off.stderr
    refused = cli(*emergency, "--as", "op", CERTPUSH_EMERGENCY_PUSH="on")
    assert refused.returncode == 1 and "may not push without approval" in refused.stderr
    pushed = cli(*emergency, "--as", "root-admin", "--json", CERTPUSH_EMERGENCY_PUSH="on")
    assert pushed.returncode == 0, pushed.stderr
    result = json.loads(pushed.stdout)
    assert result["outcome"] == "installed" and result["emergency"] is True
    assert result["status"] == "Completed"
    assert (target / "site.crt").read_bytes() == c.pem(cert)
    again = cli(*emergency, "--as", "root-admin", CERTPUSH_EMERGENCY_PUSH="on")
    assert "(emergency change) already_installed" in again.stdout
    shown = json.loads(cli("workorders", "show", result["work_order"], "--json").stdout)
    assert shown["emergency"] is True and shown["status"] == "Completed"
    assert shown["plan"]["digest"] == result["plan_digest"]
    assert [a["action"] for a in shown["approvals"]] == ["emergency"]
    assert "certificate leaked" in shown["approvals"][0]["comment"]
    listed = {c["name"]: c for c in json.loads(cli("connectors", "list", "--json").stdout)}
    assert listed["dev-local"]["certificates"] == [
        {"fingerprint": fingerprint, "common_name": "cli-push.example"}
    ]
    assert listed["dev-ssh"]["certificates"] == [] and listed["dev-ssh"]["last_push"] is None
    # an emergency change is a work order like any other: the last push is the second one
    assert listed["dev-local"]["last_push"]["work_order"] == again.stdout.split()[0]
    tested = cli("connectors", "test", "dev-local")
    assert tested.returncode == 0 and tested.stdout.startswith("ok")


def test_workflow_from_the_command_line(cli, tmp_path):
    cert, key = c.make_cert("cli-wf.example")
    (tmp_path / "c.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    fingerprint = cert.fingerprint(c.hashes.SHA256()).hex()
    assert cli("db", "upgrade").returncode == 0
    assert cli("keys", "generate").returncode == 0
    cli("import", str(tmp_path / "c.pem"))
    for name, role in (
        ("olivia", "operator"),
        ("ravi", "reviewer"),
        ("ines", "implementer"),
        ("adam", "admin"),
    ):
        cli("users", "add", name, "--role", role, "--password-stdin", stdin="long-password\n")
    (tmp_path / "local.json").write_text(
        json.dumps(
            {
                "profile": "test-files",
                "cert_path": str(tmp_path / "d.crt"),
                "key_path": str(tmp_path / "d.key"),
            }
        )
    )
    cli("connectors", "add", "dev", "--type", "local", "--config", str(tmp_path / "local.json"))
    cli("connectors", "bind", "dev", "--cert", fingerprint)

    refused = cli("push", "request", "--cert", fingerprint, "--as", "ravi")
    assert refused.returncode == 1 and "may not request a push" in refused.stderr
    made = cli(
        "push", "request", "--cert", fingerprint, "--comment", "renewal", "--as", "olivia", "--json"
    )
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["request_id"].startswith("REQ-")
    [wo] = created["work_orders"]
    listed = json.loads(cli("workorders", "list", "--json").stdout)
    assert listed == [
        {
            "id": wo["id"],
            "request_id": created["request_id"],
            "status": "Push-Approval Pending",
            "connector": "dev",
            "certificate": fingerprint,
            "scheduled_at": None,
            "requester": "olivia",
            "reason": "",
            "demo": False,
            "emergency": False,
        }
    ]
    own = cli("workorders", "approve", wo["id"], "--as", "olivia")
    assert own.returncode == 1 and "needs the reviewer role" in own.stderr
    assert cli("workorders", "approve", wo["id"], "--as", "ravi").returncode == 0
    assert json.loads(cli("workorders", "list", "--json").stdout)[0]["status"] == (
        "Push-Review In Progress"
    )
    past = cli("workorders", "implement", wo["id"], "--at", "2020-01-01T00:00Z", "--as", "ines")
    assert past.returncode == 1 and "in the past" in past.stderr
    naive = cli("workorders", "implement", wo["id"], "--at", "2030-01-01T00:00", "--as", "ines")
    assert naive.returncode == 1 and "time zone" in naive.stderr
    later = cli("workorders", "implement", wo["id"], "--at", "2099-01-01T00:00Z", "--as", "ines")
    assert later.returncode == 1 and "days ahead" in later.stderr
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    scheduled = cli("workorders", "implement", wo["id"], "--at", soon, "--as", "ines")
    assert scheduled.returncode == 0 and "Push-Scheduled" in scheduled.stdout
    [row] = json.loads(cli("workorders", "list", "--json", "--status", "Push-Scheduled").stdout)
    assert datetime.fromisoformat(row["scheduled_at"]) == datetime.fromisoformat(soon)
    assert cli("workorders", "reject", wo["id"], "--as", "ines").returncode == 1
    cancelled = cli("workorders", "cancel", wo["id"], "--comment", "window moved", "--as", "olivia")
    assert cancelled.returncode == 0 and "Cancelled" in cancelled.stdout
    assert "1. Approve: reviewer" in cli("policy", "show").stdout
    denied = cli("policy", "set", "Approve:reviewer", "Implement:implementer", "--as", "ines")
    assert denied.returncode == 1 and "may not change the approval policy" in denied.stderr
    three = cli(
        "policy",
        "set",
        "Approve:reviewer",
        "Security:manager",
        "Implement:implementer",
        "--as",
        "adam",
    )
    assert three.returncode == 0, three.stderr
    assert "2. Security: manager" in cli("policy", "show").stdout
