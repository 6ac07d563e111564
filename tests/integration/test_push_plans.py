"""What is approved is exactly what runs: pinned push plans, preflight, device profiles.

Through the public surfaces: the connector form's callbacks called as a forged POST, the
data services the CLI and UI share, the scheduler's push of a claimed work order, and the
CLI. Devices here are local folders (the device profile's commands leave traces in a log);
tests/integration/test_builtin_profiles.py pushes to real nginx, apache2 and haproxy.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.connectors import add_connector, bind, update_connector
from data.crypto import load_vault
from data.db import session_scope
from data.domain.connector_specs import ConnectorConfigError
from data.domain.errors import PermissionDenied
from data.domain.workflow import Action, Actor
from data.domain.workflow import WorkOrderStatus as S
from data.importer import import_paths
from data.models import AuditEvent, Connector
from data.push_plans import current_plan
from data.users import add_user
from data.workorders import act, claim_due, get_work_order, request_push, work_order_detail
from jobs.plan_checks import check_plan
from jobs.workorders import run_work_order
from tests.cli_auth import stdin_for
from tests.dash_calls import ActingAs, component_text
from tests.profiles import define
from tests.servers import make_cert_files

PASSWORD = "correct horse battery staple"
OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
USERS = {"olivia": "operator", "ravi": "reviewer", "ines": "implementer", "adam": "admin"}


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def device(sqlite_settings, tmp_path):
    """A certificate with its key, and a local connector 'dev' whose profile logs its
    commands to a file: what ran on the device is read from there."""
    log = tmp_path / "commands.log"
    folder = tmp_path / "device"
    folder.mkdir()
    cert, key, fingerprint = make_cert_files(tmp_path / "inventory", "plan.example")
    profile = define("plan-log", reload=["sh", "-c", f"echo v1 >> {log}"])
    vault = load_vault(sqlite_settings)
    with session_scope(sqlite_settings.database_url) as db:
        for name, role in USERS.items():
            add_user(db, name, role, PASSWORD, now())
        import_paths(db, vault, [cert, key], now=now(), actor="t")
        add_connector(db, vault, name="dev", type_name="local", actor="adam", role="admin",
                      now=now(), settings={"profile": profile,
                                           "cert_path": str(folder / "site.crt"),
                                           "key_path": str(folder / "site.key")},
                      endpoints=[])  # fmt: skip
        bind(db, "dev", fingerprint, actor="t", now=now())
    return {"fingerprint": fingerprint, "log": log, "folder": folder, "vault": vault}


def _request_and_approve(settings) -> int:
    with session_scope(settings.database_url) as db:
        _, [wo] = request_push(db, _fp(settings), actor=OLIVIA, now=now(), comment="renewal")
        assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now(), comment="ok").ok
    return wo.id


def _fp(settings) -> str:
    from data.models import Certificate

    with session_scope(settings.database_url) as db:
        return db.scalar(select(Certificate.fingerprint_sha256).where(
            Certificate.common_name == "plan.example"))  # fmt: skip


def _audit(settings, action: str) -> list[str]:
    with session_scope(settings.database_url) as db:
        return list(db.scalars(select(AuditEvent.detail).where(AuditEvent.action == action)))


# ---------------------------------------------------------------- the exploit, refused


@pytest.fixture
def web(sqlite_settings, device):
    from dashboard.app import app

    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def _form(settings: dict) -> tuple[list[dict], list]:
    names = [{"type": "connector-field", "name": k} for k in settings]
    return names, list(settings.values())


def test_operator_forging_a_local_connector_is_refused_stored_nothing_and_audited(
    web, sqlite_settings, device
):
    """The reported exploit: a local connector whose command runs on the certpush host and
    whose key path is the master key. Posted by an operator, it is refused and audited."""
    from dashboard.callbacks.connectors import save_connector

    master_key = str(sqlite_settings.instance_dir / "master.key")
    names, values = _form({"profile": "files-only", "cert_path": "/tmp/x.crt",
                           "key_path": master_key})  # fmt: skip
    with ActingAs(web, "olivia", PASSWORD):
        _, _, message = save_connector(
            1, device["fingerprint"], "grab", "local", names, values, None, None, ""
        )
    assert "Refused" in component_text(message) and "only an admin may" in component_text(message)
    with session_scope(sqlite_settings.database_url) as db:
        assert db.scalar(select(Connector).where(Connector.name == "grab")) is None
    assert any("only an admin may" in d for d in _audit(sqlite_settings, "connector.add.refused"))
    from dashboard.callbacks.connectors import test_connection

    with ActingAs(web, "olivia", PASSWORD):  # "Test connection" would look at this host too
        task, _, _, shown = test_connection(1, "local", names, values, None, None, "")
    assert task is None and "only an admin may" in component_text(shown)
    # An ssh connector typing a command is refused with the way to do it now.
    names, values = _form({"profile": "nginx", "host": "10.0.0.5", "username": "deploy",
                           "cert_path": "/etc/nginx/a.crt", "key_path": "/etc/nginx/a.key",
                           "reload_command": f"cp {master_key} /tmp/stolen"})  # fmt: skip
    with ActingAs(web, "olivia", PASSWORD):
        _, _, errors = save_connector(
            1, device["fingerprint"], "sneaky", "ssh", names, values, "password", "pw", ""
        )
    assert "device profile" in component_text(errors)
    with session_scope(sqlite_settings.database_url) as db:
        assert db.scalar(select(Connector).where(Connector.name == "sneaky")) is None


def test_paths_must_stay_inside_the_profiles_folders(sqlite_settings, device, tmp_path):
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir(), outside.mkdir()
    profile = define("narrow", folders=[str(allowed)])
    vault = device["vault"]
    cases = {
        str(outside / "a.crt"): "outside the folders profile narrow may write to",
        f"{allowed}/../outside/a.crt": "'..'",
        "relative/a.crt": "absolute path",
    }
    for path, why in cases.items():
        with (
            session_scope(sqlite_settings.database_url) as db,
            pytest.raises(ConnectorConfigError) as exc,
        ):
            add_connector(db, vault, name="bad", type_name="local", actor="adam", role="admin",
                          now=now(), settings={"profile": profile, "cert_path": path,
                                               "key_path": str(allowed / "a.key")})  # fmt: skip
        assert why in exc.value.errors["cert_path"], exc.value.errors
    # A symlink inside the allowed folder that leads out of it: refused before writing.
    (allowed / "link").symlink_to(outside)
    with session_scope(sqlite_settings.database_url) as db:
        link = allowed / "link"
        add_connector(db, vault, name="linked", type_name="local", actor="adam", role="admin",
                      now=now(), settings={"profile": profile, "cert_path": str(link / "a.crt"),
                                           "key_path": str(link / "a.key")})  # fmt: skip
        bind(db, "linked", device["fingerprint"], actor="t", now=now())
    from jobs.push import push_certificate

    report = push_certificate(sqlite_settings.database_url, vault, device["fingerprint"],
                              "linked", actor="adam")  # fmt: skip
    assert report.outcome.value == "failed"
    assert "resolves outside the profile's folders" in report.reason
    assert list(outside.iterdir()) == []  # nothing written


def test_local_connectors_need_the_host_to_allow_them(sqlite_settings, device, monkeypatch):
    monkeypatch.setenv("CERTPUSH_LOCAL_CONNECTORS", "off")
    with (
        session_scope(sqlite_settings.database_url) as db,
        pytest.raises(ConnectorConfigError) as exc,
    ):
        add_connector(db, device["vault"], name="l2", type_name="local", actor="adam",
                      role="admin", now=now(), settings={"profile": "test-files",
                      "cert_path": "/tmp/l2.crt", "key_path": "/tmp/l2.key"})  # fmt: skip
    assert "CERTPUSH_LOCAL_CONNECTORS=on" in exc.value.errors["type"]
    with session_scope(sqlite_settings.database_url) as db, pytest.raises(PermissionDenied):
        update_connector(db, device["vault"], "dev", endpoints=["127.0.0.1:10"],
                         actor="olivia", role="operator", now=now())  # fmt: skip


# ----------------------------------------------------------- a change voids approvals


def test_changed_endpoints_void_the_approvals_ui_and_cli(web, sqlite_settings, device, cli_env):
    from dashboard.callbacks.connectors import save_endpoints

    wo_id = _request_and_approve(sqlite_settings)
    with session_scope(sqlite_settings.database_url) as db:
        first = current_plan(db, wo_id).digest
        assert get_work_order(db, wo_id).status is S.REVIEW_IN_PROGRESS
    with ActingAs(web, "olivia", PASSWORD):  # the operator edits the endpoints in the UI
        save_endpoints(1, "dev", "127.0.0.1:9 plan.example\n127.0.0.1:10 plan.example")
    with session_scope(sqlite_settings.database_url) as db:
        view = get_work_order(db, wo_id)
        detail = work_order_detail(db, wo_id)
    assert view.status is S.APPROVAL_PENDING and view.levels_done == 0
    second = detail["plan"]["digest"]
    assert second != first and len(detail["plan"]["endpoints"]) == 2
    assert detail["approvals"][0]["plan_digest"] == first
    assert detail["approvals"][0]["stands"] is False
    assert "approvals given for plan" in detail["history"][-1]["comment"]
    # The same reviewer approves again, for the new plan.
    with session_scope(sqlite_settings.database_url) as db:
        assert act(db, wo_id, Action.APPROVE, actor=RAVI, now=now(), comment="again").ok
        detail = work_order_detail(db, wo_id)
    assert [a["stands"] for a in detail["approvals"]] == [False, True]
    assert detail["approvals"][1]["plan_digest"] == second
    # Through the CLI: connectors update as the operator.
    config = Path(cli_env["tmp"]) / "dev.json"
    config.write_text(json.dumps({"endpoints": ["127.0.0.1:11 plan.example"]}))
    done = cli_env["run"]("connectors", "update", "dev", "--config", str(config), "--as", "adam")
    assert done.returncode == 0, done.stderr
    assert "are void" in done.stdout
    shown = json.loads(cli_env["run"]("workorders", "show", f"WO-{wo_id:06d}", "--json").stdout)
    assert shown["status"] == S.APPROVAL_PENDING.value
    assert shown["plan"]["endpoints"] == [{"host": "127.0.0.1", "port": 11, "sni": "plan.example"}]
    assert not any(a["stands"] for a in shown["approvals"])


def test_a_stale_plan_never_runs_and_only_the_approved_commands_do(sqlite_settings, device):
    """Approve and implement, then change the profile file before the push: the push does
    not run, the work order goes back for approval with the new plan. Approved again, only
    the new plan's command runs (the device's command log shows it)."""
    wo_id = _request_and_approve(sqlite_settings)
    url, vault, log = sqlite_settings.database_url, device["vault"], device["log"]
    with session_scope(url) as db:
        assert act(db, wo_id, Action.IMPLEMENT, actor=INES, now=now()).ok
    define("plan-log", reload=["sh", "-c", f"echo v2 >> {log}"])  # the administrator edits
    with session_scope(url) as db:
        assert claim_due(db, owner="t", now=now(), grace=timedelta(hours=1),
                         lease=timedelta(minutes=5), limit=5) == [wo_id]  # fmt: skip
    assert run_work_order(url, vault, wo_id, "t") is False
    assert not log.exists() and not (device["folder"] / "site.crt").exists()
    with session_scope(url) as db:
        detail = work_order_detail(db, wo_id)
    assert detail["status"] == S.APPROVAL_PENDING.value
    assert detail["plan"]["commands"]["reload"] == ["sh", "-c", f"echo v2 >> {log}"]
    assert "not pushed" in detail["history"][-1]["comment"]
    with session_scope(url) as db:
        assert act(db, wo_id, Action.APPROVE, actor=RAVI, now=now()).ok
        assert act(db, wo_id, Action.IMPLEMENT, actor=INES, now=now()).ok
        claim_due(db, owner="t", now=now(), grace=timedelta(hours=1),
                  lease=timedelta(minutes=5), limit=5)  # fmt: skip
    assert run_work_order(url, vault, wo_id, "t") is True
    assert log.read_text() == "v2\n"  # the approved command, once; never v1
    assert (device["folder"] / "site.key").stat().st_mode & 0o777 == 0o600
    with session_scope(url) as db:
        detail = work_order_detail(db, wo_id)
    assert detail["status"] == S.COMPLETED.value
    assert detail["plan"]["preflight"]["status"] in ("ok", "warning")  # checked at push time
    starts = _audit(sqlite_settings, "push.start")
    assert any(detail["plan"]["digest"] in d for d in starts)  # recorded before the device


def test_a_preflight_blocker_refuses_approve_with_the_reason(sqlite_settings, device):
    with session_scope(sqlite_settings.database_url) as db:
        update_connector(db, device["vault"], "dev", endpoints=["127.0.0.1:9 other.example"],
                         actor="adam", role="admin", now=now())  # fmt: skip
        _, [wo] = request_push(db, device["fingerprint"], actor=OLIVIA, now=now())
        plan = current_plan(db, wo.id)
    result = check_plan(sqlite_settings.database_url, device["vault"], plan, now=now(),
                        min_days_left=7)  # fmt: skip
    assert result["status"] == "blocker"
    with session_scope(sqlite_settings.database_url) as db:
        refused = act(db, wo.id, Action.APPROVE, actor=RAVI, now=now())
        assert get_work_order(db, wo.id).status is S.APPROVAL_PENDING
    assert not refused.ok and "preflight found a blocker" in refused.message
    assert "other.example" in refused.message
    assert _audit(sqlite_settings, "workorder.approve.refused")


def test_an_approval_for_a_plan_nobody_was_shown_is_refused(sqlite_settings, device):
    with session_scope(sqlite_settings.database_url) as db:
        _, [wo] = request_push(db, device["fingerprint"], actor=OLIVIA, now=now())
        result = act(db, wo.id, Action.APPROVE, actor=RAVI, now=now(), plan_digest="0" * 64)
    assert not result.ok and "changed since you opened it" in result.message


# ------------------------------------------------------------------ profiles file


def test_profiles_check_says_which_line_and_why_and_the_last_good_stays(
    sqlite_settings, cli_env, tmp_path
):
    from data.config import Settings
    from data.profiles import load_book

    path = Path(os.environ["CERTPUSH_PROFILES_FILE"])
    good = path.read_text()
    settings = Settings.from_env()
    assert load_book(settings).get("test-files") is not None  # remembered as last good
    bad = {
        "[profiles.x]\nlayout = \n": "not valid TOML",
        '[profiles.x]\nlayout = "zip"\nfolders = ["/srv"]\n': "line 2",
        '[profiles.x]\nlayout = "separate"\nfolders = ["srv"]\n': "must be an absolute path",
        '[profiles.x]\nlayout = "separate"\nfolders = ["/srv", "/srv/tls"]\n': "overlap",
        '[profiles.x]\nlayout = "separate"\nfolders = ["/srv"]\ntest = "nginx -t"\n':
            "line 4: profile 'x': test must be a list",
    }  # fmt: skip
    try:
        for text, why in bad.items():
            path.write_text(text)
            checked = cli_env["run"]("profiles", "check")
            assert checked.returncode == 1 and why in checked.stderr, (text, checked.stderr)
            book = load_book(settings)
            assert book.error is not None and book.get("test-files") is not None
    finally:
        path.write_text(good)
    assert "valid" in cli_env["run"]("profiles", "check").stdout
    listed = json.loads(cli_env["run"]("profiles", "list", "--json").stdout)
    assert {"nginx", "apache2", "haproxy", "files-only"} <= {p["name"] for p in listed}


def test_connectors_with_free_commands_are_migrated_to_a_profile_for_review(tmp_path, cli_env):
    from sqlalchemy import create_engine, text

    from data.config import Settings
    from data.schema import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0007")
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO connectors (name, type, settings, created_at, created_by) VALUES "
                "('old-web', 'ssh', :s, '2026-01-01 00:00:00', 'op')"
            ),
            {
                "s": json.dumps(
                    {
                        "host": "10.0.0.5",
                        "username": "deploy",
                        "cert_path": "/etc/nginx/tls/a.crt",
                        "key_path": "/etc/nginx/tls/a.key",
                        "fullchain": True,
                        "test_command": "sudo nginx -t",
                        "reload_command": "sudo nginx -s reload",
                    }
                )
            },
        )
    upgrade(url)
    with engine.begin() as c:
        settings = json.loads(c.execute(text("SELECT settings FROM connectors")).scalar())
    assert settings["profile"] == "migrated-old-web"
    assert "test_command" not in settings and "fullchain" not in settings
    env = {"DATABASE_URL": url}
    listed = json.loads(cli_env["run"]("profiles", "list", "--json", **env).stdout)
    migrated = next(p for p in listed if p["name"] == "migrated-old-web")
    assert migrated["needs_review"] is True and migrated["layout"] == "fullchain"
    assert migrated["reload"] == ["/bin/sh", "-c", "sudo nginx -s reload"]
    assert migrated["folders"] == ["/etc/nginx/tls"]
    cli_env["run"]("users", "add", "adam", "--role", "admin", "--password-stdin",
                   stdin=PASSWORD + "\n", **env)  # fmt: skip
    assert cli_env["run"]("profiles", "review", "migrated-old-web", "--as", "adam",
                          **env).returncode == 0  # fmt: skip
    listed = json.loads(cli_env["run"]("profiles", "list", "--json", **env).stdout)
    assert not next(p for p in listed if p["name"] == "migrated-old-web")["needs_review"]
    del Settings


def test_pkcs12_layout_writes_the_file_and_its_password(sqlite_settings, device, tmp_path):
    from cryptography.hazmat.primitives.serialization import pkcs12

    from jobs.push import push_certificate

    folder = tmp_path / "p12"
    folder.mkdir()
    profile = define("test-p12", layout="pkcs12", folders=[str(folder)])
    with session_scope(sqlite_settings.database_url) as db:
        add_connector(db, device["vault"], name="java", type_name="local", actor="adam",
                      role="admin", now=now(), settings={"profile": profile,
                      "cert_path": str(folder / "keystore.p12")})  # fmt: skip
        bind(db, "java", device["fingerprint"], actor="t", now=now())
    args = (sqlite_settings.database_url, device["vault"], device["fingerprint"], "java")
    assert push_certificate(*args, actor="adam").outcome.value == "installed"
    password = (folder / "keystore.p12.pass").read_bytes().strip()
    _key, cert, _ = pkcs12.load_key_and_certificates((folder / "keystore.p12").read_bytes(),
                                                    password)  # fmt: skip
    assert cert.fingerprint(cert.signature_hash_algorithm).hex() == device["fingerprint"]
    assert (folder / "keystore.p12.pass").stat().st_mode & 0o777 == 0o600
    assert push_certificate(*args, actor="adam").outcome.value == "already_installed"


@pytest.fixture
def cli_env(sqlite_settings, tmp_path):
    """The CLI as a separate process, on the test's database and master key."""
    import subprocess
    import sys

    env = {**os.environ, "CERTPUSH_INSTANCE": str(sqlite_settings.instance_dir),
           "DATABASE_URL": sqlite_settings.database_url,
           "CERTPUSH_MASTER_KEY": sqlite_settings.master_key or ""}  # fmt: skip

    def run(*args: str, stdin: str = "", **more: str) -> subprocess.CompletedProcess[str]:
        stdin = stdin_for(args, {"adam": PASSWORD}, stdin)
        return subprocess.run([sys.executable, "-m", "jobs.cli", *args], input=stdin,
                              capture_output=True, text=True, env={**env, **more}, timeout=120,
                              check=False)  # fmt: skip

    return {"run": run, "tmp": str(tmp_path)}


