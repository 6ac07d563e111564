"""Events that are not work-order moves, and the daily digests, on SQLite and PostgreSQL:
bound certificates entering Orange or Red, agents and zones going silent, drift seen by a
real sweep against a private nginx, each told once; the digests list exactly what they
should, once a day."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, time, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from data import notifications as outbox
from data.agents import approve, hello
from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.notifications import EventKind, Mode
from data.domain.verification import ProbeOutcome
from data.domain.workflow import Actor
from data.envelopes import AgentKeys
from data.importer import import_paths
from data.models import Connector, NotificationDelivery, NotificationEvent, VerificationResult
from data.users import add_user
from data.workorders import request_push
from jobs.notify.digest import run_digests
from jobs.notify.watch import watch_agents, watch_expiry
from jobs.scheduler import add_notification_jobs
from tests.certs import make_cert, pem

OLIVIA = Actor("olivia", "operator")
DAY = timedelta(days=1)


def real_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def people(settings):
    """olivia (operator, defaults only), ravi and rita (reviewers), wendy (watches the
    expiry and offline events as they happen, and the expiry digest); all with an address."""
    with session_scope(settings.database_url) as db:
        for name, role in (("olivia", "operator"), ("ravi", "reviewer"), ("rita", "reviewer"),
                           ("wendy", "manager")):  # fmt: skip
            add_user(db, name, role, "long-password", real_now())
            outbox.set_email(db, name, f"{name}@example.org", actor="t", now=real_now())
        add_user(db, "adam", "admin", "long-password", real_now())
        for kind in (EventKind.EXPIRY_ALERT, EventKind.EXPIRY_DIGEST, EventKind.AGENT_OFFLINE,
                     EventKind.ZONE_OFFLINE, EventKind.DRIFT_DETECTED):  # fmt: skip
            outbox.set_preference(db, "wendy", kind, Mode.NOW, now=real_now())
    return settings


def add_channel(settings, events: str) -> None:
    with session_scope(settings.database_url) as db:
        outbox.add_channel(db, load_vault(settings), name="ops", url="json://127.0.0.1:9/hook",
                           events=events, actor="adam", role="admin", now=real_now())  # fmt: skip


def certificate(settings, tmp_path, cn: str, not_after: datetime, connectors=()) -> str:
    """Import a certificate expiring at ``not_after``, bound to ``connectors`` (made on
    first use); returns its fingerprint."""
    cert, _key = make_cert(cn, not_after=not_after, not_before=not_after - 400 * DAY)
    path = tmp_path / f"{cn}.pem"
    path.write_bytes(pem(cert))
    vault = load_vault(settings)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [path], now=real_now(), actor="t")
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        for name in connectors:
            if db.scalar(select(Connector.id).where(Connector.name == name)) is None:
                add_connector(db, vault, name=name, type_name="local", actor="t", role="admin",
                              now=real_now(), settings={"profile": "test-files",
                              "cert_path": str(tmp_path / f"{name}.crt"),
                              "key_path": str(tmp_path / f"{name}.key")})  # fmt: skip
            bind(db, name, fingerprint, actor="t", now=real_now())
    return fingerprint


def events(settings, kind: EventKind | None = None) -> list[dict]:
    with session_scope(settings.database_url) as db:
        query = select(NotificationEvent).order_by(NotificationEvent.id)
        if kind is not None:
            query = query.where(NotificationEvent.kind == kind.value)
        return [
            {
                "id": e.id,
                "kind": e.kind,
                "work_order_id": e.work_order_id,
                **json.loads(e.payload),
            }
            for e in db.scalars(query)
        ]


def recipients(settings, event_id: int) -> dict[str, str]:
    with session_scope(settings.database_url) as db:
        return dict(
            db.execute(
                select(NotificationDelivery.recipient, NotificationDelivery.state).where(
                    NotificationDelivery.event_id == event_id
                )
            ).all()
        )


# ---------------------------------------------------------------------- expiry digest


def test_the_expiry_digest_lists_exactly_the_bound_red_orange_yellow(people, tmp_path):
    settings = people
    add_channel(settings, "expiry_digest")
    t = real_now()
    made = {
        "red": certificate(
            settings, tmp_path, "red.example", t - timedelta(days=2, hours=-6), ["web-a"]
        ),
        "orange": certificate(
            settings, tmp_path, "orange.example", t + timedelta(days=5, hours=6), ["web-a", "web-b"]
        ),
        "yellow": certificate(
            settings, tmp_path, "yellow.example", t + timedelta(days=20, hours=6), ["web-b"]
        ),
        "blue": certificate(settings, tmp_path, "blue.example", t + timedelta(days=60), ["web-a"]),
        "green": certificate(settings, tmp_path, "green.example", t + 200 * DAY, ["web-a"]),
        "red-unbound": certificate(settings, tmp_path, "lost.example", t - 2 * DAY),
        "orange-unbound": certificate(settings, tmp_path, "spare.example", t + 3 * DAY),
    }
    run = run_digests(settings, now=t)
    assert run.expiring == 3 and run.expiry_event is not None
    [digest] = events(settings, EventKind.EXPIRY_DIGEST)
    listed = digest["certificates"]
    assert [c["fingerprint"] for c in listed] == [made["red"], made["orange"], made["yellow"]]
    assert [c["colour"] for c in listed] == ["red", "orange", "yellow"]
    assert [c["connectors"] for c in listed] == [["web-a"], ["web-a", "web-b"], ["web-b"]]
    assert [c["days_left"] for c in listed] == [-2, 5, 20]
    assert listed[1]["common_name"] == "orange.example"
    assert listed[1]["path"] == f"/certificates/{made['orange']}/topology"
    assert digest["path"] == "/" and digest["at"] == t.isoformat()
    # Who chose it (wendy, the channel); nobody by default.
    assert recipients(settings, digest["id"]) == {"user:wendy": "pending", "channel:ops": "pending"}
    # Once a day: a restart later the same day sends nothing more.
    later = datetime.combine(t.date(), time(23, 59, 59), UTC)
    assert run_digests(settings, now=later).already_done
    assert len(events(settings, EventKind.EXPIRY_DIGEST)) == 1
    tomorrow = run_digests(settings, now=t + DAY)
    assert not tomorrow.already_done and tomorrow.expiring == 3  # blue is still 59 days off
    assert len(events(settings, EventKind.EXPIRY_DIGEST)) == 2


# ----------------------------------------------------------------------- expiry alerts


def test_an_expiry_alert_is_told_once_per_colour_entered(people, tmp_path):
    settings = people
    add_channel(settings, "expiry_alert")
    t = real_now()
    bound = certificate(settings, tmp_path, "api.example", t + timedelta(days=40, hours=12),
                        ["api-1", "api-2"])  # fmt: skip
    certificate(settings, tmp_path, "unbound.example", t + timedelta(days=5, hours=12))
    assert watch_expiry(settings.database_url, now=t) == []  # blue: nothing to tell
    assert watch_expiry(settings.database_url, now=t + 15 * DAY) == []  # yellow: not told
    [orange] = watch_expiry(settings.database_url, now=t + 31 * DAY)  # 9 days left
    assert watch_expiry(settings.database_url, now=t + 31 * DAY) == []  # stays: once
    assert watch_expiry(settings.database_url, now=t + 35 * DAY) == []
    [red] = watch_expiry(settings.database_url, now=t + 41 * DAY)  # expired
    assert watch_expiry(settings.database_url, now=t + 42 * DAY) == []
    told = events(settings, EventKind.EXPIRY_ALERT)
    assert [e["id"] for e in told] == [orange, red]  # never for the unbound one
    assert [(e["colour"], e["days_left"]) for e in told] == [("orange", 9), ("red", -1)]
    first = told[0]
    assert first["certificate"]["fingerprint"] == bound
    assert first["certificate"]["common_name"] == "api.example"
    assert first["connectors"] == ["api-1", "api-2"]
    assert first["path"] == f"/certificates/{bound}/topology"
    assert first["at"] == (t + 31 * DAY).isoformat()
    assert recipients(settings, orange) == {"user:wendy": "pending", "channel:ops": "pending"}


# ---------------------------------------------------------------------- user digests


def test_digest_deliveries_are_gathered_once_per_user_and_day(people, tmp_path):
    from tests.integration.test_workorders import local_push_setup

    settings = people
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    with session_scope(settings.database_url) as db:
        outbox.set_preference(db, "ravi", EventKind.APPROVAL_NEEDED, Mode.DIGEST, now=real_now())
        outbox.set_preference(db, "rita", EventKind.APPROVAL_NEEDED, Mode.DIGEST, now=real_now())
        outbox.set_preference(db, "rita", EventKind.EXPIRY_ALERT, Mode.DIGEST, now=real_now())
        _req, [first] = request_push(db, fingerprint, actor=OLIVIA, now=real_now())
        _req, [second] = request_push(db, fingerprint, actor=OLIVIA, now=real_now())
    t = real_now()
    expiring = certificate(settings, tmp_path, "soon.example", t + timedelta(days=3, hours=1),
                           ["dev-local"])  # fmt: skip
    [alert] = watch_expiry(settings.database_url, now=t)
    assert recipients(settings, alert) == {"user:wendy": "pending", "user:rita": "digest"}
    with session_scope(settings.database_url) as db:
        waiting = {d.id for d in outbox.outbox(db, states=("digest",))}
    assert len(waiting) == 5  # two approvals each for ravi and rita, rita's expiry alert

    run = run_digests(settings, now=t)
    assert sorted(run.users) == ["ravi", "rita"]
    digests = {e["id"]: e for e in events(settings, EventKind.DIGEST)}
    assert len(digests) == 2
    by_user = {}
    for event_id, event in digests.items():
        [(recipient, state)] = recipients(settings, event_id).items()  # only that user
        assert state == "pending"
        by_user[recipient] = event
    ravi, rita = by_user["user:ravi"], by_user["user:rita"]
    assert [i["work_order"] for i in ravi["items"]] == [first.label, second.label]
    assert [i["event"] for i in rita["items"]] == ["approval_needed"] * 2 + ["expiry_alert"]
    item = ravi["items"][0]
    assert item["title"] == "Approval needed"
    assert item["certificate"]["fingerprint"] == fingerprint
    assert item["connector"] == {"name": "dev-local", "zone": "local"}
    assert item["path"] == f"/certificates/{fingerprint}/topology"
    assert rita["items"][2]["title"] == "Certificate turned Orange"
    assert rita["items"][2]["certificate"]["fingerprint"] == expiring
    with session_scope(settings.database_url) as db:
        assert outbox.outbox(db, states=("digest",)) == []
        states = {d.id: d.state for d in outbox.outbox(db, states=("digested",))}
    assert states == dict.fromkeys(waiting, "digested")

    # The same day again (a restart): nothing more, even for something new since.
    with session_scope(settings.database_url) as db:
        request_push(db, fingerprint, actor=OLIVIA, now=t)
    later = datetime.combine(t.date(), time(23, 59, 59), UTC)
    assert run_digests(settings, now=later).already_done
    assert len(events(settings, EventKind.DIGEST)) == 2
    # The next day: only what waited since, one digest each.
    nxt = run_digests(settings, now=t + DAY)
    assert {u: n for u, (_e, n) in nxt.users.items()} == {"ravi": 1, "rita": 1}
    assert len(events(settings, EventKind.DIGEST)) == 4


def test_the_digest_day_is_the_report_time_zone_s(people):
    settings = dataclasses.replace(people, report_time_zone="Pacific/Kiritimati")  # UTC+14
    at = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)  # already 2 March there
    assert run_digests(settings, now=at).day.isoformat() == "2026-03-02"
    assert run_digests(settings, now=at + timedelta(hours=22)).already_done  # 23:00 there
    assert not run_digests(settings, now=at + timedelta(hours=23)).already_done  # 3 March


# ------------------------------------------------------------------------ agents, zones


def _hello(settings, keys: AgentKeys, name: str, zone: str, at: datetime) -> None:
    with session_scope(settings.database_url) as db:
        message = keys.sign({"type": "hello", "agent": name, "zone": zone,
                             "identity": keys.public.to_json(), "version": "1"})  # fmt: skip
        hello(db, message, now=at)


def test_an_agent_and_its_zone_going_silent_are_told_once(people):
    settings = people
    add_channel(settings, "agent_offline,zone_offline")
    dmz, lab, pending = AgentKeys.generate(), AgentKeys.generate(), AgentKeys.generate()
    t = real_now()
    _hello(settings, dmz, "dmz-1", "dmz", t)
    _hello(settings, lab, "lab-1", "lab", t)
    _hello(settings, pending, "lab-2", "lab", t)  # never approved: never watched
    with session_scope(settings.database_url) as db:
        for name in ("dmz-1", "lab-1"):
            approve(db, name, actor="adam", role="admin", now=t)
    url = settings.database_url
    assert watch_agents(url, now=t + timedelta(seconds=5)) == []  # all live
    _hello(settings, lab, "lab-1", "lab", t + timedelta(seconds=40))
    made = watch_agents(url, now=t + timedelta(seconds=45))  # dmz-1 silent for 45 s
    assert [e["kind"] for e in events(settings)] == ["agent_offline", "zone_offline"]
    agent_event, zone_event = events(settings)
    assert made == [agent_event["id"], zone_event["id"]]
    assert (agent_event["agent"], agent_event["zone"]) == ("dmz-1", "dmz")
    assert zone_event["zone"] == "dmz" and "agent" not in zone_event
    assert agent_event["path"] == zone_event["path"] == "/agents"
    assert agent_event["at"] == (t + timedelta(seconds=45)).isoformat()
    assert recipients(settings, zone_event["id"]) == {"user:wendy": "pending",
                                                      "channel:ops": "pending"}  # fmt: skip
    assert watch_agents(url, now=t + timedelta(seconds=50)) == []  # still down: told once
    # Back online (silently), then lost again: told again.
    _hello(settings, dmz, "dmz-1", "dmz", t + timedelta(seconds=60))
    _hello(settings, lab, "lab-1", "lab", t + timedelta(seconds=60))
    assert watch_agents(url, now=t + timedelta(seconds=61)) == []
    _hello(settings, lab, "lab-1", "lab", t + timedelta(seconds=95))
    assert len(watch_agents(url, now=t + timedelta(seconds=100))) == 2
    assert [e["kind"] for e in events(settings)] == ["agent_offline", "zone_offline"] * 2


def test_notification_jobs_are_registered_the_agents_one_with_a_broker(settings):
    scheduler = BackgroundScheduler(timezone=UTC)
    add_notification_jobs(scheduler, settings)
    assert {j.id for j in scheduler.get_jobs()} == {
        "notify-expiry", "notify-digest", "notify-digest-catch-up"}  # fmt: skip
    scheduler = BackgroundScheduler(timezone=UTC)
    add_notification_jobs(scheduler, dataclasses.replace(settings, broker_url="amqp://b"))
    assert "notify-agents" in {j.id for j in scheduler.get_jobs()}


# --------------------------------------------------------------------------------- drift


def test_drift_is_told_once_when_an_endpoint_starts_serving_another(sqlite_settings, tmp_path):
    """A real sweep against a private nginx: after a verified push, someone installs another
    certificate behind our back; the sweep that first sees it tells, later ones do not."""
    from jobs.verify import run_sweep
    from tests.integration.test_verify import make_device, push_with_work_order
    from tests.servers import make_cert_files, wait_for_fingerprint

    settings = sqlite_settings
    with session_scope(settings.database_url) as db:
        for name in ("olivia", "wendy"):
            add_user(db, name, "operator", "long-password", real_now())
            outbox.set_email(db, name, f"{name}@example.org", actor="t", now=real_now())
        outbox.set_preference(db, "wendy", EventKind.DRIFT_DETECTED, Mode.NOW, now=real_now())
    device = make_device(settings, tmp_path)
    try:
        wo_id = push_with_work_order(device)
        first = run_sweep(settings.database_url, timeout=3, settle_seconds=0)
        assert first.summary == {"match": 1}
        assert events(settings, EventKind.DRIFT_DETECTED) == []
        _, _, intruder = make_cert_files(device.tls, "intruder.example", stem="site")
        device.nginx.reload()
        wait_for_fingerprint("127.0.0.1", device.port, intruder)
        drifted = run_sweep(settings.database_url, timeout=3, settle_seconds=0)
        assert drifted.endpoints[0]["drift"] is True
        again = run_sweep(settings.database_url, timeout=3, settle_seconds=0)
        assert again.endpoints[0]["drift"] is True
    finally:
        device.nginx.stop()
    [event] = events(settings, EventKind.DRIFT_DETECTED)
    assert event["endpoint"] == f"127.0.0.1:{device.port}"
    assert event["served_fingerprint"] == intruder
    assert event["certificate"]["fingerprint"] == device.new
    assert event["connector"] == {"name": "web-local", "zone": "local"}
    assert event["path"] == f"/certificates/{device.new}/topology"
    assert event["work_order_id"] == wo_id
    # wendy chose it; olivia, whose push it was, keeps the default (off).
    assert recipients(settings, event["id"]) == {"user:wendy": "pending"}
    with session_scope(settings.database_url) as db:
        told_at = db.scalar(select(NotificationEvent.at).where(NotificationEvent.id == event["id"]))
        sweep_at = db.scalar(
            select(VerificationResult.at).where(VerificationResult.sweep_id == drifted.sweep_id)
        )
    assert told_at == sweep_at  # written with the result rows that mark the drift


def test_drift_memory_follows_what_endpoints_serve(people, tmp_path):
    """The same rule on both databases, with sweeps recorded from given handshakes (the way
    the demo's history records them): told when drift starts, not while it lasts nor after
    a timeout, and again after the endpoint served ours in between."""
    from jobs.probe import ProbeResult
    from jobs.push import push_certificate
    from jobs.verify import open_sweep, record_sweep, targets

    settings = people
    vault = load_vault(settings)
    pushed = certificate_with_key(settings, tmp_path, "app.example")
    with session_scope(settings.database_url) as db:
        add_connector(db, vault, name="app-1", type_name="local", actor="t", role="admin",
                      now=real_now(), endpoints=[{"host": "127.0.0.1", "port": 9}],
                      settings={"profile": "test-files", "cert_path": str(tmp_path / "a.crt"),
                                "key_path": str(tmp_path / "a.key")})  # fmt: skip
        bind(db, "app-1", pushed, actor="t", now=real_now())
    report = push_certificate(settings.database_url, vault, pushed, "app-1", actor="t")
    assert report.outcome.value == "installed", report.reason
    foreign = "ab" * 32
    seen = {
        "match": ProbeResult(ProbeOutcome.MATCH, "", pushed),
        "foreign": ProbeResult(ProbeOutcome.MISMATCH, "", foreign),
        "timeout": ProbeResult(ProbeOutcome.TIMEOUT, "no answer"),
    }
    t = real_now()
    told = []
    for step, what in enumerate(["match", "foreign", "foreign", "timeout", "foreign", "match",
                                 "foreign"]):  # fmt: skip
        at = t + step * timedelta(minutes=5)
        with session_scope(settings.database_url) as db:
            items = targets(db)
            sweep = open_sweep(db, started=at, trigger="test", endpoints=len(items))
            rows, _ = record_sweep(db, sweep, items, {i.endpoint_id: seen[what] for i in items},
                                   finished=at)  # fmt: skip
        assert [r["drift"] for r in rows] == [what == "foreign"]
        told.append(len(events(settings, EventKind.DRIFT_DETECTED)))
    assert told == [0, 1, 1, 1, 1, 1, 2]
    first = events(settings, EventKind.DRIFT_DETECTED)[0]
    assert first["endpoint"] == "127.0.0.1:9" and first["served_fingerprint"] == foreign
    assert first["certificate"]["fingerprint"] == pushed
    assert recipients(settings, first["id"]) == {"user:wendy": "pending"}


def certificate_with_key(settings, tmp_path, cn: str) -> str:
    from tests.servers import make_cert_files

    cert, key, fingerprint = make_cert_files(tmp_path / "keyed", cn)
    with session_scope(settings.database_url) as db:
        import_paths(db, load_vault(settings), [cert, key], now=real_now(), actor="t")
    return fingerprint
