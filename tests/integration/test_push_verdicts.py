"""The last push per connector and its verdict, read by the one rule (SQLite and PostgreSQL).

Pushes and sweeps are hand-built rows (tests/report_fixtures.py) at known instants, so
which push is the last and what decided it are known; the Push Validation Report's
per-push rows must say the same.
"""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from data.connectors import bound_connectors, connector_overviews
from data.db import session_scope
from data.domain.periods import Period
from data.domain.push_validation import PushValidation, validation_of
from data.models import Binding, WorkOrder
from data.push_verdicts import last_pushes, verdict_of, verdicts_of
from data.reports import push_rows
from tests.report_fixtures import T0, ReportWorld

HOUR = timedelta(hours=1)
UTC_ZONE = ZoneInfo("UTC")


def _world(db):
    """Two certificates, five connectors:

    - lb-a: A verified (2 endpoints), later A failed verification, later B pending;
    - lb-b: A completed, not swept yet (pending);
    - lb-c: A's push failed (auth);
    - lb-d: never pushed;
    - lb-e: A verified twice at the same instant: the higher work order wins.
    """
    w = ReportWorld(db)
    a = w.certificate("a.example", T0 + timedelta(days=300))
    b = w.certificate("b.example", T0 + timedelta(days=300))
    lb_a, lb_b = w.connector("lb-a", endpoints=2), w.connector("lb-b")
    lb_c, lb_d, lb_e = w.connector("lb-c"), w.connector("lb-d"), w.connector("lb-e")
    orders = {
        "a1": w.push(a, lb_a, requested=T0, pushed=T0 + HOUR,
                     sweeps=[(T0 + 2 * HOUR, ["match", "match"])]),
        "a2": w.push(a, lb_a, requested=T0 + 24 * HOUR, pushed=T0 + 25 * HOUR,
                     sweeps=[(T0 + 26 * HOUR, ["match", "mismatch"]),
                             (T0 + 27 * HOUR, ["match", "match"])]),
        "b1": w.push(b, lb_a, requested=T0 + 48 * HOUR, pushed=T0 + 49 * HOUR),
        "b2": w.push(a, lb_b, requested=T0, pushed=T0 + 3 * HOUR),
        "c1": w.push(a, lb_c, requested=T0, pushed=T0 + 4 * HOUR, installed=False,
                     reason_class="auth"),
        "e1": w.push(a, lb_e, requested=T0, pushed=T0 + 5 * HOUR,
                     sweeps=[(T0 + 6 * HOUR, ["match"])]),
        "e2": w.push(a, lb_e, requested=T0, pushed=T0 + 5 * HOUR,
                     sweeps=[(T0 + 7 * HOUR, ["match"])]),
    }  # fmt: skip
    for cert in (a, b):
        for conn in (lb_a, lb_b, lb_c, lb_d, lb_e):
            if cert is a or conn is lb_a:
                db.add(Binding(certificate_id=cert.id, connector_id=conn.id, created_at=T0,
                               created_by="test"))  # fmt: skip
    db.flush()
    return w, a, b, {c.name: c.id for c in (lb_a, lb_b, lb_c, lb_d, lb_e)}, orders


def test_the_last_push_per_connector_and_what_decided_it(settings):
    with session_scope(settings.database_url) as db:
        _, a, _, conn, orders = _world(db)
        overall = last_pushes(db)
        of_a = last_pushes(db, certificate_id=a.id)
        only = last_pushes(db, connector_ids=[conn["lb-b"], conn["lb-d"]])
        ids = {name: wo.id for name, wo in orders.items()}

    assert conn["lb-d"] not in overall and set(only) == {conn["lb-b"]}

    # lb-a: B went last (pending); for certificate A the last is A's second push.
    newest = overall[conn["lb-a"]]
    assert newest.work_order_number == ids["b1"] and newest.state is PushValidation.PENDING
    assert newest.certificate_common_name == "b.example" and newest.decided_at is None
    assert (newest.endpoints_checked, newest.endpoints_failed) == (0, 0)
    second = of_a[conn["lb-a"]]
    assert second.work_order_number == ids["a2"]
    assert second.state is PushValidation.FAILED_VERIFICATION
    assert second.decided_at == T0 + 26 * HOUR  # the first sweep after it, not the later one
    assert (second.endpoints_checked, second.endpoints_matched, second.endpoints_failed) == (
        2,
        1,
        1,
    )
    assert second.pushed_at == T0 + 25 * HOUR and second.status == "Completed"

    pending = of_a[conn["lb-b"]]
    assert pending.state is PushValidation.PENDING and pending.decided_at is None
    failed = of_a[conn["lb-c"]]
    assert failed.state is PushValidation.PUSH_FAILED and failed.status == "Failed"
    assert "auth" in failed.reason and failed.decided_at is None
    assert of_a[conn["lb-e"]].work_order_number == ids["e2"]  # same instant: the later one
    assert of_a[conn["lb-e"]].state is PushValidation.VERIFIED


