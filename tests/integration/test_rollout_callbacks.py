"""The topology's rollout panel through the web app's callbacks: what each role sees, Resume
and Abort as the logged-in user, and forged posts refused by the server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from dash import no_update
from sqlalchemy import select, update

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import AuditEvent, WorkOrder
from data.rollouts import after_end, rollout_view
from data.users import add_user
from data.workorders import act, get_work_order, request_push
from tests.dash_calls import ActingAs, component_text
from tests.servers import make_cert_files

S = WorkOrderStatus
PASSWORD = "correct horse battery"
USERS = {"olivia": "operator", "ravi": "reviewer", "ines": "implementer", "maya": "manager",
         "adam": "admin"}  # fmt: skip
HIDDEN = "d-none"


class Clock:
    """The app's clock (CERTPUSH_CLOCK), moved by the test."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def web(sqlite_settings, tmp_path):
    """Users of every role, a certificate bound to three local connectors, the app's clock."""
    from dashboard.app import app

    t0 = datetime.now(UTC).replace(microsecond=0)
    cert, key, fingerprint = make_cert_files(tmp_path / "in", "rollout.example")
    vault = load_vault(sqlite_settings)
    with session_scope(sqlite_settings.database_url) as db:
        for username, role in USERS.items():
            add_user(db, username, role, PASSWORD, t0)
        import_paths(db, vault, [cert, key], now=t0, actor="test")
        for name in ("dev-a", "dev-b", "dev-c"):
            add_connector(
                db, vault, name=name, type_name="local", actor="test", role="admin", now=t0,
                settings={"profile": "test-files", "cert_path": str(tmp_path / f"{name}.crt"),
                          "key_path": str(tmp_path / f"{name}.key")},
            )  # fmt: skip
            bind(db, name, fingerprint, actor="test", now=t0)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"], server.config["CERTPUSH_CLOCK"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    server.config["CERTPUSH_CLOCK"] = server.clock = Clock(t0)
    server.fingerprint, server.t0 = fingerprint, t0
    yield server
    server.config["CERTPUSH_SETTINGS"], server.config["CERTPUSH_CLOCK"] = previous


def _db(web):
    return session_scope(web.config["CERTPUSH_SETTINGS"].database_url)


def _rollout(web, requester: str = "olivia") -> list[int]:
    """A request through the three connectors, approved and implemented: its WO ids."""
    t0 = web.t0
    with _db(web) as db:
        _, orders = request_push(db, web.fingerprint, actor=Actor(requester, USERS[requester]),
                                 now=t0)  # fmt: skip
        for wo in orders:
            act(db, wo.id, Action.APPROVE, actor=Actor("ravi", "reviewer"), now=t0)
            act(db, wo.id, Action.IMPLEMENT, actor=Actor("ines", "implementer"), now=t0)
    return [wo.id for wo in orders]


def _fail(web, wo_id: int, at: datetime) -> None:
    with _db(web) as db:
        db.execute(update(WorkOrder).where(WorkOrder.id == wo_id)
                   .values(status=S.FAILED.value, reason="connection reset", updated_at=at,
                           version=WorkOrder.version + 1))  # fmt: skip
        after_end(db, wo_id, at)


def _panel(web, who: str) -> tuple:
    from dashboard.callbacks.rollouts import show_rollout

    with ActingAs(web, who, PASSWORD):
        return show_rollout(web.fingerprint)


def _decide(web, who: str, button: str, comment: str, request: str = "REQ-000001") -> tuple:
    from dashboard.callbacks.rollouts import BUTTONS, rollout_decision

    with ActingAs(web, who, PASSWORD):
        return rollout_decision(BUTTONS[button], comment, request)


def test_the_panel_shows_the_newest_request_when_it_is_a_rollout(web):
    assert _panel(web, "maya") == (HIDDEN, None, HIDDEN, HIDDEN, HIDDEN, None)
    _a, _b, _c = _rollout(web)
    frame, summary, controls, resume, abort, request = _panel(web, "ines")
    assert (frame, controls, resume, abort, request) == ("mb-3", HIDDEN, HIDDEN, HIDDEN,
                                                         "REQ-000001")  # fmt: skip
    text = component_text(summary)
    assert "Rollout REQ-000001: canary" in text
    for name in ("dev-a", "dev-b", "dev-c", "wave 1", "wave 2", "Push In Progress"):
        assert name in text
    with _db(web) as db:  # a single-connector request after it: no panel
        request_push(db, web.fingerprint, actor=Actor("olivia", "operator"), now=web.t0,
                     connectors=["dev-b"])  # fmt: skip
    assert _panel(web, "ines")[0] == HIDDEN


