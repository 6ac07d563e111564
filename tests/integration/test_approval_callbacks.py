"""Push to Device and the two-level approval through the web app's callbacks.

Callbacks are called as plain functions inside a logged-in request context, and -
where it matters that nothing but the server decides - posted to Dash's callback
endpoint as a forged request would be.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dash import no_update
from sqlalchemy import select

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import Action, WorkOrderStatus
from data.importer import import_paths
from data.models import AuditEvent
from data.push_plans import current_plan
from data.users import add_user
from data.workorders import get_work_order, list_work_orders
from tests import certs as c
from tests.clock import typeable_time
from tests.dash_calls import ActingAs, component_text

PASSWORD = "correct horse battery"


def _As(web, who) -> ActingAs:
    """Callbacks as that user (tests/dash_calls.py), with this module's demo password."""
    return ActingAs(web, who, PASSWORD)


_text = component_text

USERS = {
    "olivia": "operator",
    "oscar": "operator",
    "ravi": "reviewer",
    "ines": "implementer",
    "maya": "manager",
    "adam": "admin",
}
BERLIN = {"zone": "Europe/Berlin", "offset": -60}


@pytest.fixture
def web(sqlite_settings, tmp_path):
    """The Flask server on a fresh database: one user per role, a certificate with its key
    and two local connectors bound to it (so one request makes two work orders)."""
    from dashboard.app import app

    now = datetime.now(UTC)
    files = tmp_path / "in"
    files.mkdir()
    cert, key = c.make_cert("shop.example")
    (files / "shop.pem").write_bytes(c.pem(cert))
    (files / "shop.key").write_bytes(c.key_pem(key))
    (files / "other.pem").write_bytes(c.pem(c.make_cert("<b>other</b>.example")[0]))
    vault = load_vault(sqlite_settings)
    with session_scope(sqlite_settings.database_url) as db:
        for username, role in USERS.items():
            add_user(db, username, role, PASSWORD, now)
        import_paths(db, vault, [files], now=now, actor="test")
        for name in ("shop-a", "shop-b"):
            device = tmp_path / name
            add_connector(
                db,
                vault,
                name=name,
                type_name="local",
                settings={
                    "profile": "test-files",
                    "cert_path": str(device / "c.crt"),
                    "key_path": str(device / "c.key"),
                },
                endpoints=["127.0.0.1:9443"],
                actor="test",
                role="admin",
                now=now,
            )
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    server.fingerprint = _fingerprint(cert)
    with session_scope(sqlite_settings.database_url) as db:
        for name in ("shop-a", "shop-b"):
            bind(db, name, server.fingerprint, actor="test", now=now)
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def _fingerprint(cert) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def _db(web):
    return session_scope(web.config["CERTPUSH_SETTINGS"].database_url)


def _orders(web) -> list:
    with _db(web) as db:
        return sorted(list_work_orders(db), key=lambda v: v.id)


def _json_default(value):
    return value.to_plotly_json() if hasattr(value, "to_plotly_json") else str(value)


def _audit(web, action: str) -> list[AuditEvent]:
    with _db(web) as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        db.expunge_all()
        return rows


def _request(web, username: str = "olivia", comment: str = "renewal") -> tuple:
    from dashboard.callbacks.approval import confirm_push

    with _As(web, username):
        return confirm_push(1, comment, web.fingerprint)


def _act(web, username, action, ids, *, manual=True, when=None, comment="", tz=None):
    from dashboard.callbacks.approval import confirm_approval

    pending = {"action": action.value, "work_orders": list(ids)}
    with _As(web, username):
        return confirm_approval(1, pending, manual, when, comment, tz)


def _local_input(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


# ----- posting to Dash's callback endpoint, as the browser (or a forger) would


def _login(client, username: str):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login", data={"csrf": token, "username": username, "password": PASSWORD, "next": "/"}
    )
    assert answer.status_code == 302


def _dash_post(client, input_id: str, value, state: dict[str, object]):
    """POST the callback triggered by ``input_id``.n_clicks with the given State values."""
    from dashboard.app import app

    client.get("/healthz")  # Dash registers its callbacks before the first request
    [(key, spec)] = [
        (k, v)
        for k, v in app.callback_map.items()
        if {"id": input_id, "property": "n_clicks"} in v["inputs"]
    ]
    outputs = spec["output"] if isinstance(spec["output"], list) else [spec["output"]]
    payload = {
        "output": key,
        "outputs": [{"id": o.component_id, "property": o.component_property} for o in outputs],
        "inputs": [dict(i, value=value) for i in spec["inputs"]],
        "state": [dict(s, value=state.get(s["id"])) for s in spec["state"]],
        "changedPropIds": [f"{input_id}.n_clicks"],
    }
    return client.post("/_dash-update-component", json=payload)


