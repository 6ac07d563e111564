"""The web app through its public surfaces: HTTP routes, Dash's callback endpoint,
and callbacks called as plain functions inside a request context."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from flask_login import login_user

from data.db import session_scope
from data.importer import import_paths
from data.users import add_user
from tests import certs as c

PASSWORD = "correct horse battery"


@pytest.fixture
def web(sqlite_settings, tmp_path):
    """The app's Flask server pointed at a fresh database with one user of each kind."""
    from dashboard.app import app
    from data.crypto import load_vault

    now = datetime.now(UTC)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(30):
        (inputs / f"{i:02}.pem").write_bytes(c.pem(c.make_cert(f"web-{i:02}.example")[0]))
    (inputs / "xss.pem").write_bytes(c.pem(c.make_cert("<img src=x onerror=alert(1)>")[0]))
    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "olivia", "operator", PASSWORD, now)
        add_user(db, "maya", "manager", PASSWORD, now)
        import_paths(db, load_vault(sqlite_settings), [inputs], now=now, actor="test")
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def login(client, username="olivia", password=PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return client.post(
        "/login", data={"csrf": token, "username": username, "password": password, "next": "/"}
    )


GRID_OUTPUTS = [
    {"id": "client-cert-grid", "property": "getRowsResponse"},
    {"id": "client-cert-error", "property": "children"},
    {"id": "client-cert-error", "property": "is_open"},
]


def grid_payload(request: dict) -> dict:
    return {
        "output": "..client-cert-grid.getRowsResponse...client-cert-error.children"
        "...client-cert-error.is_open..",
        "outputs": GRID_OUTPUTS,
        "inputs": [{"id": "client-cert-grid", "property": "getRowsRequest", "value": request}],
        "changedPropIds": ["client-cert-grid.getRowsRequest"],
        "state": [],
    }


def test_pages_redirect_anonymous_users_to_login(web):
    client = web.test_client()
    response = client.get("/certificates/client")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/certificates/client")
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/_dash-dependencies").status_code == 401


def test_anonymous_callback_post_is_rejected_and_leaks_nothing(web):
    client = web.test_client()
    response = client.post(
        "/_dash-update-component", json=grid_payload({"startRow": 0, "endRow": 50})
    )
    assert response.status_code == 401
    assert b"web-0" not in response.data


def test_login_rejects_wrong_password_and_missing_token(web):
    client = web.test_client()
    wrong = login(client, password="not the password")
    assert wrong.status_code == 401
    assert "wrong user name or password" in wrong.get_data(as_text=True)
    forged = client.post("/login", data={"username": "olivia", "password": PASSWORD})
    assert "form expired" in forged.get_data(as_text=True)
    assert client.get("/certificates/client").status_code == 302


def test_logged_in_grid_callback_pages_in_sql(web):
    client = web.test_client()
    assert login(client).status_code == 302
    response = client.post(
        "/_dash-update-component",
        json=grid_payload(
            {
                "startRow": 10,
                "endRow": 20,
                "sortModel": [{"colId": "common_name", "sort": "asc"}],
                "filterModel": {
                    "common_name": {"filterType": "text", "type": "contains", "filter": "web-"}
                },
            }
        ),
    )
    assert response.status_code == 200
    body = response.get_json()["response"]
    rows = body["client-cert-grid"]["getRowsResponse"]["rowData"]
    assert body["client-cert-grid"]["getRowsResponse"]["rowCount"] == 30
    assert [r["common_name"] for r in rows] == [f"web-{i:02}.example" for i in range(10, 20)]
    assert "status_hex" in rows[0] and "der" not in rows[0]


def test_state_changing_posts_need_json_and_our_origin(web):
    client = web.test_client()
    login(client)
    as_form = client.post(
        "/_dash-update-component",
        data=json.dumps(grid_payload({"startRow": 0, "endRow": 5})),
        content_type="text/plain",
    )
    assert as_form.status_code == 415
    cross_site = client.post(
        "/_dash-update-component",
        json=grid_payload({"startRow": 0, "endRow": 5}),
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403


def _as_user(web, username: str):
    from dashboard.auth import WebUser
    from data.users import authenticate

    settings = web.config["CERTPUSH_SETTINGS"]
    with session_scope(settings.database_url) as db:
        info = authenticate(db, username, PASSWORD)
    context = web.test_request_context("/_dash-update-component", method="POST")
    context.push()
    login_user(WebUser(info))
    return context


def test_grid_callback_as_a_plain_function(web):
    from dashboard.callbacks.client_certificates import grid_rows, open_topology

    context = _as_user(web, "maya")
    try:
        response, error, shown = grid_rows(
            {
                "startRow": 0,
                "endRow": 5,
                "sortModel": [{"colId": "not_after", "sort": "desc"}],
                "filterModel": {
                    "status": {"filterType": "text", "type": "equals", "filter": "Green"}
                },
            }
        )
        assert (error, shown) == ("", False)
        assert response["rowCount"] == 31
        assert {r["status"] for r in response["rowData"]} == {"Green"}
        _, error, shown = grid_rows(
            {"startRow": 0, "endRow": 5, "filterModel": {"status": {"filter": "purple"}}}
        )
        assert shown and "unknown status 'purple'" in error
        fingerprint = response["rowData"][0]["fingerprint_sha256"]
        assert open_topology({"rowId": fingerprint}) == f"/certificates/{fingerprint}/topology"
    finally:
        context.pop()


def test_callbacks_refuse_a_request_without_a_user(web):
    from dashboard.callbacks.client_certificates import grid_rows
    from data.domain.errors import AuthError

    with web.test_request_context("/"), pytest.raises(AuthError):
        grid_rows({"startRow": 0, "endRow": 5})


def test_topology_callback_renders_names_as_text(web):
    from dashboard.callbacks.topology import load_topology
    from data.queries import certificate_page

    settings = web.config["CERTPUSH_SETTINGS"]
    with session_scope(settings.database_url) as db:
        page = certificate_page(
            db,
            start=0,
            end=1,
            now=datetime.now(UTC),
            filter_model={"common_name": {"type": "startsWith", "filter": "<img"}},
        )
    [row] = page.rows
    context = _as_user(web, "olivia")
    try:
        elements, title, details, connectors, _error, error_open = load_topology(
            row.fingerprint_sha256
        )
        missing = load_topology("00" * 32)
    finally:
        context.pop()
    assert not error_open
    assert elements[0]["classes"] == f"certificate status-{row.status.value}"
    assert title == "Topology of <img src=x onerror=alert(1)>"  # a string child: React escapes it
    assert "app connector" in json.dumps(connectors.to_plotly_json(), default=str)
    assert details is not None
    assert missing[5] is True and "no certificate" in missing[4]


def _upload(data: bytes) -> str:
    import base64

    return "data:application/x-pem-file;base64," + base64.b64encode(data).decode()


def _count(web) -> int:
    from sqlalchemy import func, select

    from data.models import Certificate

    with session_scope(web.config["CERTPUSH_SETTINGS"].database_url) as db:
        return db.scalar(select(func.count()).select_from(Certificate))


def test_import_upload_checks_the_role_inside_the_callback(web):
    from dashboard.callbacks.import_upload import import_uploads

    cert, key = c.make_cert("uploaded.example")
    before = _count(web)
    context = _as_user(web, "maya")  # manager: read-only
    try:
        refused, done = import_uploads([_upload(c.pem(cert))], ["u.pem"], None)
    finally:
        context.pop()
    assert done is None
    assert "Import refused: role 'manager' may not import certificates" in str(refused)
    assert _count(web) == before

    context = _as_user(web, "olivia")
    try:
        shown, done = import_uploads(
            [_upload(c.pem(cert)), _upload(c.key_pem(key, b"pw")), "data:;base64,@@@"],
            ["u.pem", "u.key", "broken.pem"],
            "pw",
        )
    finally:
        context.pop()
    assert done["imported"] == 2
    text = json.dumps(shown.to_plotly_json(), default=str)
    assert "2 imported, 0 duplicate, 1 rejected" in text
    assert "upload was damaged" in text
    assert _count(web) == before + 1


def test_forged_import_post_by_a_manager_changes_nothing(web):
    client = web.test_client()
    login(client, "maya")
    before = _count(web)
    payload = {
        "output": "..client-import-results.children...client-import-done.data..",
        "outputs": [
            {"id": "client-import-results", "property": "children"},
            {"id": "client-import-done", "property": "data"},
        ],
        "inputs": [
            {
                "id": "client-import-upload",
                "property": "contents",
                "value": [_upload(c.pem(c.make_cert("forged.example")[0]))],
            }
        ],
        "state": [
            {"id": "client-import-upload", "property": "filename", "value": ["f.pem"]},
            {"id": "client-import-password", "property": "value", "value": None},
        ],
        "changedPropIds": ["client-import-upload.contents"],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200
    assert "may not import certificates" in response.get_data(as_text=True)
    assert _count(web) == before


def test_large_fan_collapses_and_expands_on_tap(web):
    from dashboard.callbacks.topology import load_topology, tap_node
    from data.connectors import add_connector, bind
    from data.crypto import load_vault
    from data.queries import certificate_page

    settings = web.config["CERTPUSH_SETTINGS"]
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as db:
        fingerprint = certificate_page(db, start=0, end=1, now=now).rows[0].fingerprint_sha256
        info = add_connector(
            db,
            load_vault(settings),
            name="pool",
            type_name="local",
            settings={"profile": "test-files", "cert_path": "/tmp/a.crt", "key_path": "/tmp/a.key"},
            endpoints=[f"10.1.{i // 250}.{i % 250 + 1}:443" for i in range(300)],
            actor="t",
            role="admin",
            now=now,
        )
        bind(db, "pool", fingerprint, actor="t", now=now)
    context = _as_user(web, "maya")
    try:
        collapsed = load_topology(fingerprint, None, [])[0]
        summary = next(e for e in collapsed if e["data"].get("kind") == "summary")
        assert summary["data"]["connector_id"] == info.id
        expanded_ids = tap_node(summary["data"], [])
        assert expanded_ids == [info.id] and "300 endpoints" in summary["data"]["title"]
        opened = load_topology(fingerprint, None, expanded_ids)[0]
        folded = tap_node({"kind": "connector", "connector_id": info.id}, expanded_ids)
    finally:
        context.pop()
    kinds = [e["data"].get("kind") for e in collapsed]
    assert kinds.count("endpoint") == 0 and kinds.count("summary") == 1
    opened_kinds = [e["data"].get("kind") for e in opened]
    assert opened_kinds.count("endpoint") == 200 and opened_kinds.count("summary") == 1
    assert opened_kinds.count("group") == 1  # the 200 drawn stand in a framed grid
    assert folded == []