def test_a_halted_rollout_shows_why_and_the_buttons_to_who_may_press_them(web):
    a, _b, _c = _rollout(web)
    _fail(web, a, web.t0 + timedelta(seconds=5))
    _frame, summary, controls, resume, abort, _ = _panel(web, "ines")
    text = component_text(summary)
    assert "Rollout REQ-000001: canary (halted)" in text
    assert "WO-000001 (dev-a) ended Failed: connection reset" in text
    assert text.count("Halted") >= 2
    assert (controls != HIDDEN, resume, abort) == (True, "me-2", "")
    for who in ("olivia", "ravi", "maya"):  # requester, reviewer, manager: no buttons
        assert _panel(web, who)[2:5] == (HIDDEN, HIDDEN, HIDDEN)
    assert _panel(web, "adam")[3:5] == ("me-2", "")


def test_the_admin_who_requested_may_abort_but_not_resume(web):
    a, *_ = _rollout(web, requester="adam")
    _fail(web, a, web.t0 + timedelta(seconds=5))
    assert _panel(web, "adam")[3:5] == (HIDDEN, "")
    message, colour, _shown, _comment, _refresh = _decide(web, "adam", "rollout-resume-btn", "go")
    assert colour == "danger" and "four-eyes" in message


def test_resume_through_the_panel(web):
    a, b, _c = _rollout(web)
    _fail(web, a, web.t0 + timedelta(seconds=5))
    web.clock.at = web.t0 + timedelta(minutes=3)
    empty = _decide(web, "ines", "rollout-resume-btn", "  ")
    assert empty[:3] == ("Resume needs a comment saying why", "danger", True)
    assert empty[3] is no_update
    message, colour, shown, comment, refresh = _decide(web, "ines", "rollout-resume-btn",
                                                       "dev-a's disk was full")  # fmt: skip
    assert (colour, shown, comment) == ("success", True, "")
    assert message == ("REQ-000001 resumed: WO-000002 is Push In Progress again, "
                       "WO-000003 is Push In Progress again")  # fmt: skip
    assert refresh == {"changed": web.clock.at.isoformat()}
    with _db(web) as db:
        view = rollout_view(db, 1)
        assert view.resumed_at == web.clock.at and view.progress == "wave 1 of 2"
        assert get_work_order(db, b).status is S.PUSH_IN_PROGRESS
    assert _panel(web, "ines")[2] == HIDDEN  # running again: no buttons
    again = _decide(web, "adam", "rollout-resume-btn", "me too")
    assert again[1] == "danger"
    when = f"{web.clock.at:%Y-%m-%d %H:%M:%S} UTC"
    assert (
        again[0] == f"REQ-000001 was already resumed by ines at {when}; your resume was not applied"
    )


def test_abort_through_the_panel(web):
    a, _b, _c = _rollout(web)
    _fail(web, a, web.t0 + timedelta(seconds=5))
    message, colour, *_ = _decide(web, "adam", "rollout-abort-btn", "wrong certificate")
    assert (message, colour) == ("REQ-000001 aborted: cancelled WO-000002, WO-000003", "success")
    text = component_text(_panel(web, "maya")[1])
    assert "aborted by adam: wrong certificate" in text and "Cancelled" in text


# ----- posting to Dash's callback endpoint, as the browser (or a forger) would


def _login(client, username: str):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login", data={"csrf": token, "username": username, "password": PASSWORD, "next": "/"}
    )
    assert answer.status_code == 302


def _dash_post(client, input_id: str, state: dict[str, object]):
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
        "inputs": [dict(i, value=1 if i["id"] == input_id else None) for i in spec["inputs"]],
        "state": [dict(s, value=state.get(s["id"])) for s in spec["state"]],
        "changedPropIds": [f"{input_id}.n_clicks"],
    }
    return client.post("/_dash-update-component", json=payload)


@pytest.mark.parametrize("who", ["olivia", "ravi", "maya"])
def test_a_forged_resume_is_refused_and_audited(web, who):
    a, b, _c = _rollout(web)
    _fail(web, a, web.t0 + timedelta(seconds=5))
    client = web.test_client()
    _login(client, who)
    forged = {"rollout-comment": "let me", "rollout-request": "REQ-000001"}
    response = _dash_post(client, "rollout-resume-btn", forged)
    assert response.status_code == 200
    assert f"Resume needs the implementer role; {who} is {USERS[who]}" in response.get_data(
        as_text=True
    )
    with _db(web) as db:
        assert rollout_view(db, 1).state.value == "halted"
        assert get_work_order(db, b).status is S.HALTED
        refused = db.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "rollout.resume.refused")
        ).all()
    assert refused == [who]


def test_an_anonymous_resume_post_is_rejected(web):
    a, *_ = _rollout(web)
    _fail(web, a, web.t0 + timedelta(seconds=5))
    response = _dash_post(web.test_client(), "rollout-resume-btn",
                          {"rollout-comment": "x", "rollout-request": "REQ-000001"})  # fmt: skip
    assert response.status_code == 401
    with _db(web) as db:
        assert rollout_view(db, 1).state.value == "halted"