# ----- Push to Device


def test_push_to_device_creates_one_request_with_a_work_order_per_connector(web):
    from dashboard.callbacks.approval import work_order_actions
    from dashboard.callbacks.topology import load_topology

    closed, error, message, colour, shown, refresh = _request(web)
    assert (closed, error, colour, shown) == (False, None, "success", True)
    assert "REQ-000001 created: WO-000001 (shop-a), WO-000002 (shop-b)" in _text(message)
    assert refresh["changed"]
    assert [(o.label, o.status) for o in _orders(web)] == [
        ("WO-000001", WorkOrderStatus.APPROVAL_PENDING),
        ("WO-000002", WorkOrderStatus.APPROVAL_PENDING),
    ]

    with _As(web, "olivia"):
        elements, _title, _details, panel, _error, _open = load_topology(web.fingerprint)
        approve, implement, reject, cancel, reschedule, state, poll_off = work_order_actions(
            web.fingerprint
        )
    node = next(e for e in elements if e["data"].get("connector_type") == "local")
    assert "WO-00000" in node["data"]["label"]
    assert "Push-Approval Pending" in node["data"]["label"]
    assert "workorder-open" in node["classes"]
    table = _text(panel)
    assert "Work order" in table and "WO-000001 · Push-Approval Pending" in table
    # The requester may cancel, not approve; the page polls while work orders are open.
    assert (approve, implement, reject, reschedule) == ("d-none",) * 4
    assert cancel != "d-none"
    assert poll_off is False and len(state["signature"]) == 2


def test_a_reviewer_may_not_request_a_push(web):
    closed, error, *_rest = _request(web, "ravi")
    assert closed is no_update
    assert "Refused: role 'reviewer' may not request push" in _text(error)
    assert _orders(web) == []


def test_push_refusal_from_the_service_is_shown_in_the_dialog(web):
    from dashboard.callbacks.approval import confirm_push

    with _As(web, "olivia"):
        closed, error, *_ = confirm_push(1, "", "00" * 32)
    assert closed is no_update and "no certificate" in _text(error).lower()


