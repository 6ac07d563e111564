"""Adding a real SSH connector from the topology page, in a real browser."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, login
from tests.servers import PrivateSshd, make_client_key

pytestmark = pytest.mark.browser


def field(page, name: str):
    """A connector form input: Dash renders dict ids as JSON with sorted keys."""
    return page.locator(
        f"[id='{json.dumps({'name': name, 'type': 'connector-field'}, separators=(',', ':'))}']"
    )


@pytest.fixture
def sshd(tmp_path):
    server = PrivateSshd(tmp_path / "sshd")
    key_path, public = make_client_key(tmp_path / "client")
    server.authorize(public)
    server.start()
    server.client_key = key_path.read_text()
    try:
        yield server
    finally:
        server.stop()


def open_topology(page, live_server, common_name: str) -> None:
    page.goto(live_server["url"] + "/certificates/client")
    page.wait_for_selector("#client-cert-grid .ag-row .status-badge")
    page.locator(
        "#client-cert-grid .ag-header-cell[col-id='common_name'] .ag-header-cell-filter-button"
    ).click()
    page.fill(".ag-filter input[type=text]", common_name)
    cell = page.locator("#client-cert-grid .ag-row[row-index='0'] [col-id='common_name']")
    expect(cell).to_have_text(common_name)
    page.keyboard.press("Escape")
    cell.dblclick()
    expect(page.locator("#topology-title")).to_have_text(f"Topology of {common_name}")


def test_conn001_add_test_bind_ssh_connector(page, live_server, sshd, tmp_path):
    login(page, live_server, "operator")
    open_topology(page, live_server, "hr-portal.corp.example")
    expect(page.locator("#topology-no-connector")).to_be_visible()
    assert page.locator("#push-to-device-btn").count() == 0

    page.click("#add-connector-btn")
    page.fill("#connector-name", "hr-portal-ssh")
    page.select_option("#connector-type", "ssh")
    field(page, "profile").select_option("test-files")  # chosen, never typed: no commands
    field(page, "host").fill("127.0.0.1")
    field(page, "port").fill(str(sshd.port))
    field(page, "username").fill(sshd.username)
    field(page, "cert_path").fill(str(tmp_path / "hr.crt"))
    field(page, "key_path").fill(str(tmp_path / "hr.key"))
    page.fill("#connector-secret", sshd.client_key)
    page.fill("#connector-endpoints", "127.0.0.1:9443 hr-portal.corp.example\n[::1]:9443")

    page.click("#connector-test-btn")  # the scheduler runs it: the host key is still unknown
    expect(page.locator("#connector-test-result")).to_contain_text(
        "unknown host key", timeout=20000
    )
    expect(page.locator("#connector-host-key-seen")).to_contain_text(sshd.host_key_fingerprint)
    page.click("#connector-host-key-accept")
    expect(field(page, "host_key_fingerprint")).to_have_value(sshd.host_key_fingerprint)
    page.click("#connector-test-btn")
    expect(page.locator("#connector-test-result")).to_contain_text("Connection OK", timeout=20000)

    page.click("#connector-save-btn")
    expect(page.locator("#topology-connector-table")).to_contain_text("hr-portal-ssh")
    expect(page.locator("#push-to-device-btn")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "topology-connector.png"), full_page=True)
    assert page.foreign_requests == []


def test_conn002_validation_errors_are_listed(page, live_server):
    login(page, live_server, "operator")
    open_topology(page, live_server, "intranet.corp.example")
    page.click("#add-connector-btn")
    page.fill("#connector-name", "bad name")
    page.select_option("#connector-type", "local")
    expect(field(page, "host")).to_have_count(0)  # the form now follows the local spec
    page.select_option("#connector-type", "ssh")
    expect(field(page, "host")).to_have_count(1)  # the ssh fields are drawn: fill those
    field(page, "profile").select_option("nginx")
    field(page, "cert_path").fill("relative/path.crt")
    field(page, "key_path").fill("/root/.ssh/id_ed25519")
    page.fill("#connector-endpoints", "not-an-endpoint")
    page.click("#connector-save-btn")
    errors = page.locator("#connector-error-list")
    expect(errors).to_contain_text("name:")
    expect(errors).to_contain_text("host: required")
    expect(errors).to_contain_text("cert_path: must be an absolute path")
    expect(errors).to_contain_text("key_path: /root/.ssh/id_ed25519 is outside the folders")
    expect(errors).to_contain_text("endpoints[1]")


def test_conn002b_an_operator_cannot_add_a_local_connector(page, live_server):
    """A local connector acts on the certpush host itself: admins only, refused on save."""
    login(page, live_server, "operator")
    open_topology(page, live_server, "intranet.corp.example")
    page.click("#add-connector-btn")
    page.fill("#connector-name", "on-the-host")
    page.select_option("#connector-type", "local")
    field(page, "cert_path").fill("/tmp/host.crt")
    field(page, "key_path").fill("/tmp/host.key")
    page.click("#connector-save-btn")
    expect(page.locator("#connector-errors")).to_contain_text("only an admin may")


def test_conn003_manager_cannot_add_connectors(page, live_server):
    login(page, live_server, "manager")
    open_topology(page, live_server, "intranet.corp.example")
    expect(page.locator("#add-connector-btn")).to_be_disabled()


def test_conn004_edit_endpoints_of_a_bound_connector(page, live_server):
    login(page, live_server, "operator")
    open_topology(page, live_server, "payments-api.corp.example")  # a demo device is bound
    page.click('[id=\'{"name":"demo-payments-nginx","type":"connector-edit-endpoints"}\']')
    port = live_server["demo_port"]
    text = page.locator("#endpoints-text")
    expect(text).to_have_value(f"127.0.0.1:{port} payments-api.corp.example")
    text.fill(f"127.0.0.1:{port} payments-api.corp.example\nbad line here")
    page.click("#endpoints-save-btn")
    expect(page.locator("#connector-error-list")).to_contain_text("endpoints[2]")
    text.fill(f"127.0.0.1:{port} payments-api.corp.example\n[::1]:{port}")
    page.click("#endpoints-save-btn")
    row = page.locator("#topology-connector-table tr", has_text="demo-payments-nginx")
    expect(row.locator("td").nth(3)).to_have_text("2")
