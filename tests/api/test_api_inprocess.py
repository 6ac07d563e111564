"""The API in process (Flask's test client) on SQLite and PostgreSQL: the write rate per
token, unknown paths, the document and its reference page, and the browser session."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from data.api_tokens import create_token
from data.db import session_scope
from data.users import add_user

PASSWORD = "correct horse battery staple"


@pytest.fixture
def web(settings):
    from dashboard.app import app

    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = dataclasses.replace(settings, api_write_rate="3/minute")
    with session_scope(settings.database_url) as db:
        add_user(db, "olga", "operator", PASSWORD, datetime.now(UTC))
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def _token(settings, username: str, scope: str = "write") -> dict[str, str]:
    with session_scope(settings.database_url) as db:
        _info, secret = create_token(db, username, "ci", scope=scope, actor="test",
                                     actor_role="admin", now=datetime.now(UTC))  # fmt: skip
    return {"Authorization": f"Bearer {secret}"}


def test_write_calls_are_rate_limited_per_token(web, settings):
    client = web.test_client()
    first, second = _token(settings, "olga"), _token(settings, "olga")
    answers = [client.post("/api/v1/verification/sweeps", json={}, headers=first).status_code
               for _ in range(4)]  # fmt: skip
    assert answers == [202, 202, 202, 429]
    limited = client.post("/api/v1/verification/sweeps", json={}, headers=first)
    problem = limited.get_json()
    assert problem["type"] == "urn:certpush:problem:rate-limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Reads are not counted, and another token has its own window.
    assert client.get("/api/v1/certificates", headers=first).status_code == 200
    assert client.post("/api/v1/verification/sweeps", json={}, headers=second).status_code == 202


def test_unknown_paths_and_methods_are_problems_not_pages(web, settings):
    client = web.test_client()
    headers = _token(settings, "olga")
    missing = client.get("/api/v1/certificates/0/nothing-here", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert b"<html" not in missing.data  # never Dash's page, even to anonymous callers
    assert client.get("/api/v2/anything").status_code == 404
    wrong = client.put("/api/v1/push-requests", json={}, headers=headers)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "OPTIONS, POST"
    assert client.get("/api/v1/work-orders/WO-1/evidence", headers=headers).status_code == 403


def test_the_document_and_its_reference_page_need_no_login(web):
    client = web.test_client()
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    paths = set(spec["paths"])
    for path in ("/api/v1/certificates", "/api/v1/connectors/{name}/bindings/{fingerprint}",
                 "/api/v1/push-requests", "/api/v1/work-orders/{work_order}/implement",
                 "/api/v1/verification/sweeps/{sweep_id}", "/api/v1/reports/push-validation",
                 "/api/v1/tasks/{task_id}", "/api/v1/health"):  # fmt: skip
        assert path in paths
    errors = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(errors) == ["application/problem+json"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/api/v1/docs/static/swagger-ui-bundle.js" in page.data
    assert b"http" not in page.data.replace(b"http-equiv", b"")  # nothing from elsewhere
    assert client.get("/api/v1/docs/static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/v1/docs/static/..%2Fcore.py").status_code == 404


def test_the_browser_session_still_works_for_the_uis_own_calls(web, settings):
    from tests.integration.test_web import login

    client = web.test_client()
    login(client, "olga", PASSWORD)
    assert client.get("/api/v1/certificates").status_code == 200
    cross = client.post("/api/v1/verification/sweeps", json={},
                        headers={"Origin": "https://evil.example"})  # fmt: skip
    assert cross.status_code == 403  # a cookie never writes from another site


def test_report_exports_and_weekly_files_download(web, settings):
    import io

    from openpyxl import load_workbook

    client = web.test_client()
    headers = _token(settings, "olga", scope="read")
    csv = client.get("/api/v1/reports/push-validation/export?format=csv&days=7", headers=headers)
    assert csv.status_code == 200
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in csv.headers["Content-Disposition"]
    xlsx = client.get("/api/v1/reports/push-validation/export?format=xlsx&from=2026-01-05"
                      "&to=2026-01-11&tz=Europe/Paris", headers=headers)  # fmt: skip
    assert xlsx.status_code == 200
    assert "Summary" in load_workbook(io.BytesIO(xlsx.data)).sheetnames
    bad = client.get("/api/v1/reports/push-validation/export?format=doc", headers=headers)
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "format"
    assert client.get("/api/v1/reports/weekly", headers=headers).get_json() == []
    missing = client.get("/api/v1/reports/weekly/1/pdf", headers=headers)
    assert missing.status_code == 404


def test_audit_trail_and_status_counts(web, settings):
    client = web.test_client()
    with session_scope(settings.database_url) as db:
        add_user(db, "maya", "manager", PASSWORD, datetime.now(UTC))
    manager, operator = _token(settings, "maya", "read"), _token(settings, "olga", "read")
    events = client.get("/api/v1/audit-events?limit=2", headers=manager).get_json()
    assert events["page"]["total"] >= 2
    assert events["items"][0]["action"] == "token.create"  # newest first
    chain = client.get("/api/v1/audit-events/chain", headers=manager).get_json()
    assert chain["intact"] is True and chain["events"] == events["page"]["total"]
    refused = client.get("/api/v1/audit-events", headers=operator)
    assert refused.status_code == 403  # the audit trail is for managers and admins
    counts = client.get("/api/v1/certificates/status-counts", headers=operator).get_json()
    assert counts["total"] == 0 and set(counts["counts"]) >= {"green", "red", "mid-purple"}


def test_admins_manage_users_and_service_users_through_the_api(web, settings):
    client = web.test_client()
    with session_scope(settings.database_url) as db:
        add_user(db, "adam", "admin", PASSWORD, datetime.now(UTC))
    admin, operator = _token(settings, "adam"), _token(settings, "olga")
    assert client.get("/api/v1/users", headers=operator).status_code == 403
    service = {"username": "deployer", "role": "operator", "service": True}
    made = client.post("/api/v1/users", headers=admin, json=service)
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["service"], made.get_json()["enabled"]) == (True, True)
    weakling = {"username": "weakling", "role": "operator", "password": "secret"}
    weak = client.post("/api/v1/users", headers=admin, json=weakling)
    assert weak.status_code == 422
    deployer = _token(settings, "deployer")
    assert client.get("/api/v1/connectors", headers=deployer).status_code == 200
    off = client.patch("/api/v1/users/deployer", headers=admin, json={"enabled": False})
    assert off.get_json()["enabled"] is False
    assert client.get("/api/v1/connectors", headers=deployer).status_code == 401
    admin = _token(settings, "adam")  # a fresh write window (this fixture allows 3 a minute)
    last = client.patch("/api/v1/users/adam", headers=admin, json={"role": "operator"})
    assert last.status_code == 409  # the last enabled admin stays an admin
    assert client.patch("/api/v1/users/nobody", headers=admin, json={"enabled": True}
                        ).status_code == 404  # fmt: skip
