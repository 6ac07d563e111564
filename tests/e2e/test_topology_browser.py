"""The topology at size, in a real Chromium: a 200-endpoint connector expanded, fitted, and
the verdict of a real push, decided by a real sweep, on the connector and in its history."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from playwright.sync_api import expect

from tests import certs as c
from tests.e2e.conftest import ARTIFACTS, _cli, login

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1400, "height": 900}
CY = "document.getElementById('topology-graph')._cyreg.cy"


def _import(live_server, tmp_path, common_name: str) -> str:
    """A fresh certificate (with its key) in the live server's inventory; its fingerprint."""
    cert, key = c.make_cert(common_name)
    folder = tmp_path / common_name
    folder.mkdir()
    (folder / "cert.pem").write_bytes(c.pem(cert))
    (folder / "cert.key").write_bytes(c.key_pem(key))
    _cli(live_server["env"], "import", str(folder), "--json")
    return cert.fingerprint(hashes.SHA256()).hex()


def _add_connector(live_server, tmp_path, name: str, endpoints: list[dict], fingerprint: str):
    config = tmp_path / f"{name}.json"
    config.write_text(
        json.dumps(
            {
                "profile": "test-files",
                "cert_path": str(tmp_path / f"{name}.crt"),
                "key_path": str(tmp_path / f"{name}.key"),
                "endpoints": endpoints,
            }
        )
    )
    env = live_server["env"]
    _cli(env, "connectors", "add", name, "--type", "local", "--config", str(config))
    _cli(env, "connectors", "bind", name, "--cert", fingerprint)


def _open(page, live_server, fingerprint: str) -> None:
    page.goto(f"{live_server['url']}/certificates/{fingerprint}/topology")
    page.wait_for_selector("#topology-graph canvas")
    page.wait_for_function(f"() => {CY} && {CY}.nodes().length > 0")


def _point(page, node_id: str) -> tuple[float, float]:
    """Where cytoscape draws the node, in page coordinates."""
    point = page.evaluate(
        """([id]) => {
            const el = document.getElementById('topology-graph');
            const p = el._cyreg.cy.getElementById(id).renderedPosition();
            const r = el.getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""",
        [node_id],
    )
    return point[0], point[1]


def _tap(page, node_id: str) -> None:
    """A real click on the node, through the canvas, as a person would."""
    page.mouse.click(*_point(page, node_id))


def _hover(page, node_id: str) -> None:
    x, y = _point(page, node_id)
    page.mouse.move(x - 40, y - 40)
    page.mouse.move(x, y)


def _overlaps(boxes: list[list]) -> list[tuple[str, str]]:
    """Pairs of (id, x1, y1, x2, y2) boxes that overlap (touching edges do not)."""
    found = []
    ordered = sorted(boxes, key=lambda b: b[1])
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b[1] >= a[3]:
                break
            if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]:
                found.append((a[0], b[0]))
    return found


def test_topo001_two_hundred_endpoints_expand_into_a_grid_that_fits(page, live_server, tmp_path):
    fingerprint = _import(live_server, tmp_path, "fleet-200.corp.example")
    login(page, live_server, "operator")
    _open(page, live_server, fingerprint)
    # No connector is bound yet: the page explains how to add one and says nothing else.
    expect(page.locator("#topology-no-connector")).to_be_visible()
    page.wait_for_timeout(1500)  # any re-render of the panel would have fired by now
    expect(page.locator("#topology-connector-message")).to_have_text("")
    assert "Choose a connector" not in page.inner_text("body")

    endpoints = [
        {"host": f"10.20.{i // 100}.{i % 100 + 1}", "port": 8443, "sni": None} for i in range(200)
    ]
    endpoints[7]["sni"] = "portal-eu-west.fleet-200.corp.example"  # one long label
    _add_connector(live_server, tmp_path, "fleet-200-lb", endpoints, fingerprint)
    _open(page, live_server, fingerprint)
    expect(page.locator("#topology-connector-table")).to_contain_text("fleet-200-lb")
    assert page.evaluate(f"() => {CY}.nodes('.endpoint').length") == 0  # collapsed

    connector_id = page.evaluate(f"() => {CY}.nodes('.connector')[0].data('connector_id')")
    _tap(page, f"summary-{connector_id}")
    page.wait_for_function(f"() => {CY}.nodes('.endpoint').length === 200")
    page.wait_for_timeout(400)  # dash-cytoscape re-runs the layout 100 ms after an add
    page.click("#topology-fit-btn")
    page.wait_for_timeout(600)  # cytoscape draws a quick texture first, the real frame after

    with_labels = page.evaluate(
        f"""() => {CY}.nodes('.endpoint').map(n => {{
            const b = n.boundingBox({{includeLabels: true}});
            return [n.id(), b.x1, b.y1, b.x2, b.y2];
        }})"""
    )
    shapes = page.evaluate(
        f"""() => {CY}.nodes('.endpoint').map(n => {{
            const b = n.boundingBox({{includeLabels: false}});
            return [n.id(), b.x1, b.y1, b.x2, b.y2];
        }})"""
    )
    assert len(with_labels) == 200
    assert _overlaps(shapes) == []
    assert _overlaps(with_labels) == []  # not even their labels touch

    # The grid is compact: no longer a 20,000 px row.
    xs = [b[1] for b in with_labels] + [b[3] for b in with_labels]
    ys = [b[2] for b in with_labels] + [b[4] for b in with_labels]
    aspect = (max(xs) - min(xs)) / (max(ys) - min(ys))
    assert 0.8 < aspect < 3.0, aspect

    # After "Fit" the whole graph is inside the graph's panel, and the panel in the window.
    page.evaluate("() => window.scrollTo(0, 0)")
    panel = page.evaluate(
        "() => { const r = document.getElementById('topology-graph').getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; }"
    )
    assert panel[0] >= 0 and panel[1] >= 0
    assert panel[2] <= VIEWPORT["width"] and panel[3] <= VIEWPORT["height"], panel
    drawn = page.evaluate(
        f"""() => {{ const cy = {CY}; const b = cy.elements().renderedBoundingBox();
            return [b.x1, b.y1, b.x2, b.y2, cy.width(), cy.height()]; }}"""
    )
    assert drawn[0] >= 0 and drawn[1] >= 0, drawn
    assert drawn[2] <= drawn[4] and drawn[3] <= drawn[5], drawn

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "topology-200-endpoints.png"))

    # Zoomed in, the labels read: address, SNI name, state; nothing is cut inside a word.
    target = page.evaluate(
        f"() => {CY}.nodes('.endpoint').filter(n => n.data('label').includes('portal'))[0].id()"
    )
    page.evaluate(
        f"([id]) => {{ const cy = {CY}; cy.zoom(1); cy.center(cy.getElementById(id)); }}", [target]
    )
    label = page.evaluate(f"([id]) => {CY}.getElementById(id).data('label')", [target])
    assert label == "10.20.0.8:8443\nportal-eu-west.fleet-200.\ncorp.example\nUnverified", label
    page.wait_for_timeout(600)
    page.screenshot(path=str(ARTIFACTS / "topology-200-endpoints-zoomed.png"))

    # The details of one endpoint, in the side panel, on hover.
    _hover(page, target)
    details = page.locator("#topology-node-details")
    expect(details).to_contain_text("10.20.0.8:8443")
    expect(details).to_contain_text("portal-eu-west.fleet-200.corp.example")
    expect(details).to_contain_text("Last checked")
    expect(details).to_contain_text("fleet-200-lb")

    # Tapping the connector folds the grid again.
    _tap(page, f"connector-{connector_id}")
    page.wait_for_function(f"() => {CY}.nodes('.endpoint').length === 0")
    assert page.foreign_requests == [] and page.dialogs == []