def test_the_verdicts_follow_the_one_rule_and_agree_with_the_report(settings):
    with session_scope(settings.database_url) as db:
        _, _, _, _, orders = _world(db)
        verdicts = verdicts_of(db, [wo.id for wo in orders.values()])
        rows = {
            r["work_order"]: r
            for r in push_rows(db, Period(T0.date(), (T0 + timedelta(days=5)).date(), UTC_ZONE))
        }
        stored = {wo.id: (wo.status, wo.verification) for wo in db.query(WorkOrder).all()}
    assert set(verdicts) == {wo.id for wo in orders.values()}
    for wo_id, verdict in verdicts.items():
        assert verdict.state is validation_of(*stored[wo_id])
        row = rows[verdict.work_order]
        assert row["state"] == verdict.state.value
        assert row["endpoints_checked"] == verdict.endpoints_checked
        assert row["endpoints_failed"] == verdict.endpoints_failed


def test_a_work_order_not_pushed_has_no_verdict(settings, now):
    with session_scope(settings.database_url) as db:
        _, _, _, _, orders = _world(db)
        waiting = orders["b2"]
        waiting.pushed_at = None
        waiting.status = "Push-Approval Pending"
        db.flush()
        assert verdict_of(db, waiting.id) is None
        assert verdict_of(db, orders["a1"].id).state is PushValidation.VERIFIED
        assert verdicts_of(db, []) == {} and last_pushes(db, connector_ids=[]) == {}


def test_the_topology_views_carry_the_last_push_of_their_certificate(settings):
    with session_scope(settings.database_url) as db:
        _, a, b, _, orders = _world(db)
        views = {v.name: v for v in bound_connectors(db, a.id)}
        of_b = {v.name: v for v in bound_connectors(db, b.id)}
    assert views["lb-a"].last_push.work_order_number == orders["a2"].id
    assert views["lb-d"].last_push is None
    assert of_b["lb-a"].last_push.work_order_number == orders["b1"].id
    assert set(of_b) == {"lb-a"}


def test_connector_overviews_is_what_connectors_list_json_prints(settings):
    with session_scope(settings.database_url) as db:
        _, a, b, _, orders = _world(db)
        overviews = connector_overviews(db)
        printed = json.loads(json.dumps([o.to_json() for o in overviews]))
    by_name = {o["name"]: o for o in printed}
    assert list(by_name) == ["lb-a", "lb-b", "lb-c", "lb-d", "lb-e"]
    lb_a = by_name["lb-a"]
    # ConnectorInfo's keys stay (scripts read them), three more come.
    assert {"name", "type", "settings", "secret", "endpoints", "bound_certificates"} <= set(lb_a)
    assert lb_a["bound_certificates"] == 2
    assert lb_a["certificates"] == [
        {"fingerprint": a.fingerprint_sha256, "common_name": "a.example"},
        {"fingerprint": b.fingerprint_sha256, "common_name": "b.example"},
    ]
    assert lb_a["last_push"] == {
        "work_order": f"WO-{orders['b1'].id:06d}",
        "request": f"REQ-{orders['b1'].request_id:06d}",
        "certificate": {"fingerprint": b.fingerprint_sha256, "common_name": "b.example"},
        "pushed_at": (T0 + 49 * HOUR).isoformat(),
        "outcome": "Completed",
        "reason": "",
        "verdict": {
            "state": "pending",
            "label": "Pending",
            "decided_at": None,
            "endpoints_checked": 0,
            "endpoints_matched": 0,
            "endpoints_failed": 0,
        },
    }
    verified = by_name["lb-e"]["last_push"]["verdict"]
    assert verified["state"] == "verified"
    assert verified["decided_at"] == (T0 + 7 * HOUR).isoformat()
    assert verified["endpoints_checked"] == verified["endpoints_matched"] == 1
    assert by_name["lb-c"]["last_push"]["verdict"]["state"] == "push_failed"
    assert by_name["lb-d"]["last_push"] is None and by_name["lb-d"]["bound_certificates"] == 1
    assert "SEALED-SECRET" not in json.dumps(printed)
