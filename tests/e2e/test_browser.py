"""The operator's first walk through certpush, in a real headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.browser


def test_brow001_operator_opens_a_topology_from_the_menu(page, live_server):
    login(page, live_server, "operator")
    page.click("#nav-cert-plus")
    assert page.locator("text=CERTIFICATE ACTION").is_visible()
    page.click("#nav-push-to-device-client")
    page.wait_for_selector("#client-cert-grid .ag-row .status-badge")
    badges = page.locator("#client-cert-grid .status-badge").all_inner_texts()
    assert {"Green", "Red", "Orange"} <= set(badges)

    row = page.locator("#client-cert-grid .ag-center-cols-container .ag-row").first
    name = row.locator("[col-id='common_name']").inner_text()
    row.locator("[col-id='common_name']").dblclick()
    page.wait_for_url("**/topology")
    page.wait_for_selector("#status-legend")
    expect(page.locator("#topology-title")).to_have_text(f"Topology of {name}")
    legend = page.locator("#status-legend li strong").all_inner_texts()
    assert legend == [
        "Black", "Red", "Gray", "Mid Purple", "Orange", "Yellow", "Blue", "Green",
    ]  # fmt: skip
    expect(page.locator("#topology-connectors")).to_contain_text("app connector")
    page.wait_for_selector("#topology-graph canvas")
    page.wait_for_timeout(500)  # let cytoscape finish its first draw for the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "topology.png"), full_page=True)
    assert page.foreign_requests == []  # offline-first: nothing from a CDN or the internet


def test_brow002_server_side_filter_and_sort(page, live_server):
    login(page, live_server, "manager")
    page.goto(live_server["url"] + "/certificates/client")
    page.wait_for_selector("#client-cert-grid .ag-row .status-badge")
    page.click("#client-cert-grid .ag-header-cell[col-id='days_left']")  # sort ascending
    page.wait_for_function(
        "() => document.querySelector(\"#client-cert-grid .ag-row[row-index='0'] "
        "[col-id='days_left']\")?.innerText.startsWith('-')"
    )
    first = page.locator("#client-cert-grid .ag-row[row-index='0'] [col-id='status']")
    assert first.inner_text() == "Red"
    assert page.foreign_requests == []


def test_brow003_login_is_required_and_wrong_password_is_refused(page, live_server):
    page.goto(live_server["url"] + "/certificates/client")
    page.wait_for_selector("#login-username")
    page.fill("#login-username", live_server["users"]["operator"]["username"])
    page.fill("#login-password", "definitely-wrong")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("wrong user name or password")
    assert page.dialogs == []