def _json(live_server, *args: str):
    return json.loads(_cli(live_server["env"], *args, passwords=live_server["passwords"]))


def test_topo002_the_verdict_of_the_last_push_on_the_connector_and_in_its_history(
    page, live_server
):
    users = live_server["users"]
    certs = _json(live_server, "certs", "list", "--json")
    [crm] = [x for x in certs if x["common_name"] == "crm-connector.corp.example"]
    fingerprint = crm["fingerprint_sha256"]
    request = _json(
        live_server,
        "push",
        "request",
        "--cert",
        fingerprint,
        "--connector",
        "demo-crm-nginx",
        "--comment",
        "renewal",
        "--as",
        users["operator"]["username"],
        "--json",
    )
    [order] = request["work_orders"]
    work_order = order["id"]
    env = live_server["env"]
    known = live_server["passwords"]
    _cli(env, "workorders", "approve", work_order, "--as", users["reviewer"]["username"],
         passwords=known)  # fmt: skip
    _cli(env, "workorders", "implement", work_order, "--as", users["implementer"]["username"],
         passwords=known)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        orders = {o["id"]: o for o in _json(live_server, "workorders", "list", "--json")}
        if orders[work_order]["status"] == "Completed":
            break
        assert orders[work_order]["status"] != "Failed", orders[work_order]
        assert time.monotonic() < deadline, orders[work_order]
        time.sleep(0.3)
    time.sleep(3.2)  # the sweep leaves a push of under 3 s to the next one (nginx reloads)
    _cli(env, "verify", "--cert", fingerprint, "--json")

    listed = {o["name"]: o for o in _json(live_server, "connectors", "list", "--json")}
    last = listed["demo-crm-nginx"]["last_push"]
    assert last["work_order"] == work_order and last["outcome"] == "Completed"
    assert last["verdict"]["state"] == "verified", last
    assert last["verdict"]["endpoints_matched"] == 1
    assert listed["demo-crm-nginx"]["certificates"] == [
        {"fingerprint": fingerprint, "common_name": "crm-connector.corp.example"}
    ]

    login(page, live_server, "manager")
    _open(page, live_server, fingerprint)
    row = page.locator("#topology-connector-table tr", has_text="demo-crm-nginx")
    expect(row).to_contain_text(f"{work_order} · Completed · Verified")
    expect(row).to_contain_text("1 endpoint: 1 matched, 0 failed")
    label = page.evaluate(
        f"() => {CY}.nodes('.connector').filter(n => n.data('label').includes('demo-crm'))"
        "[0].data('label')"
    )
    assert f"{work_order} · Completed" in label and "Verified" in label, label
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "topology-verdict.png"), full_page=True)

    page.goto(live_server["url"] + "/workorders")
    grid_row = page.locator("#workorders-grid .ag-row", has_text=work_order).first
    grid_row.locator("[col-id='status']").click()
    timeline = page.locator("#workorders-timeline")
    expect(timeline).to_contain_text("Verification")
    expect(timeline).to_contain_text("Verified")
    expect(timeline).to_contain_text("1 endpoint: 1 matched, 0 failed")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "workorder-verdict-timeline.png"), full_page=True)
    assert page.foreign_requests == []
