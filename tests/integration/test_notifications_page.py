"""The Notifications page's callbacks called as functions: every user sets their own
address and choices; only admins see and handle channels and the outbox, checked on the
server (a forged call is refused and audited); a channel's URL never reaches the page,
and its Test is sent by the scheduler's task runner to a real webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data import notifications as service
from data.crypto import load_vault
from data.db import session_scope
from data.domain.notifications import EventKind
from data.models import AuditEvent, NotifyChannel
from data.users import add_user
from tests.dash_calls import ActingAs, component_text
from tests.webhook_receiver import Receiver

PASSWORD = "correct horse battery staple"
SECRET = "s3cret-hook-pass"


@pytest.fixture
def web(sqlite_settings):
    from dashboard.app import app

    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "adam", "admin", PASSWORD, now)
        add_user(db, "alma", "admin", PASSWORD, now)
        add_user(db, "olivia", "operator", PASSWORD, now)
        add_user(db, "ravi", "reviewer", PASSWORD, now)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def refusals(settings, action: str) -> list[AuditEvent]:
    with session_scope(settings.database_url) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def chosen_in(component) -> dict[str, str]:
    """Kind -> the value of its select, in a rendered choices table."""
    found = {}

    def walk(node) -> None:
        if isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif hasattr(node, "to_plotly_json"):
            ident = getattr(node, "id", None)
            if isinstance(ident, dict) and ident.get("type") == "notify-pref":
                found[ident["kind"]] = node.value
            walk(getattr(node, "children", None))

    walk(component)
    return found


def test_each_user_sets_their_own_address_and_choices(web, sqlite_settings):
    from dashboard.callbacks.notifications import my_settings, save_choices, save_email

    with ActingAs(web, None, PASSWORD):
        said, colour, *_ = save_email(1, "someone@example.org")
        assert colour == "danger" and "log in" in said
    with ActingAs(web, "ravi", PASSWORD):
        email, table, admin_hidden = my_settings("/notifications")
        assert email == "" and admin_hidden is True
        assert set(chosen_in(table).values()) == {"default"} and len(chosen_in(table)) == 18
        text = component_text(table)
        assert "Approval needed" in text and "default (as it happens)" in text  # a reviewer
        said, colour, *_ = save_email(1, "Ravi <ravi@example.org>")
        assert colour == "danger" and "is not an e-mail address" in said
        said, colour, _open, field = save_email(1, " ravi@example.org ")
        assert colour == "success" and field == "ravi@example.org"
        assert my_settings("/notifications")[0] == "ravi@example.org"
        said, colour, _open, table = save_choices({"approval_needed": "digest", "failed": "off"})
        assert colour == "success" and "approval_needed: digest" in said
        assert chosen_in(table) == {
            **chosen_in(table),
            "approval_needed": "digest",
            "failed": "off",
        }
        said, colour, *_ = save_choices({"approval_needed": "digest", "failed": "off"})
        assert colour == "secondary" and "Nothing changed" in said
        said, colour, *_ = save_choices({"nope": "now"})
        assert colour == "danger" and "unknown event 'nope'" in said
        said, colour, *_ = save_choices({"failed": "loud"})
        assert colour == "danger" and "use now, digest, off or default" in said
    with session_scope(sqlite_settings.database_url) as db:
        mine = {p.kind: (p.mode.value, p.chosen) for p in service.preferences(db, "ravi")}
        assert mine[EventKind.APPROVAL_NEEDED] == ("digest", True)
        assert mine[EventKind.FAILED] == ("off", True)
        others = {p.kind: p.chosen for p in service.preferences(db, "olivia")}
        assert not any(others.values())  # nobody else's choices moved
        assert service.user_address(db, "olivia") is None
    with ActingAs(web, "ravi", PASSWORD):
        said, colour, *_ = save_choices({"failed": "default"})
        assert colour == "success"
        said, colour, *_ = save_email(1, "")
        assert colour == "success" and "no e-mail address" in said
    with session_scope(sqlite_settings.database_url) as db:
        assert service.user_address(db, "ravi") is None
        failed = next(p for p in service.preferences(db, "ravi") if p.kind is EventKind.FAILED)
        assert failed.chosen is False


def test_only_admins_handle_channels_and_the_url_never_reaches_the_page(
    web, sqlite_settings, monkeypatch
):
    from dashboard.callbacks.notifications import (
        add_channel,
        admin_tables,
        my_settings,
        poll_test,
        queue_test,
        remove_channel,
    )
    from jobs.tasks import run_one_task

    monkeypatch.setenv("DATABASE_URL", sqlite_settings.database_url)  # the task runner's
    vault = load_vault(sqlite_settings)
    with Receiver() as hook:
        url = hook.url(f"hook-user:{SECRET}")
        with ActingAs(web, "olivia", PASSWORD):  # the page hides it all; she forges calls
            channels, outbox = admin_tables(None, "/notifications")
            assert "admins only" in channels and outbox is None
            said, colour, _open, url_field, _name, _events, refresh = add_channel(
                "ops", url, ["failed"]
            )
            assert colour == "danger" and said.startswith("Refused") and "admins only" in said
            assert url_field == ""  # the URL field is emptied even then
            assert queue_test("ops")[0].startswith("Refused")
            assert remove_channel("ops")[0].startswith("Refused")
        assert len(refusals(sqlite_settings, "notify.channel.add.refused")) == 1
        assert refusals(sqlite_settings, "notify.channel.test.refused")[0].actor == "olivia"
        assert len(refusals(sqlite_settings, "notify.channel.remove.refused")) == 1
        with session_scope(sqlite_settings.database_url) as db:
            assert db.scalar(select(NotifyChannel.id)) is None

        with ActingAs(web, "adam", PASSWORD):
            assert my_settings("/notifications")[2] is False  # the admin section shows
            said, colour, *_ = add_channel("ops", "not a url", [])
            assert colour == "danger" and "Apprise URL" in said
            said, colour, _open, url_field, name_field, events, refresh = add_channel(
                "ops", url, ["failed", "rolled_back"]
            )
            assert colour == "success" and url_field == "" and name_field == "" and events == []
            assert refresh == {"channel": "ops"} and SECRET not in said
            channels, outbox = admin_tables(refresh, "/notifications")
            text = component_text(channels)
            assert "ops" in text and "json" in text and "failed, rolled_back" in text
            assert SECRET not in text and str(hook.port) not in text
            assert "Nothing waits" in component_text(outbox)

            said, colour, _open, task, poll_disabled, _n = queue_test("ops")
            assert colour == "light" and poll_disabled is False
            assert hook.received == []  # the web process itself sends nothing
            assert poll_test(1, task, 60)[3] is False  # not answered yet: poll on
        assert run_one_task(sqlite_settings.database_url, vault)  # the scheduler's part
        [message] = hook.wait(1)
        assert "ops" in message["message"] and "adam" in message["message"]
        with ActingAs(web, "alma", PASSWORD):  # another admin cannot read adam's task
            said, colour, *_ = poll_test(2, task, 60)
            assert colour == "danger" and "no task" in said
        with ActingAs(web, "adam", PASSWORD):
            said, colour, _open, done = poll_test(2, task, 60)
            assert colour == "success" and "accepted the test message" in said and done

            hook.status = 500
            task = queue_test("ops")[3]
        assert run_one_task(sqlite_settings.database_url, vault)
        with ActingAs(web, "adam", PASSWORD):
            said, colour, *_ = poll_test(1, task, 60)
            assert colour == "danger" and "did not accept" in said and SECRET not in said
            said, colour, *_ = remove_channel("ops")
            assert colour == "success"
            assert "No channel yet" in component_text(admin_tables(None, None)[0])
            assert "no notification channel" in queue_test("ops")[0]
    with session_scope(sqlite_settings.database_url) as db:
        trail = list(db.scalars(select(AuditEvent)))
    assert all(SECRET not in f"{e.target} {e.detail}" for e in trail)
    assert [e.detail.split(":")[0] for e in trail if e.action == "notify.channel.test"] == [
        "delivered", "failed"
    ]  # fmt: skip


def test_admins_see_the_outbox_with_the_last_error(web, sqlite_settings):
    from dashboard.callbacks.notifications import admin_tables

    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        service.set_email(db, "adam", "adam@example.org", actor="t", now=now)
        service.set_preference(db, "adam", EventKind.ZONE_OFFLINE, "now", now=now)
        service.set_preference(db, "olivia", EventKind.ZONE_OFFLINE, "digest", now=now)
        service.set_email(db, "olivia", "olivia@example.org", actor="t", now=now)
        payload = {"event": "zone_offline", "zone": "dmz", "path": "/agents"}
        service.emit(db, EventKind.ZONE_OFFLINE, now=now, payload=payload)
    with session_scope(sqlite_settings.database_url) as db:
        [delivery] = service.claim(db, now=now, lease=timedelta(minutes=1))
        service.mark_failed(db, delivery.id, "smtp: 554 relay refused", now=now, permanent=True)
    with ActingAs(web, "adam", PASSWORD):
        text = component_text(admin_tables(None, "/notifications")[1])
    assert "smtp: 554 relay refused" in text and "user:adam" in text and "failed" in text
    assert "user:olivia" in text and "digest" in text  # waiting for her daily digest
    with ActingAs(web, "ravi", PASSWORD):
        channels, outbox = admin_tables(None, "/notifications")
    assert outbox is None and "relay refused" not in component_text(channels)
