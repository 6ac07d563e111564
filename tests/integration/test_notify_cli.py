"""``certpush notify`` and users' e-mail, run as a user runs them (subprocesses on their
own instance), against a real webhook receiver on 127.0.0.1.

Only admins add, remove and test channels; a channel's URL (and the password inside it)
never comes back out of the CLI or into the audit trail; users change only their own
choices and address; bad names and addresses are told plainly; the outbox shows why a
delivery failed; a key rotation re-seals the channels' URLs like connector secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data import notifications as service
from data.config import Settings
from data.crypto import load_vault
from data.db import session_scope
from data.domain.notifications import EventKind
from data.models import AuditEvent, NotifyChannel
from tests.cli_auth import stdin_for
from tests.webhook_receiver import Receiver

PASSWORD = "long-password-for-tests"
SECRET = "s3cret-hook-pass"


@pytest.fixture
def cli(tmp_path):
    """A migrated instance with a master key, an admin (adam) and an operator (olivia)."""
    env = {**os.environ, "CERTPUSH_INSTANCE": str(tmp_path / "instance")}
    for name in ("DATABASE_URL", "CERTPUSH_MASTER_KEY", "CERTPUSH_MASTER_KEY_FILE"):
        env.pop(name, None)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        passwords = {"adam": PASSWORD, "olivia": PASSWORD}
        return subprocess.run([sys.executable, "-m", "jobs.cli", *args],
                              input=stdin_for(args, passwords, stdin), capture_output=True,
                              text=True, env=env, timeout=120, check=False)  # fmt: skip

    assert run("db", "upgrade").returncode == 0
    assert run("keys", "generate").returncode == 0
    for name, role in (("adam", "admin"), ("olivia", "operator")):
        added = run("users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        assert added.returncode == 0, added.stderr
    run.env = env  # type: ignore[attr-defined]
    run.url = Settings.from_env(env).database_url  # type: ignore[attr-defined]
    return run


def audit_rows(url: str) -> list[AuditEvent]:
    with session_scope(url) as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_only_admins_handle_channels_and_the_url_never_comes_back(cli):
    with Receiver() as hook:
        url = hook.url(f"hook-user:{SECRET}")
        refused = cli("notify", "channels", "add", "ops", "-", "--as", "olivia", stdin=url)
        assert refused.returncode == 1 and "admins only" in refused.stderr
        bad = cli("notify", "channels", "add", "ops", "-", "--events", "failed,nope",
                  "--as", "adam", stdin=url)  # fmt: skip
        assert bad.returncode == 1
        assert "unknown event 'nope'" in bad.stderr and "approval_needed" in bad.stderr
        bad_name = cli("notify", "channels", "add", "Ops Team", "-", "--as", "adam", stdin=url)
        assert bad_name.returncode == 1 and "is not a channel name" in bad_name.stderr
        # The URL from stdin (never in a shell history or `ps`), after the --as password.
        added = cli("notify", "channels", "add", "ops", "-", "--events",
                    "failed,rolled_back", "--as", "adam", stdin=url)  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert SECRET not in added.stdout + added.stderr

        listed = cli("notify", "channels", "list")
        assert listed.returncode == 0 and "ops" in listed.stdout and "json" in listed.stdout
        as_json = json.loads(cli("notify", "channels", "list", "--json").stdout)
        assert as_json == [
            {"name": "ops", "scheme": "json", "events": ["failed", "rolled_back"],
             "created_by": "adam", "created_at": as_json[0]["created_at"]}
        ]  # fmt: skip
        assert SECRET not in listed.stdout and "127.0.0.1" not in listed.stdout

        for verb in ("test", "remove"):
            no = cli("notify", "channels", verb, "ops", "--as", "olivia")
            assert no.returncode == 1 and "admins only" in no.stderr, verb
        assert hook.received == []  # the operator's test sent nothing

        tested = cli("notify", "channels", "test", "ops", "--as", "adam")
        assert tested.returncode == 0, tested.stderr
        assert "accepted the test message" in tested.stdout
        [message] = hook.wait(1)
        assert "test" in message["title"] and "ops" in message["message"]
        assert hook.received[0]["path"] == "/hook"

        hook.status = 500  # the receiver now refuses: the reason, exit 1, no URL
        failed = cli("notify", "channels", "test", "ops", "--as", "adam")
        assert failed.returncode == 1 and "did not accept" in failed.stderr
        assert SECRET not in failed.stdout + failed.stderr

        assert cli("notify", "channels", "remove", "ops", "--as", "adam").returncode == 0
        assert json.loads(cli("notify", "channels", "list", "--json").stdout) == []
        gone = cli("notify", "channels", "test", "ops", "--as", "adam")
        assert gone.returncode == 1 and "no notification channel named 'ops'" in gone.stderr

    trail = audit_rows(cli.url)
    actions = [e.action for e in trail]
    assert "notify.channel.add" in actions and "notify.channel.remove" in actions
    tests = [e for e in trail if e.action == "notify.channel.test"]
    assert [e.detail.split(":")[0] for e in tests] == ["delivered", "failed"]
    assert all(SECRET not in f"{e.target} {e.detail}" for e in trail)


def test_users_change_only_their_own_choices_and_address(cli):
    own = cli("notify", "prefs", "set", "failed", "digest", "--as", "olivia")
    assert own.returncode == 0 and "failed -> digest" in own.stdout
    other = cli("notify", "prefs", "set", "failed", "off", "--user", "adam", "--as", "olivia")
    assert other.returncode == 1 and "users change their own only" in other.stderr
    admin = cli("notify", "prefs", "set", "drift_detected", "now", "--user", "olivia",
                "--as", "adam")  # fmt: skip
    assert admin.returncode == 0, admin.stderr
    unknown = cli("notify", "prefs", "set", "fialed", "now", "--as", "olivia")
    assert unknown.returncode == 1 and "unknown event 'fialed'" in unknown.stderr
    vehicle = cli("notify", "prefs", "set", "digest", "off", "--as", "olivia")
    assert vehicle.returncode == 1 and "not a choice itself" in vehicle.stderr
    bad_mode = cli("notify", "prefs", "set", "failed", "sometimes", "--as", "olivia")
    assert bad_mode.returncode == 1 and "use now, digest, off or default" in bad_mode.stderr

    shown = json.loads(cli("notify", "prefs", "--user", "olivia", "--json").stdout)
    modes = {p["event"]: (p["mode"], p["default"]) for p in shown["preferences"]}
    assert modes["failed"] == ("digest", False)
    assert modes["drift_detected"] == ("now", False)
    assert modes["completed"] == ("now", True)  # the outcome of her own requests
    assert modes["approval_needed"] == ("off", True)  # an operator never approves
    assert "digest" not in modes  # the vehicle, not a choice
    text = cli("notify", "prefs", "--user", "olivia").stdout
    assert "(default)" in text and "no e-mail address" in text
    back = cli("notify", "prefs", "set", "failed", "default", "--as", "olivia")
    assert back.returncode == 0 and "(the default)" in back.stdout

    mine = cli("users", "set-email", "olivia", "olivia@example.org", "--as", "olivia")
    assert mine.returncode == 0, mine.stderr
    theirs = cli("users", "set-email", "adam", "evil@example.org", "--as", "olivia")
    assert theirs.returncode == 1 and "users change their own only" in theirs.stderr
    bad = cli("users", "set-email", "olivia", "Olivia <olivia@example.org>", "--as", "olivia")
    assert bad.returncode == 1 and "is not an e-mail address" in bad.stderr
    assert "olivia@example.org" in cli("notify", "prefs", "--user", "olivia").stdout
    assert cli("users", "set-email", "adam", "adam@example.org", "--as", "adam").returncode == 0
    cleared = cli("users", "set-email", "olivia", "", "--as", "adam")
    assert cleared.returncode == 0 and "no e-mail address" in cleared.stdout

    added = cli("users", "add", "ines", "--role", "implementer", "--password-stdin",
                "--email", "ines@example.org", stdin=PASSWORD)  # fmt: skip
    assert added.returncode == 0 and "ines@example.org" in added.stdout
    broken = cli("users", "add", "ivo", "--role", "implementer", "--password-stdin",
                 "--email", "ivo@", stdin=PASSWORD)  # fmt: skip
    assert broken.returncode == 1 and "is not an e-mail address" in broken.stderr
    assert "ivo" not in cli("users", "list").stdout  # refused as a whole
    assert "ines@example.org" in cli("notify", "prefs", "--user", "ines").stdout
    changes = [e for e in audit_rows(cli.url) if e.action in ("user.email", "notify.preference")]
    assert {e.actor for e in changes} >= {"olivia", "adam"}


def test_the_outbox_shows_what_waits_and_why_a_delivery_failed(cli):
    with Receiver() as hook:
        url = hook.url(f"hook-user:{SECRET}")
        cli("notify", "channels", "add", "ops", "-", "--events", "agent_offline", "--as", "adam",
            stdin=url)  # fmt: skip
    assert cli("notify", "outbox").stdout.strip() == "nothing waits and nothing failed"
    cli("users", "set-email", "adam", "adam@example.org", "--as", "adam")
    cli("notify", "prefs", "set", "agent_offline", "now", "--as", "adam")
    now = datetime.now(UTC)
    with session_scope(cli.url) as db:
        payload = {"event": "agent_offline", "zone": "dmz", "agent": "dmz-1", "at": now.isoformat(),
                   "path": "/agents"}  # fmt: skip
        service.emit(db, EventKind.AGENT_OFFLINE, now=now, payload=payload)
        service.emit(db, EventKind.AGENT_OFFLINE, now=now, payload=payload)
    with session_scope(cli.url) as db:
        claimed = service.claim(db, now=now, lease=timedelta(minutes=1), limit=10)
        by_recipient = {(d.event_id, d.recipient): d.id for d in claimed}
        assert len(claimed) == 4
        first, second = sorted({d.event_id for d in claimed})
        service.mark_failed(db, by_recipient[(first, "channel:ops")],
                            "webhook answered 502 Bad Gateway", now=now,
                            permanent=True)  # fmt: skip
        service.mark_failed(db, by_recipient[(first, "user:adam")],
                            "smtp: connection refused", now=now)  # fmt: skip
        service.mark_sent(db, by_recipient[(second, "user:adam")], now=now)
    # second/channel:ops stays "sending" (claimed, not answered yet)
    shown = cli("notify", "outbox")
    assert shown.returncode == 0
    assert "webhook answered 502 Bad Gateway" in shown.stdout and "failed" in shown.stdout
    assert "smtp: connection refused" in shown.stdout and "pending" in shown.stdout
    rows = json.loads(cli("notify", "outbox", "--json").stdout)
    assert sorted((r["recipient"], r["state"], r["attempts"]) for r in rows) == [
        ("channel:ops", "failed", 1), ("channel:ops", "sending", 0), ("user:adam", "pending", 1)
    ]  # fmt: skip
    failed = next(r for r in rows if r["state"] == "failed")
    assert failed["event"] == "agent_offline" and failed["last_error"].startswith("webhook")
    assert len(json.loads(cli("notify", "outbox", "--json", "--all").stdout)) == 4  # + sent
    assert SECRET not in cli("notify", "outbox", "--all").stdout


def test_a_key_rotation_reseals_the_channels_urls(cli):
    with Receiver() as hook:
        url = hook.url(f"hook-user:{SECRET}")
        assert cli("notify", "channels", "add", "ops", "-", "--as", "adam",
                   stdin=url).returncode == 0  # fmt: skip
        with session_scope(cli.url) as db:
            before = db.scalar(select(NotifyChannel.sealed_url))
        rotated = cli("keys", "rotate", "--json")
        assert rotated.returncode == 0, rotated.stderr
        report = json.loads(rotated.stdout)
        assert report["moved"]["notify_channels"] == 1 and report["remaining"] == 0
        vault = load_vault(Settings.from_env(cli.env))
        with session_scope(cli.url) as db:
            after = db.scalar(select(NotifyChannel.sealed_url))
            assert after != before and after[1:9] == vault.key_id  # under the new key
            assert service.open_channel_url(db, vault, "ops") == url
        status = json.loads(cli("keys", "status", "--json").stdout)
        assert status["to_rotate"] == 0
        assert list(status["values"]["notify_channels"].values()) == [1]
        tested = cli("notify", "channels", "test", "ops", "--as", "adam")
        assert tested.returncode == 0, tested.stderr
        assert len(hook.wait(1)) == 1
