"""The topology page's callbacks on a real database: the verdict of the last push beside its
connector, node details on hover, the work order's deciding sweep, and no message before
an action. Called as plain functions inside a logged-in request, and posted to Dash's
callback endpoint exactly as the browser does when the panel appears.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.importer import import_paths
from data.models import Binding, Certificate, Connector, Endpoint
from data.users import add_user
from tests import certs as c
from tests.dash_calls import ActingAs, component_text
from tests.report_fixtures import ReportWorld

PASSWORD = "correct horse battery"


def _As(web, who) -> ActingAs:
    """Callbacks as that user (tests/dash_calls.py), with this module's demo password."""
    return ActingAs(web, who, PASSWORD)


_text = component_text

BERLIN = {"zone": "Europe/Berlin", "offset": -60}
PUSHED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SWEPT = PUSHED + timedelta(minutes=15)


@pytest.fixture
def web(sqlite_settings, tmp_path):
    """A certificate with its key, bound to "shop-lb" (two endpoints, pushed once and verified
    by the next sweep); "spare" exists unbound; a second certificate has no connector."""
    from dashboard.app import app

    now = datetime.now(UTC)
    files = tmp_path / "in"
    files.mkdir()
    cert, key = c.make_cert("shop.example")
    lonely, _ = c.make_cert("lonely.example")
    (files / "shop.pem").write_bytes(c.pem(cert))
    (files / "shop.key").write_bytes(c.key_pem(key))
    (files / "lonely.pem").write_bytes(c.pem(lonely))
    vault = load_vault(sqlite_settings)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "olivia", "operator", PASSWORD, now)
        add_user(db, "maya", "manager", PASSWORD, now)
        import_paths(db, vault, [files], now=now, actor="test")
        for name, endpoints in (("shop-lb", ["10.0.0.1:443", "10.0.0.2:443 shop.example"]),
                                ("spare", ["10.0.0.9:443"])):  # fmt: skip
            add_connector(
                db,
                vault,
                name=name,
                type_name="local",
                settings={
                    "profile": "test-files",
                    "cert_path": "/tmp/shop.crt",
                    "key_path": "/tmp/shop.key",
                },
                endpoints=endpoints,
                actor="test",
                role="admin",
                now=now,
            )
        bind(db, "shop-lb", fingerprint, actor="test", now=now)
        row = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
        lb = db.scalar(select(Connector).where(Connector.name == "shop-lb"))
        world = ReportWorld(db)
        world.endpoints[lb.id] = list(
            db.scalars(select(Endpoint.id).where(Endpoint.connector_id == lb.id))
        )
        order = world.push(row, lb, requested=PUSHED - timedelta(hours=1), pushed=PUSHED,
                           sweeps=[(SWEPT, ["match", "match"])])  # fmt: skip
        work_order = order.id
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    server.fingerprint = fingerprint
    server.lonely = lonely.fingerprint(hashes.SHA256()).hex()
    server.work_order = work_order
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def _login(client, username: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login", data={"csrf": token, "username": username, "password": PASSWORD, "next": "/"}
    )
    assert answer.status_code == 302


def _callback_key(output: str) -> str:
    """The callback_map key (as Dash names it) of the one callback writing ``output``."""
    from dashboard.app import app

    [key] = [k for k in app.callback_map if output in k]
    return key


def _outputs(key: str) -> list[dict] | dict:
    """The "outputs" of a request, as the renderer sends them: a list only for several."""
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in key.strip(".").split("...")
    ]
    return outputs if key.startswith("..") else outputs[0]


# ----------------------------------------------------------------------------- verdicts


def test_the_connector_row_and_node_show_the_verdict_of_the_last_push(web):
    from dashboard.callbacks.topology import load_topology

    with _As(web, "maya"):
        elements, _, _, panel, _, error_open = load_topology(web.fingerprint, None, [], BERLIN)
    assert not error_open
    wo = f"WO-{web.work_order:06d}"
    row = _text(panel)
    assert f"{wo} · Completed · Verified 2026-01-05 10:15 CET (09:15 UTC)" in row
    assert "2 endpoints: 2 matched, 0 failed" in row
    assert '"data-verdict": "verified"' in row
    [node] = [e for e in elements if e["data"].get("kind") == "connector"]
    # Short: name and state, the state being the verdict of the last push, in UTC.
    assert node["data"]["label"] == f"shop-lb\n{wo} · Completed\nVerified 2026-01-05 09:15 UTC"
    assert node["data"]["verdict"] == "verified"
    details = dict(map(tuple, node["data"]["details"]))
    assert details["Last push"] == f"{wo} · Completed · 2026-01-05 10:00 CET (09:00 UTC)"
    assert details["Verification"].startswith("Verified 2026-01-05 10:15 CET (09:15 UTC)")
    endpoint = next(e for e in elements if e["data"].get("kind") == "endpoint")
    facts = dict(map(tuple, endpoint["data"]["details"]))
    assert facts["Served vs expected"] == "the same certificate"
    assert facts["Served"] == facts["Expected"] == web.fingerprint
    assert facts["Last checked"] == "2026-01-05 10:15 CET (09:15 UTC)"
    assert facts["Work order"] == f"{wo} · Completed"