def test_forged_approve_post_by_the_requester_changes_nothing_and_is_audited(web):
    _request(web)
    client = web.test_client()
    _login(client, "olivia")
    response = _dash_post(
        client,
        "approval-yes",
        1,
        {"approval-pending": {"action": "approve", "work_orders": [1, 2]},
         "manual-implementation-switch": True, "approval-comment": "self-approval"},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "WO-000001: Approve needs the reviewer role; olivia is operator" in body
    assert {o.status for o in _orders(web)} == {WorkOrderStatus.APPROVAL_PENDING}
    refused = _audit(web, "workorder.approve.refused")
    assert [(e.actor, e.target) for e in refused] == [
        ("olivia", "WO-000001"),
        ("olivia", "WO-000002"),
    ]
    assert _audit(web, "workorder.approve") == []


def test_an_admin_requester_cannot_approve_their_own_request_either(web):
    _request(web, "adam")
    client = web.test_client()
    _login(client, "adam")
    response = _dash_post(
        client,
        "approval-yes",
        1,
        {"approval-pending": {"action": "approve", "work_orders": [1]},
         "manual-implementation-switch": True},
    )  # fmt: skip
    assert "adam requested this push and cannot also approve" in response.get_data(as_text=True)
    assert _orders(web)[0].status is WorkOrderStatus.APPROVAL_PENDING


def test_anonymous_approve_post_is_rejected(web):
    _request(web)
    response = _dash_post(
        web.test_client(),
        "approval-yes",
        1,
        {"approval-pending": {"action": "approve", "work_orders": [1]}},
    )
    assert response.status_code == 401
    assert _orders(web)[0].status is WorkOrderStatus.APPROVAL_PENDING


# ----- Approve, Implement


def test_reviewer_approves_all_pending_work_orders_of_the_certificate(web):
    from dashboard.callbacks.approval import approval_dialog_state, work_order_actions
    from dashboard.callbacks.topology import load_topology

    _request(web)
    with _As(web, "ravi"):
        approve, implement, reject, cancel, reschedule, *_ = work_order_actions(web.fingerprint)
        assert approve != "d-none" and reject != "d-none"
        assert (implement, cancel, reschedule) == ("d-none",) * 3
        state = approval_dialog_state(Action.APPROVE, web.fingerprint, BERLIN)
    opened, title, summary, pending, manual, when, zone, comment, error, yes_off, _ = state
    assert opened is True and title == "Approve push"
    assert comment == "" and error is None
    digests = pending.pop("digests")
    assert pending == {"action": "approve", "work_orders": [1, 2]}
    with _db(web) as db:  # the plans shown are the plans in force, and Yes names them
        assert digests == {str(i): current_plan(db, i).digest for i in (1, 2)}
    assert 'id": "push-plan"' in _text(summary) and "c.crt" in _text(summary)
    assert manual is True and when is None and yes_off is False
    assert "applies to all 2 work orders of this certificate awaiting approval" in _text(summary)
    assert "WO-000001, WO-000002" in _text(summary)
    assert "Europe/Berlin" in zone

    closed, error, message, colour, shown, refresh = _act(
        web, "ravi", Action.APPROVE, pending["work_orders"], comment="looks right"
    )
    assert (closed, error, colour, shown) == (False, None, "success", True)
    assert refresh["changed"]
    assert "WO-000001 is now Push-Review In Progress" in _text(message)
    assert {o.status for o in _orders(web)} == {WorkOrderStatus.REVIEW_IN_PROGRESS}
    with _As(web, "ravi"):
        elements = load_topology(web.fingerprint)[0]
    labels = [e["data"]["label"] for e in elements if e["data"].get("kind") == "connector"]
    assert all("Push-Review In Progress" in label for label in labels)

    # A second click by the same reviewer is told why nothing happened.
    _closed, error, message, colour, *_ = _act(web, "ravi", Action.APPROVE, [1])
    assert colour == "danger" and "WO-000001 was already approved by ravi" in _text(message)


@pytest.mark.clock
def test_implement_with_the_toggle_off_and_a_past_time_is_refused(web):
    _request(web)
    _act(web, "ravi", Action.APPROVE, [1, 2])
    past = _local_input(datetime.now(UTC) - timedelta(hours=3), "Europe/Berlin")
    closed, error, message, colour, shown, _ = _act(
        web, "ines", Action.IMPLEMENT, [1], manual=False, when=past, tz=BERLIN
    )
    assert closed is no_update  # the dialog stays open to choose another time
    assert "is in the past: choose a time after now" in _text(error)
    assert "WO-000001: the push time" in _text(message)  # and on the page
    assert colour == "danger" and shown is True
    assert _orders(web)[0].status is WorkOrderStatus.REVIEW_IN_PROGRESS
    assert [e.target for e in _audit(web, "workorder.implement.refused")] == ["WO-000001"]


def test_implement_with_the_toggle_off_and_no_time_asks_for_one(web):
    _request(web)
    _act(web, "ravi", Action.APPROVE, [1])
    closed, error, *_ = _act(web, "ines", Action.IMPLEMENT, [1], manual=False, when="")
    assert closed is no_update and "Choose the date and time" in _text(error)
    _closed, error, *_ = _act(web, "ines", Action.IMPLEMENT, [1], manual=False, when="soon")
    assert "is not a date and time" in _text(error)


@pytest.mark.clock
def test_a_future_local_time_schedules_the_push_in_utc_and_shows_both(web):
    from dashboard.callbacks.topology import load_topology
    from dashboard.timezones import local_and_utc

    _request(web)
    _act(web, "ravi", Action.APPROVE, [1, 2])
    berlin = ZoneInfo("Europe/Berlin")
    target = typeable_time(datetime.now(UTC) + timedelta(days=2), berlin)
    when = _local_input(target, "Europe/Berlin")
    closed, _error, message, colour, *_ = _act(
        web, "ines", Action.IMPLEMENT, [1, 2], manual=False, when=when, tz=BERLIN
    )
    assert closed is False and colour == "success"
    assert "WO-000002 is now Push-Scheduled" in _text(message)
    with _db(web) as db:
        view = get_work_order(db, 1)
    assert view.status is WorkOrderStatus.SCHEDULED and view.run_at == target
    with _As(web, "ines"):
        panel = load_topology(web.fingerprint, None, [], BERLIN)[3]
    # "2026-12-04 00:30 CET (2026-12-03 23:30 UTC)" late in the UTC evening, else
    # "2026-12-04 10:30 CET (09:30 UTC)": the page's formatter decides, at any hour.
    assert f"push at {local_and_utc(target, berlin)}" in _text(panel)


@pytest.mark.clock
def test_a_proposed_time_pre_fills_the_implement_dialog(web):
    from dashboard.callbacks.approval import approval_dialog_state

    _request(web)
    proposal = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    tokyo = {"zone": "Asia/Tokyo", "offset": -540}
    _act(web, "ravi", Action.APPROVE, [1], manual=False, when=_local_input(proposal, "Asia/Tokyo"),
         tz=tokyo)  # fmt: skip
    with _db(web) as db:
        assert get_work_order(db, 1).proposed_at == proposal
    with _As(web, "ines"):
        state = approval_dialog_state(Action.IMPLEMENT, web.fingerprint, BERLIN)
    _open, title, summary, pending, manual, when, *_ = state
    assert title == "Implement push" and pending["work_orders"] == [1]
    assert manual is False  # the proposal is shown, ready to confirm
    assert when == _local_input(proposal, "Europe/Berlin")
    assert "proposed for" in _text(summary)


def test_implement_now_then_the_requester_can_no_longer_cancel(web):
    _request(web)
    _act(web, "ravi", Action.APPROVE, [1])
    closed, _error, message, *_ = _act(web, "ines", Action.IMPLEMENT, [1], manual=True)
    assert closed is False and "WO-000001 is now Push In Progress" in _text(message)
    _closed, _error, message, colour, *_ = _act(web, "olivia", Action.CANCEL, [1])
    assert colour == "danger" and "cannot be cancelled" in _text(message)


def test_reject_needs_a_reason(web):
    _request(web)
    closed, error, *_ = _act(web, "ravi", Action.REJECT, [1], comment="   ")
    assert closed is no_update and "needs a reason" in _text(error)
    assert _audit(web, "workorder.reject.refused") == []  # refused before reaching the service
    closed, _error, message, *_ = _act(web, "ravi", Action.REJECT, [1], comment="wrong host")
    assert closed is False and "WO-000001 is now Rejected" in _text(message)


@pytest.mark.clock
def test_reschedule_and_cancel_a_scheduled_push(web):
    from dashboard.callbacks.approval import approval_dialog_state, work_order_actions

    _request(web)
    _act(web, "ravi", Action.APPROVE, [1])
    first = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    _act(web, "ines", Action.IMPLEMENT, [1], manual=False, when=_local_input(first, "UTC"))
    with _As(web, "ines"):
        classes = work_order_actions(web.fingerprint)[:5]
        state = approval_dialog_state(Action.RESCHEDULE, web.fingerprint, None)
    assert classes[4] != "d-none"  # Reschedule
    assert state[5] == first.strftime("%Y-%m-%dT%H:%M")  # the current time, pre-filled
    later = first + timedelta(hours=5)
    _closed, _e, message, *_ = _act(
        web, "ines", Action.RESCHEDULE, [1], when=later.strftime("%Y-%m-%dT%H:%M")
    )
    assert "WO-000001 is now Push-Scheduled" in _text(message)
    with _db(web) as db:
        assert get_work_order(db, 1).run_at == later
    _closed, _e, message, *_ = _act(web, "olivia", Action.CANCEL, [1], comment="not needed")
    assert "WO-000001 is now Cancelled" in _text(message)


def test_the_dialog_opens_empty_when_someone_else_acted_first(web):
    from dashboard.callbacks.approval import approval_dialog_state

    _request(web)
    _act(web, "ravi", Action.APPROVE, [1, 2])
    with _As(web, "ravi"):
        state = approval_dialog_state(Action.APPROVE, web.fingerprint)
    assert state[3]["work_orders"] == [] and state[9] is True  # Yes disabled
    assert "someone may have acted first" in _text(state[2])
    assert state[10]["changed"]  # and the page refreshes


def test_dialog_open_and_close_through_the_endpoint(web):
    """The open callbacks read which button fired; a re-rendered button (n_clicks None)
    must not open anything."""
    _request(web)
    client = web.test_client()
    _login(client, "ravi")
    state = {"topology-fingerprint": web.fingerprint, "browser-tz": BERLIN}
    body = _dash_post(client, "approve-btn", 1, state).get_json()["response"]
    assert body["approval-modal"]["is_open"] is True
    pending = body["approval-pending"]["data"]
    assert pending["action"] == "approve" and pending["work_orders"] == [1, 2]
    assert set(pending["digests"]) == {"1", "2"}
    quiet = _dash_post(client, "push-to-device-btn", None, state)
    assert quiet.status_code in (200, 204)
    assert not (quiet.get_json() or {}).get("response")  # nothing opened, nothing changed
    closed = _dash_post(client, "approval-no", 1, state).get_json()["response"]
    assert closed["approval-modal"]["is_open"] is False


def test_the_page_polls_and_refreshes_only_when_a_work_order_changed(web):
    from dashboard.callbacks.approval import poll_work_orders, work_order_actions

    _request(web)
    with _As(web, "maya"):
        *_classes, state, poll_off = work_order_actions(web.fingerprint)
        assert poll_off is False
        assert poll_work_orders(1, web.fingerprint, state) is no_update
    _act(web, "ravi", Action.APPROVE, [1])
    with _As(web, "maya"):
        assert poll_work_orders(2, web.fingerprint, state)["changed"]
    _act(web, "ines", Action.REJECT, [1], comment="no")  # approved: the implement level
    _act(web, "ravi", Action.REJECT, [2], comment="no")
    with _As(web, "maya"):
        *_classes, _state, poll_off = work_order_actions(web.fingerprint)
    assert poll_off is True  # everything is final: nothing left to watch


def test_show_schedule_field_follows_the_toggle():
    from dashboard.callbacks.approval import show_schedule_field

    assert show_schedule_field(True, {"action": "implement"})[:2] == ("mb-3", "d-none")
    assert show_schedule_field(False, {"action": "approve"})[:2] == ("mb-3", "mb-3")
    assert show_schedule_field(True, {"action": "reschedule"})[:2] == ("d-none", "mb-3")
    assert show_schedule_field(True, {"action": "reject"}) == ("d-none", "d-none",
                                                              "Reason (required)")  # fmt: skip
    assert show_schedule_field(True, None)[:2] == ("d-none", "d-none")


# ----- the work orders page


@pytest.mark.clock
def test_work_orders_page_filters_and_shows_a_history(web):
    from dashboard.callbacks.workorders import show_history, work_order_rows

    _request(web)
    _request(web, "oscar")
    _act(web, "ravi", Action.APPROVE, [1], comment="ok")
    # The days the work orders were created on (UTC: no browser zone is given), not the
    # day the test reads the clock again: that may already be tomorrow.
    created = sorted(o.created_at.astimezone(UTC).date().isoformat() for o in _orders(web))
    with _As(web, "ravi"):
        rows, count, _e, error_open = work_order_rows("any", "all", None, None, None)
        mine, *_ = work_order_rows("", "approve", None, None, None)
        by_oscar, *_ = work_order_rows("", "all", "oscar", None, None)
        pending, *_ = work_order_rows("Push-Approval Pending", "all", None, None, None)
        dated, *_ = work_order_rows("", "all", None, created[0], created[-1])
        none_yet, *_ = work_order_rows("", "all", None, "2001-01-01", "2001-01-02")
        _rows, _count, message, bad = work_order_rows("Lost", "all", None, None, None)
        timeline = show_history([rows[-1]], BERLIN)
    with _As(web, "ines"):
        to_implement, *_ = work_order_rows("", "implement", None, None, None)
    with _As(web, "olivia"):
        olivia_approves, *_ = work_order_rows("", "approve", None, None, None)
    assert not error_open and count == "4 work orders"
    assert [r["work_order"] for r in rows] == ["WO-000004", "WO-000003", "WO-000002", "WO-000001"]
    assert rows[0]["topology_href"] == f"/certificates/{web.fingerprint}/topology"
    assert rows[0]["certificate"] == "shop.example"
    assert [r["work_order"] for r in mine] == ["WO-000004", "WO-000003", "WO-000002"]
    assert [r["work_order"] for r in to_implement] == ["WO-000001"]
    assert olivia_approves == []
    assert {r["requester"] for r in by_oscar} == {"oscar"} and len(by_oscar) == 2
    assert len(pending) == 3 and len(dated) == 4 and none_yet == []
    assert bad and "Lost" in message
    text = _text(timeline)
    assert "WO-000001 · REQ-000001 · Push-Review In Progress" in text
    assert "olivia" in text and "requested" in text and "renewal" in text
    assert "ravi" in text and "approved" in text
    assert "— → Push-Approval Pending" in text
    assert "→ Push-Review In Progress" in text
    assert f"/certificates/{web.fingerprint}/topology" in text


# ----- the audit trail page


def test_audit_trail_is_for_admins_and_managers_only(web):
    from dashboard.callbacks.audit import audit_rows

    _request(web)
    _act(web, "olivia", Action.APPROVE, [1])  # refused, and recorded
    with _As(web, "maya"):
        page, _msg, refused = audit_rows({"startRow": 0, "endRow": 3})
    assert refused is False
    assert page["rowCount"] >= 5
    first = page["rowData"][0]
    assert (first["actor"], first["action"], first["target"]) == (
        "olivia",
        "workorder.approve.refused",
        "WO-000001",
    )
    assert set(first) >= {"at", "actor", "action", "target", "detail"}
    assert [r["id"] for r in page["rowData"]] == sorted(
        (r["id"] for r in page["rowData"]), reverse=True
    )
    with _As(web, "adam"):
        second, *_ = audit_rows({"startRow": 3, "endRow": 6})
    assert second["rowData"][0]["id"] < page["rowData"][-1]["id"]
    for user in ("olivia", "ravi", "ines"):
        with _As(web, user):
            empty, message, shown = audit_rows({"startRow": 0, "endRow": 50})
        assert shown and empty == {"rowData": [], "rowCount": 0}
        assert "Refused" in message and "may not view audit" in message


def test_forged_audit_post_by_an_operator_leaks_nothing(web):
    _request(web, comment="secret-looking comment")
    client = web.test_client()
    _login(client, "olivia")
    client.get("/healthz")
    payload = {
        "output": "..audit-grid.getRowsResponse...audit-error.children...audit-error.is_open..",
        "outputs": [
            {"id": "audit-grid", "property": "getRowsResponse"},
            {"id": "audit-error", "property": "children"},
            {"id": "audit-error", "property": "is_open"},
        ],
        "inputs": [{"id": "audit-grid", "property": "getRowsRequest", "value": {"startRow": 0}}],
        "changedPropIds": ["audit-grid.getRowsRequest"],
        "state": [],
    }
    body = client.post("/_dash-update-component", json=payload).get_data(as_text=True)
    assert "may not view audit" in body and "secret-looking" not in body


# ----- the browser's time zone


def test_local_times_are_read_and_shown_in_the_browser_zone():
    from dashboard.timezones import (
        LocalTimeError,
        browser_zone,
        local_and_utc,
        parse_local,
        to_local_input,
    )

    berlin = browser_zone(BERLIN)
    # Daylight saving time comes from the zone name, not from today's offset.
    assert parse_local("2026-01-15T10:00", berlin) == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert parse_local("2026-07-15T10:00", berlin) == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    fixed = browser_zone({"zone": "Not/AZone", "offset": 300})  # UTC-5, no name
    assert parse_local("2026-07-15T10:00", fixed) == datetime(2026, 7, 15, 15, 0, tzinfo=UTC)
    assert browser_zone(None) is UTC and browser_zone({"offset": "x"}) is UTC
    assert parse_local("", berlin) is None
    with pytest.raises(LocalTimeError):
        parse_local("tomorrow", berlin)
    moment = datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    assert to_local_input(moment, berlin) == "2026-07-15T10:00"
    assert local_and_utc(moment, berlin) == "2026-07-15 10:00 CEST (08:00 UTC)"
    assert local_and_utc(moment, UTC) == "2026-07-15 08:00 UTC"
    late = datetime(2026, 7, 15, 23, 30, tzinfo=UTC)
    assert local_and_utc(late, berlin) == "2026-07-16 01:30 CEST (2026-07-15 23:30 UTC)"
    # West of UTC the local date is the earlier one: New York's evening is tomorrow in UTC.
    evening = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    new_york = browser_zone({"zone": "America/New_York", "offset": 300})
    assert local_and_utc(evening, new_york) == "2026-12-02 20:00 EST (2026-12-03 01:00 UTC)"


def test_a_garbled_dialog_state_applies_nothing(web):
    from dashboard.callbacks.approval import confirm_approval

    _request(web)
    with _As(web, "ravi"):
        for pending in (
            ["approve"],
            {"action": "launch", "work_orders": [1]},
            {"action": "approve", "work_orders": "1,2"},
            {"action": "approve"},
        ):
            closed, error, *_ = confirm_approval(1, pending, True, None, "", None)
            assert closed is no_update and "Nothing to apply" in _text(error)
    assert {o.status for o in _orders(web)} == {WorkOrderStatus.APPROVAL_PENDING}