def test_a_profile_awaiting_review_is_flagged_to_the_approvers(sqlite_settings, device):
    from data.profiles import store_profile

    folder = str(device["folder"])
    with session_scope(sqlite_settings.database_url) as db:
        store_profile(db, "migrated-dev", {"layout": "separate", "folders": [folder],
                                           "reload": ["/bin/sh", "-c", "true"]},
                      now=now(), needs_review=True)  # fmt: skip
        update_connector(db, device["vault"], "dev", actor="adam", role="admin", now=now(),
                         settings={"profile": "migrated-dev", "cert_path": f"{folder}/a.crt",
                                   "key_path": f"{folder}/a.key"})  # fmt: skip
        _, [wo] = request_push(db, device["fingerprint"], actor=OLIVIA, now=now())
        plan = current_plan(db, wo.id)
    assert plan.body["profile"]["needs_review"] is True
    result = check_plan(sqlite_settings.database_url, device["vault"], plan, now=now(),
                        min_days_left=7)  # fmt: skip
    [flag] = [c for c in result["checks"] if c["name"] == "profile"]
    assert flag["status"] == "warning" and "needs an admin's review" in flag["message"]
    assert result["status"] != "ok"


def test_an_edited_profile_file_voids_approvals_within_a_scheduler_tick(
    sqlite_settings, device, monkeypatch
):
    """The administrator edits the profile after the approval: the scheduler's plan refresh
    (every 30 s) sends the work order back for approval, saying what changed."""
    from jobs.plan_checks import refresh_open_plans

    monkeypatch.setenv("DATABASE_URL", sqlite_settings.database_url)
    wo_id = _request_and_approve(sqlite_settings)
    refresh_open_plans()  # nothing changed: nothing happens
    with session_scope(sqlite_settings.database_url) as db:
        assert get_work_order(db, wo_id).status is S.REVIEW_IN_PROGRESS
    define("plan-log", reload=["sh", "-c", "echo edited"])
    refresh_open_plans()
    with session_scope(sqlite_settings.database_url) as db:
        detail = work_order_detail(db, wo_id)
    assert detail["status"] == S.APPROVAL_PENDING.value
    assert "in: commands, profile" in detail["history"][-1]["comment"]
    assert detail["history"][-1]["by"] == "scheduler"


def test_no_audit_record_no_push(sqlite_settings, device):
    """The attempt and its audit event are written before the device is touched: when that
    write fails (here the attempts table is gone), the push stops before the device, whose
    folder and command log stay untouched."""
    from sqlalchemy import text

    from data.db import engine_for
    from jobs.push import push_certificate

    with engine_for(sqlite_settings.database_url).begin() as connection:
        connection.execute(text("DROP TABLE push_attempts"))
    with pytest.raises(Exception, match="push_attempts"):
        push_certificate(sqlite_settings.database_url, device["vault"], device["fingerprint"],
                         "dev", actor="adam")  # fmt: skip
    assert list(device["folder"].iterdir()) == [] and not device["log"].exists()
