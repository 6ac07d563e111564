"""The Content-Security-Policy in a real headless Chromium: every page works under it and
the browser reports no violation; logging out and signing out everywhere are POST forms
of the Dash page."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from data.config import Settings
from data.db import session_scope
from data.models import Binding, Certificate
from tests.e2e.conftest import ARTIFACTS, login

pytestmark = pytest.mark.browser

# Every violation, whatever the page: the init script runs before the page's own scripts
# and reports through a binding, which the policy does not govern.
WATCH_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.reportCspViolation([e.violatedDirective, e.blockedURI, e.sourceFile || '',
                             String(e.lineNumber), (e.sample || '').slice(0, 80)].join(' | '));
});
"""


def _watch(page) -> tuple[list[str], list[str]]:
    violations: list[str] = []
    console: list[str] = []
    page.expose_function("reportCspViolation", lambda text: violations.append(text))
    page.add_init_script(WATCH_VIOLATIONS)
    page.on(
        "console",
        lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    return violations, console


def _bound_certificate(live_server) -> str:
    """A demo certificate with app connectors, so its topology draws every kind of node."""
    settings = Settings.from_env(live_server["env"])
    with session_scope(settings.database_url) as db:
        return db.scalar(
            select(Certificate.fingerprint_sha256)
            .join(Binding, Binding.certificate_id == Certificate.id)
            .limit(1)
        )


def test_csp001_every_page_runs_without_a_policy_violation(page, live_server):
    violations, console = _watch(page)
    login(page, live_server, "manager")  # the login page is watched too
    url = live_server["url"]

    page.click("#nav-cert-plus")
    page.click("#nav-push-to-device-client")
    page.wait_for_selector("#client-cert-grid .ag-row .status-badge")
    page.click("#client-cert-grid .ag-header-cell[col-id='days_left']")

    page.goto(f"{url}/certificates/{_bound_certificate(live_server)}/topology")
    page.wait_for_selector("#topology-graph canvas")
    expect(page.locator("#topology-connectors table")).to_be_visible()

    page.goto(url + "/workorders")
    expect(page.locator("#workorders-grid .ag-row").first).to_be_visible()
    page.locator("#workorders-grid .ag-row").first.click()

    page.goto(url + "/reports/push-validation")
    expect(page.locator("#report-kpis .report-kpi")).to_have_count(7, timeout=15000)
    page.wait_for_selector("#report-trend .main-svg", state="attached")
    page.hover("#report-trend .main-svg")  # plotly's hover and modebar styles

    page.goto(url + "/audit")
    expect(page.locator("#audit-grid .ag-row").first).to_be_visible()
    page.click("#nav-account")
    expect(page.locator("#nav-logout")).to_be_visible()
    page.wait_for_timeout(500)  # late violations (fonts, lazy chunks) arrive asynchronously
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "csp-audit.png"), full_page=True)

    assert violations == []
    assert [m for m in console if "Content Security Policy" in m] == []
    assert page.foreign_requests == []


def test_csp002_log_out_and_sign_out_everywhere_from_the_menu(browser, page, live_server):
    env = live_server["env"]
    password = "csp e2e long passphrase"
    subprocess.run(
        [sys.executable, "-m", "jobs.cli", "users", "add", "csp-e2e", "--role", "manager",
         "--password-stdin"],
        input=password, env=env, text=True, capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    live_server["users"]["csp-e2e"] = {"username": "csp-e2e", "password": password}
    other = browser.new_context().new_page()
    try:
        login(page, live_server, "csp-e2e")
        login(other, live_server, "csp-e2e")

        page.click("#nav-account")
        page.click("#nav-logout")
        expect(page.locator("#login-notice")).to_have_text("You have logged out.")
        other.reload()
        other.wait_for_selector("#overview-status-counts .card")  # only this one ended

        login(page, live_server, "csp-e2e")
        page.click("#nav-account")
        page.click("#nav-sign-out-everywhere")
        expect(page.locator("#login-notice")).to_contain_text("signed out on every device")
        other.goto(live_server["url"] + "/workorders")
        expect(other.locator("#login-username")).to_be_visible()
        expect(other.locator("#login-notice")).to_contain_text("session has ended")
    finally:
        other.context.close()
        del live_server["users"]["csp-e2e"]


def test_csp003_the_users_page_for_an_admin(page, live_server):
    """Admins manage users on their page (no CSP violation there either); the operator's
    menu does not offer it."""
    violations, console = _watch(page)
    login(page, live_server, "admin")
    page.goto(live_server["url"] + "/users")
    grid = page.locator("#users-grid")
    operator = live_server["users"]["operator"]["username"]
    row = grid.locator(".ag-row", has_text=operator)
    expect(row).to_be_visible()
    row.locator(".ag-selection-checkbox input, input[type=checkbox]").first.click()
    page.click("#users-sign-out-btn")
    expect(page.locator("#users-message")).to_contain_text(f"{operator}:")
    expect(page.locator("#users-message")).to_contain_text("web session(s) ended")
    assert violations == []
    assert [m for m in console if "Content Security Policy" in m] == []
