"""The outbox, on SQLite and PostgreSQL: each move of a work order writes its events and
deliveries in the same transaction, to the people the rules name; choices and channels
change who hears; a channel's URL is sealed and never listed; two notifiers never claim
the same delivery, and a crashed one's claims come back after their lease."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data import notifications as outbox
from data.crypto import load_vault
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.notifications import EventKind, Mode
from data.domain.workflow import Action, Actor
from data.models import NotificationDelivery, NotificationEvent, NotifyChannel
from data.users import add_user
from data.workorders import act, request_push
from tests.integration.test_workorders import local_push_setup

OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
RITA = Actor("rita", "reviewer")
INES = Actor("ines", "implementer")
MAYA = Actor("maya", "manager")


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def people(settings):
    with session_scope(settings.database_url) as db:
        for actor in (OLIVIA, RAVI, RITA, INES, MAYA):
            add_user(db, actor.username, actor.role, "long-password", now())
            outbox.set_email(db, actor.username, f"{actor.username}@example.org", actor="t",
                             now=now())  # fmt: skip
        add_user(db, "adam", "admin", "long-password", now())
    return settings


def deliveries(settings) -> list[tuple[str, str, str]]:
    """(event, recipient, state), in order."""
    with session_scope(settings.database_url) as db:
        rows = db.execute(
            select(
                NotificationEvent.kind, NotificationDelivery.recipient, NotificationDelivery.state
            )
            .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
            .order_by(NotificationDelivery.id)
        ).all()
    return [tuple(r) for r in rows]


def test_each_step_tells_the_next_person_and_the_requester(people, tmp_path):
    settings = people
    vault = load_vault(settings)
    fingerprint = local_push_setup(settings, vault, tmp_path)
    with session_scope(settings.database_url) as db:
        outbox.set_preference(db, "rita", EventKind.APPROVAL_NEEDED, Mode.DIGEST, now=now())
        _req, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renew")
    # Both reviewers may act: ravi as it happens, rita in her digest; never the requester.
    assert deliveries(settings) == [
        ("approval_needed", "user:ravi", "pending"),
        ("approval_needed", "user:rita", "digest"),
    ]
    with session_scope(settings.database_url) as db:
        assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok
    assert deliveries(settings)[2:] == [
        ("approved", "user:olivia", "pending"),
        ("approval_needed", "user:ines", "pending"),
    ]
    with session_scope(settings.database_url) as db:
        assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok
        event = db.scalar(select(NotificationEvent).order_by(NotificationEvent.id.desc()))
    assert deliveries(settings)[4:] == [("implemented", "user:olivia", "pending")]
    payload = json.loads(event.payload)
    assert payload["work_order"] == wo.label
    assert payload["certificate"]["fingerprint"] == fingerprint
    assert payload["connector"]["name"] == "dev-local" and payload["actor"] == "ines"
    assert payload["path"] == f"/certificates/{fingerprint}/topology"


def test_a_refused_action_tells_nobody(people, tmp_path):
    settings = people
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    with session_scope(settings.database_url) as db:
        _req, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now())
    before = deliveries(settings)
    with session_scope(settings.database_url) as db:
        assert not act(db, wo.id, Action.APPROVE, actor=OLIVIA, now=now()).ok  # four eyes
        assert not act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok  # too early
    assert deliveries(settings) == before


def test_channels_are_admin_only_sealed_and_subscribed(people, tmp_path):
    settings = people
    vault = load_vault(settings)
    url = "json://hook-user:s3cret-pass@127.0.0.1:9/hook"
    with session_scope(settings.database_url) as db:
        with pytest.raises(CertpushError, match="admins only"):
            outbox.add_channel(db, vault, name="ops", url=url, events="failed", actor="olivia",
                               role="operator", now=now())  # fmt: skip
        info = outbox.add_channel(db, vault, name="ops", url=url,
                                  events="approval_needed,failed", actor="adam", role="admin",
                                  now=now())  # fmt: skip
        assert "s3cret" not in repr(info.to_json())
        assert b"s3cret" not in db.scalar(select(NotifyChannel.sealed_url))
        assert outbox.open_channel_url(db, vault, "ops") == url
        with pytest.raises(CertpushError, match="unknown event 'nope'"):
            outbox.add_channel(db, vault, name="x", url=url, events="nope", actor="adam",
                               role="admin", now=now())  # fmt: skip
    fingerprint = local_push_setup(settings, vault, tmp_path)
    with session_scope(settings.database_url) as db:
        request_push(db, fingerprint, actor=OLIVIA, now=now())
    assert ("approval_needed", "channel:ops", "pending") in deliveries(settings)


def test_claims_are_exclusive_retried_with_backoff_and_recovered(people, tmp_path):
    settings = people
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    with session_scope(settings.database_url) as db:
        outbox.set_preference(db, "rita", EventKind.APPROVAL_NEEDED, Mode.NOW, now=now())
        request_push(db, fingerprint, actor=OLIVIA, now=now())
    start = now()
    lease = timedelta(seconds=60)
    with session_scope(settings.database_url) as db:
        first = outbox.claim(db, now=start, lease=lease, limit=1)
    with session_scope(settings.database_url) as db:
        second = outbox.claim(db, now=start, lease=lease)
    assert len(first) == 1 and len(second) == 1 and first[0].id != second[0].id
    with session_scope(settings.database_url) as db:
        assert outbox.claim(db, now=start, lease=lease) == []  # both are taken
        assert outbox.mark_failed(db, first[0].id, "connection refused", now=start) == "pending"
        outbox.mark_sent(db, second[0].id, now=start)
    with session_scope(settings.database_url) as db:
        assert outbox.claim(db, now=start + timedelta(seconds=4), lease=lease) == []
        again = outbox.claim(db, now=start + timedelta(seconds=6), lease=lease)
        assert [d.id for d in again] == [first[0].id] and again[0].attempts == 1
        assert again[0].last_error == "connection refused"
    # The notifier holding it dies: after the lease, another takes it over.
    with session_scope(settings.database_url) as db:
        assert outbox.claim(db, now=start + timedelta(seconds=30), lease=lease) == []
        taken = outbox.claim(db, now=start + timedelta(seconds=67), lease=lease)
        assert [d.id for d in taken] == [first[0].id]
        shown = {d.id: d.state for d in outbox.outbox(db)}
        assert shown == {first[0].id: "sending"}
