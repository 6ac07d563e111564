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


def test_brow004_operator_imports_a_file_and_sees_it_in_the_grid(page, live_server, tmp_path):
    from tests import certs as c

    name = "<b>uploaded-in-browser</b>.example"  # must show as text, never as markup
    (tmp_path / "new.pem").write_bytes(c.pem(c.make_cert(name)[0]))
    (tmp_path / "junk.pem").write_bytes(b"not a certificate")
    login(page, live_server, "operator")
    page.goto(live_server["url"] + "/certificates/client")
    page.wait_for_selector("#client-cert-grid .ag-row .status-badge")
    page.click("#client-import-btn")
    page.set_input_files(
        "#client-import-upload input[type=file]",
        [str(tmp_path / "new.pem"), str(tmp_path / "junk.pem")],
    )
    expect(page.locator("#client-import-summary")).to_have_text(
        "1 imported, 0 duplicate, 1 rejected"
    )
    expect(page.locator("#client-import-results")).to_contain_text("not a certificate")
    page.click("#client-import-close")
    # The grid refreshes itself; filter to the new name on the server.
    page.locator(
        "#client-cert-grid .ag-header-cell[col-id='common_name'] .ag-header-cell-filter-button"
    ).click()
    page.fill(".ag-filter input[type=text]", "uploaded-in-browser")
    cell = page.locator("#client-cert-grid .ag-row[row-index='0'] [col-id='common_name']")
    expect(cell).to_have_text(name)
    assert page.locator("#client-cert-grid b").count() == 0
    assert page.foreign_requests == [] and page.dialogs == []


def test_brow005_manager_cannot_import(page, live_server, tmp_path):
    from tests import certs as c

    (tmp_path / "m.pem").write_bytes(c.pem(c.make_cert("manager-upload.example")[0]))
    login(page, live_server, "manager")
    page.goto(live_server["url"] + "/certificates/client")
    page.click("#client-import-btn")
    page.set_input_files("#client-import-upload input[type=file]", [str(tmp_path / "m.pem")])
    expect(page.locator("#client-import-summary")).to_contain_text(
        "role 'manager' may not import certificates"
    )