def test_the_timeline_lists_the_sweep_that_decided_the_push(web):
    from dashboard.callbacks.workorders import show_history

    with _As(web, "maya"):
        card = _text(show_history([{"id": web.work_order}], BERLIN))
    assert "Verification" in card and "decided: Verified" in card
    assert "2026-01-05 10:15 CET (09:15 UTC)" in card
    assert "2 endpoints: 2 matched, 0 failed" in card


# ----------------------------------------------------------------------------- hover


def test_hovering_a_node_fills_the_side_panel_as_dash_posts_it(web):
    from dashboard.callbacks.topology import load_topology

    with _As(web, "maya"):
        elements = load_topology(web.fingerprint, None, [], BERLIN)[0]
    endpoint = next(e for e in elements if e["data"].get("kind") == "endpoint")
    client = web.test_client()
    _login(client, "maya")  # Dash registers its callbacks before the first request
    key = _callback_key("topology-node-details.children")
    payload = {
        "output": key,
        "outputs": _outputs(key),
        "inputs": [
            {"id": "topology-graph", "property": "mouseoverNodeData", "value": endpoint["data"]},
            {"id": "topology-graph", "property": "tapNodeData", "value": None},
        ],
        "state": [],
        "changedPropIds": ["topology-graph.mouseoverNodeData"],
    }
    body = client.post("/_dash-update-component", json=payload).get_data(as_text=True)
    assert "10.0.0.1:443" in body and "the same certificate" in body
    assert "Last checked" in body
    # Whatever the browser sends is rendered as text rows, bounded.
    forged = dict(endpoint["data"], details=[["<b>x</b>", "<script>1</script>"], "junk"])
    payload["inputs"][0]["value"] = forged
    answer = client.post("/_dash-update-component", json=payload).get_json()
    texts = set(_strings(answer["response"]))
    assert {"<b>x</b>", "<script>1</script>"} <= texts  # string children: React shows text
    assert "junk" not in texts


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# ----------------------------------------------------------------------------- messages


def _binding_payload(bind_clicks, unbind: dict[str, int | None], selected, fingerprint, changed):
    key = _callback_key("topology-connector-message.children")
    return {
        "output": key,
        "outputs": _outputs(key),
        "inputs": [
            {"id": "bind-existing-btn", "property": "n_clicks", "value": bind_clicks},
            [
                {
                    "id": {"name": name, "type": "connector-unbind"},
                    "property": "n_clicks",
                    "value": clicks,
                }
                for name, clicks in unbind.items()
            ],
        ],
        "state": [
            {"id": "bind-existing-select", "property": "value", "value": selected},
            {"id": "topology-fingerprint", "property": "data", "value": fingerprint},
        ],
        "changedPropIds": changed,
    }


def _bound(web, fingerprint: str) -> set[str]:
    with session_scope(web.config["CERTPUSH_SETTINGS"].database_url) as db:
        return set(
            db.scalars(
                select(Connector.name)
                .join(Binding, Binding.connector_id == Connector.id)
                .join(Certificate, Certificate.id == Binding.certificate_id)
                .where(Certificate.fingerprint_sha256 == fingerprint)
            )
        )


UNBIND_SHOP = '{"name":"shop-lb","type":"connector-unbind"}.n_clicks'
BIND = "bind-existing-btn.n_clicks"


def test_no_message_before_an_action_then_one_after_it(web):
    client = web.test_client()
    client.get("/healthz")  # Dash registers its callbacks before the first request
    _login(client, "olivia")

    def post(*args) -> dict:
        answer = client.post("/_dash-update-component", json=_binding_payload(*args))
        assert answer.status_code == 200
        return answer.get_json()["response"]

    # The panel appears (no connector bound): Dash calls with the new button's n_clicks
    # None and names it as changed. Nothing is said, nothing changes.
    assert post(None, {}, None, web.lonely, [BIND]) == {}
    # The same with a connector bound: its Unbind button appears unclicked too.
    assert post(None, {"shop-lb": None}, None, web.fingerprint, [BIND, UNBIND_SHOP]) == {}
    assert _bound(web, web.lonely) == set() and _bound(web, web.fingerprint) == {"shop-lb"}

    # A click without a choice: now the warning.
    clicked = post(1, {}, None, web.lonely, [BIND])
    assert "Choose a connector to bind first." in json.dumps(clicked)
    assert "Bound spare." in json.dumps(post(2, {}, "spare", web.lonely, [BIND]))
    assert _bound(web, web.lonely) == {"spare"}
    unbound = post(None, {"shop-lb": 1}, None, web.fingerprint, [UNBIND_SHOP])
    assert "Unbound shop-lb." in json.dumps(unbound)
    assert _bound(web, web.fingerprint) == set()


def test_a_manager_is_refused_by_the_callback_itself(web):
    client = web.test_client()
    client.get("/healthz")
    _login(client, "maya")
    answer = client.post(
        "/_dash-update-component", json=_binding_payload(1, {}, "spare", web.lonely, [BIND])
    )
    assert "Refused" in answer.get_data(as_text=True)
    assert _bound(web, web.lonely) == set()
