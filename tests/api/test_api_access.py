"""Who may do what through the API, on a real server: four eyes and roles exactly as in
the UI, read tokens that cannot write, revoked, expired and disabled users' tokens, the
Idempotency-Key of push requests, and the token's secret kept out of everything stored."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from data.api_tokens import list_tokens, revoke_token
from data.db import session_scope
from data.models import PushRequest
from data.user_admin import set_enabled
from data.users import add_user

PASSWORD = "correct horse battery staple"


def _fingerprint(api, cn: str) -> str:
    return api("GET", f"/api/v1/certificates?cn={cn}&limit=1").json()["items"][0][
        "fingerprint_sha256"
    ]


def _requests_of(server, fingerprint: str) -> int:
    from data.models import Certificate

    with session_scope(server.settings.database_url) as db:
        return db.scalar(
            select(func.count()).select_from(PushRequest).join(
                Certificate, Certificate.id == PushRequest.certificate_id
            ).where(Certificate.fingerprint_sha256 == fingerprint)
        )  # fmt: skip


def _problem(response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:certpush:problem:{kind}"
    assert body["status"] == status
    return body["detail"]


def test_four_eyes_and_roles_apply_as_in_the_ui(api_server):
    admin = api_server.as_role("admin")
    operator = api_server.as_role("operator")
    reviewer = api_server.as_role("reviewer")
    fingerprint = _fingerprint(admin, "erp-gateway")
    created = admin("POST", "/api/v1/push-requests",
                    json={"certificate": fingerprint, "comment": "admin asks"})  # fmt: skip
    assert created.status_code == 201, created.text
    path = created.json()["work_orders"][0]["links"]["self"]
    # The requester's own token cannot approve (admins act at every level, not on their own).
    detail = _problem(admin("POST", f"{path}/approve", json={}), 403, "four-eyes")
    assert "four-eyes" in detail
    # An operator's role does not approve; a reviewer's does not implement.
    assert "needs the reviewer role" in _problem(
        operator("POST", f"{path}/approve", json={}), 403, "forbidden")  # fmt: skip
    assert reviewer("POST", f"{path}/approve", json={}).status_code == 200
    _problem(reviewer("POST", f"{path}/implement", json={}), 403, "forbidden")
    # Two reviews at once: one wins, the other hears who was first (a conflict).
    assert "already" in _problem(reviewer("POST", f"{path}/approve", json={}), 409, "conflict")
    # A rejection needs a reason; the implementer may reject with one.
    implementer = api_server.as_role("implementer")
    _problem(implementer("POST", f"{path}/reject", json={"comment": ""}), 422, "validation")
    done = implementer("POST", f"{path}/reject", json={"comment": "not this week"})
    assert done.json()["status"] == "Rejected"


def test_validation_errors_name_each_field(api_server):
    operator = api_server.as_role("operator")
    response = operator("POST", "/api/v1/push-requests",
                        json={"certificate": "", "comment": 5, "surprise": 1})  # fmt: skip
    _problem(response, 422, "validation")
    fields = {(e["location"], e["field"]) for e in response.json()["errors"]}
    assert {("json", "certificate"), ("json", "comment"), ("json", "surprise")} <= fields
    implementer = api_server.as_role("implementer")
    naive = {"manual": False, "at": "2030-01-01T10:00"}
    at = implementer("POST", "/api/v1/work-orders/WO-000001/implement", json=naive)
    _problem(at, 422, "validation")
    assert at.json()["errors"][0]["field"] == "at"  # a time without a zone is refused


def test_a_read_token_reads_and_never_writes(api_server):
    token = api_server.token(api_server.users["operator"], scope="read")
    listed = api_server.call("GET", "/api/v1/certificates?status=orange", token)
    assert listed.status_code == 200
    assert all(c["status"] == "orange" for c in listed.json()["items"])
    fingerprint = listed.json()["items"][0]["fingerprint_sha256"]
    before = _requests_of(api_server, fingerprint)
    refused = api_server.call("POST", "/api/v1/push-requests", token,
                              json={"certificate": fingerprint})  # fmt: skip
    assert "read scope" in _problem(refused, 403, "forbidden")
    assert _requests_of(api_server, fingerprint) == before


def test_revoked_expired_and_disabled_users_tokens_get_401(api_server):
    settings = api_server.settings
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as db:
        add_user(db, "pipeline-ops", "operator", PASSWORD, now)
    live = api_server.token("pipeline-ops")
    expiring = api_server.token("pipeline-ops", lifetime=timedelta(seconds=1))
    revoked = api_server.token("pipeline-ops")
    assert api_server.call("GET", "/api/v1/connectors", live).status_code == 200
    with session_scope(settings.database_url) as db:
        newest = list_tokens(db, "pipeline-ops")[0]  # the last one made
        revoke_token(db, newest.id, actor="pipeline-ops", actor_role="operator", now=now)
    assert "revoked" in _problem(api_server.call("GET", "/api/v1/connectors", revoked),
                                 401, "unauthorized")  # fmt: skip
    time.sleep(1.2)
    assert "expired" in _problem(api_server.call("GET", "/api/v1/connectors", expiring),
                                 401, "unauthorized")  # fmt: skip
    with session_scope(settings.database_url) as db:
        set_enabled(db, "pipeline-ops", False, actor="test", role="admin", now=now)
    assert "disabled" in _problem(api_server.call("GET", "/api/v1/connectors", live),
                                  401, "unauthorized")  # fmt: skip
    # Nothing at all, a malformed header or a made-up token: 401 too, said plainly.
    assert api_server.call("GET", "/api/v1/connectors").status_code == 401
    _problem(api_server.call("GET", "/api/v1/connectors", headers={"Authorization": "Basic x"}),
             401, "unauthorized")  # fmt: skip
    fake = "cpt_00000000_" + "A" * 43
    assert "unknown" in _problem(api_server.call("GET", "/api/v1/connectors", fake),
                                 401, "unauthorized")  # fmt: skip
    # Health needs no token.
    health = api_server.call("GET", "/api/v1/health").json()
    assert (health["database"], health["master_key"]) == (True, True)


def test_the_same_idempotency_key_twice_makes_one_push_request(api_server):
    operator = api_server.as_role("operator")
    fingerprint = _fingerprint(operator, "crm-connector")
    before = _requests_of(api_server, fingerprint)
    body = {"certificate": fingerprint, "comment": "retried by a pipeline"}
    headers = {"Idempotency-Key": "deploy-4711"}
    first = operator("POST", "/api/v1/push-requests", json=body, headers=headers)
    second = operator("POST", "/api/v1/push-requests", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _requests_of(api_server, fingerprint) == before + 1
    # Eight at once with a new key: still one request, and all eight see it.
    racing = {"Idempotency-Key": "deploy-4712"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda _: operator("POST", "/api/v1/push-requests", json=body, headers=racing),
            range(8)))  # fmt: skip
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert _requests_of(api_server, fingerprint) == before + 2
    # The same key for another request is a conflict, not a silent replay.
    other = operator("POST", "/api/v1/push-requests", json={**body, "comment": "other"},
                     headers=headers)  # fmt: skip
    assert "different request" in _problem(other, 409, "conflict")


@pytest.mark.parametrize("part", ["whole token", "secret part"])
def test_a_tokens_secret_is_stored_and_logged_nowhere(api_server, part):
    token = api_server.tokens["operator"]
    assert api_server.call("GET", "/api/v1/certificates?limit=1", token).status_code == 200
    assert api_server.call("POST", "/api/v1/verification/sweeps", token,
                           json={}).status_code == 202  # fmt: skip
    needle = token if part == "whole token" else token.split("_", 2)[2]
    stored = b""
    for path in sorted(api_server.instance.rglob("*")):
        if path.is_file() and path.stat().st_size < 200 * 1024 * 1024:
            stored += path.read_bytes()  # the database (and its WAL), logs, reports, keys
    assert stored, "nothing to search"
    assert needle.encode() not in stored
    with session_scope(api_server.settings.database_url) as db:
        from data.models import AuditEvent

        for event in db.scalars(select(AuditEvent)):
            assert needle not in f"{event.action} {event.target} {event.detail}"
