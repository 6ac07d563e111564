"""The read-only JSON API over HTTP: the report numbers, its refusals and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from data import audit
from data.audit_chain import chain_head
from data.db import session_scope
from data.models import AuditEvent
from data.users import add_user
from tests.integration.test_web import PASSWORD, login
from tests.report_fixtures import ReportWorld

URL = "/api/v1/reports/push-validation"


@pytest.fixture
def web(sqlite_settings):
    from dashboard.app import app

    t = datetime(2026, 5, 4, 9, tzinfo=UTC)
    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "maya", "manager", PASSWORD, datetime.now(UTC))
        audit.record(db, actor="maya", action="test.event", now=t)
        w = ReportWorld(db)
        cert = w.certificate("api.example", t + timedelta(days=90))
        web1 = w.connector("web-1", endpoints=2)
        w.push(
            cert,
            web1,
            requested=t,
            pushed=t,
            sweeps=[(t + timedelta(minutes=15), ["match", "match"])],
        )
        w.push(cert, web1, requested=t, pushed=t + timedelta(days=1),
               sweeps=[(t + timedelta(days=1, minutes=15), ["match", "mismatch"])])  # fmt: skip
        w.push(cert, web1, requested=t, pushed=t + timedelta(days=2))
        w.push(cert, web1, requested=t, pushed=t + timedelta(days=2), installed=False,
               reason_class="host_key")  # fmt: skip
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def test_anonymous_callers_are_refused(web):
    response = web.test_client().get(f"{URL}?from=2026-05-04&to=2026-05-10")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["type"] == "urn:certpush:problem:unauthorized"


def test_a_manager_gets_the_numbers_of_a_period(web):
    client = web.test_client()
    login(client, "maya")
    response = client.get(f"{URL}?from=2026-05-04&to=2026-05-10&tz=Europe/Paris")
    assert response.status_code == 200
    body = response.get_json()
    assert body["period"] == {"from": "2026-05-04", "to": "2026-05-10",
                              "time_zone": "Europe/Paris", "granularity": "day"}  # fmt: skip
    k = body["kpis"]
    assert (k["pushes"], k["verified"], k["failed_verification"], k["pending"]) == (4, 1, 1, 1)
    assert k["push_failed"] == 1
    assert k["success_rate"] == pytest.approx(1 / 3)
    assert [d["from"] for d in body["trend"]][:3] == ["2026-05-04", "2026-05-05", "2026-05-06"]
    assert len(body["trend"]) == 7  # empty days as zeros
    assert body["trend"][3] == {"from": "2026-05-07", "to": "2026-05-07", "verified": 0,
                                "failed_verification": 0, "push_failed": 0, "pending": 0,
                                "success_rate": None}  # fmt: skip
    assert body["failure_reasons"] == [
        {"reason": "push:host_key", "label": "Push: SSH host key unknown or changed",
         "work_orders": 1, "endpoints": None},
        {"reason": "verification:mismatch", "label": "Verification: another certificate served",
         "work_orders": 1, "endpoints": 1},
    ]  # fmt: skip
    with session_scope(web.config["CERTPUSH_SETTINGS"].database_url) as db:
        head = chain_head(db, datetime(2026, 5, 10, 22, tzinfo=UTC))  # Monday 00:00 in Paris
        stamped = db.scalar(select(AuditEvent.at).where(AuditEvent.seq == head.seq))
    assert stamped == datetime(2026, 5, 4, 9, tzinfo=UTC)
    assert body["evidence"] == {
        "audit_chain_head": {"seq": head.seq, "hash": head.hash},
        "before": "2026-05-10T22:00:00Z",
    }


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-05-10&to=2026-05-04", "before it starts"),
        ("from=2026-05-04", "give both"),
        ("from=yesterday&to=today", "from: Not a valid date"),
        ("days=0", "days: Must be greater than or equal to 1"),
        ("tz=Mars/Olympus", "unknown time zone"),
        ("granularity=hour", "granularity: Must be one of: day, week"),
    ],
)
def test_bad_queries_get_a_clear_problem(web, query, message):
    client = web.test_client()
    login(client, "maya")
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == "urn:certpush:problem:validation"
    assert message in problem["detail"]
