"""Push to Device under two-level approval: three people, three browsers, one real push."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from dashboard.timezones import local_and_utc
from tests.clock import typeable_time
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_connectors_browser import open_topology

pytestmark = pytest.mark.browser

CERTIFICATE = "payments-api.corp.example"  # the demo binds the device demo-payments-nginx
DEVICE = "demo-payments-nginx"


@pytest.fixture
def people(browser, live_server):
    """Log each role in from a browser context of its own (own cookies, own time zone)."""
    contexts = []

    def person(role: str, timezone_id: str | None = None):
        context = browser.new_context(viewport={"width": 1400, "height": 900},
                                      timezone_id=timezone_id)  # fmt: skip
        contexts.append(context)
        page = context.new_page()
        page.foreign_requests = []
        origin = live_server["url"]
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((origin, "data:", "blob:"))
                else page.foreign_requests.append(r.url)
            ),
        )
        login(page, live_server, role)
        return page

    yield person
    for context in contexts:
        context.close()


def device_row(page):
    return page.locator("#topology-connector-table tr", has_text=DEVICE)


def test_appr001_request_approve_implement_until_completed(people, live_server):
    operator = people("operator")
    open_topology(operator, live_server, CERTIFICATE)
    expect(operator.locator("#approve-btn")).to_be_hidden()
    operator.click("#push-to-device-btn")
    expect(operator.locator("#push-confirm-modal")).to_be_visible()
    expect(operator.locator("#push-confirm-targets")).to_contain_text(DEVICE)
    operator.fill("#push-comment", "Renewed certificate for the payments API")
    operator.click("#push-confirm-ok")
    message = operator.locator("#topology-action-message")
    expect(message).to_contain_text(
        re.compile(rf"REQ-\d{{6}} created: WO-\d{{6}} \({DEVICE}\)"), timeout=10000
    )
    work_order = re.search(r"WO-\d{6}", message.inner_text()).group(0)
    expect(device_row(operator)).to_contain_text(f"{work_order} · Push-Approval Pending")
    expect(operator.locator("#cancel-wo-btn")).to_be_visible()  # the requester may cancel
    expect(operator.locator("#approve-btn")).to_be_hidden()  # but never approve

    reviewer = people("reviewer", "Europe/Berlin")
    open_topology(reviewer, live_server, CERTIFICATE)
    expect(device_row(reviewer)).to_contain_text(f"{work_order} · Push-Approval Pending")
    reviewer.click("#approve-btn")
    dialog = reviewer.locator("#approval-modal")
    expect(dialog).to_be_visible()
    expect(reviewer.locator("#approval-summary")).to_contain_text(work_order)
    # Before Yes, the reviewer sees the pinned plan: files, commands, endpoints (now ->
    # after) and the preflight the scheduler ran (reopened until its results are in).
    plan = reviewer.locator("#push-plan")
    for _ in range(20):
        if plan.locator(".preflight-check").count():
            break
        reviewer.click("#approval-no")
        reviewer.wait_for_timeout(500)
        reviewer.click("#approve-btn")
        expect(plan).to_be_visible()
    expect(plan.locator(".plan-files")).to_contain_text("site.crt")
    expect(plan.locator(".plan-files")).to_contain_text("0600")
    expect(plan.locator(".plan-commands")).to_contain_text("-s reload")
    endpoints = plan.locator(".plan-endpoints")
    expect(endpoints).to_contain_text(f"127.0.0.1:{live_server['demo_port']}")
    expect(endpoints).to_contain_text("payments-api.corp.example")
    expect(plan.locator('[data-check="key_match"]')).to_have_class(re.compile("preflight-ok"))
    expect(plan.locator('[data-check="sni"]')).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    reviewer.screenshot(path=str(ARTIFACTS / "approval-plan.png"), full_page=True)
    switch = reviewer.locator("#manual-implementation-switch")
    expect(switch).to_be_checked()
    expect(reviewer.locator("#schedule-datetime")).to_be_hidden()
    switch.click()  # off: the date and time of the push can be chosen
    expect(reviewer.locator("#schedule-datetime")).to_be_visible()
    expect(reviewer.locator("#schedule-datetime-zone")).to_contain_text("Europe/Berlin")
    ARTIFACTS.mkdir(exist_ok=True)
    reviewer.screenshot(path=str(ARTIFACTS / "approval-dialog.png"))
    switch.click()  # on again: no proposal
    expect(reviewer.locator("#schedule-datetime")).to_be_hidden()
    reviewer.fill("#approval-comment", "SANs and chain checked")
    reviewer.click("#approval-yes")
    expect(dialog).to_be_hidden()
    expect(reviewer.locator("#topology-action-message")).to_contain_text(
        f"{work_order} is now Push-Review In Progress"
    )
    expect(device_row(reviewer)).to_contain_text(f"{work_order} · Push-Review In Progress")
    # The requester's page follows by itself, without a reload.
    expect(device_row(operator)).to_contain_text("Push-Review In Progress", timeout=10000)

    implementer = people("implementer", "America/New_York")
    open_topology(implementer, live_server, CERTIFICATE)
    expect(implementer.locator("#approve-btn")).to_be_hidden()
    implementer.click("#implement-btn")
    expect(implementer.locator("#approval-modal")).to_be_visible()
    expect(implementer.locator("#manual-implementation-switch")).to_be_checked()
    implementer.fill("#approval-comment", "Push now")
    implementer.click("#approval-yes")
    expect(implementer.locator("#topology-action-message")).to_contain_text(
        f"{work_order} is now Push In Progress"
    )
    # The scheduler pushes to the demo nginx; every page shows the end without a reload.
    expect(device_row(implementer)).to_contain_text(f"{work_order} · Completed", timeout=20000)
    expect(device_row(implementer)).to_contain_text("Installed")
    expect(device_row(operator)).to_contain_text(f"{work_order} · Completed", timeout=20000)
    ARTIFACTS.mkdir(exist_ok=True)
    implementer.screenshot(path=str(ARTIFACTS / "topology-approval-completed.png"), full_page=True)

    # The work orders page tells the whole story.
    implementer.goto(live_server["url"] + "/workorders")
    row = implementer.locator("#workorders-grid .ag-row", has_text=work_order).first
    expect(row).to_contain_text("Completed")
    row.locator("[col-id='status']").click()
    timeline = implementer.locator("#workorders-timeline")
    for who, did in (("olivia", "requested"), ("ravi", "approved"), ("ines", "implemented"),
                     ("scheduler", "verifying"), ("scheduler", "verified")):  # fmt: skip
        expect(timeline).to_contain_text(f"{who} {did}")
    expect(timeline).to_contain_text("SANs and chain checked")
    implementer.screenshot(path=str(ARTIFACTS / "workorders-history.png"), full_page=True)
    for page in (operator, reviewer, implementer):
        assert page.foreign_requests == []


@pytest.mark.clock
def test_appr002_a_proposed_time_travels_across_time_zones_and_schedules(people, live_server):
    """Berlin proposes, New York sees the same instant pre-filled and schedules it.

    The page shows the UTC date too when it differs from New York's (late evening
    there): the expectations use the page's own formatter, so they hold at any hour.
    """
    common_name, device = "erp-gateway.corp.example", "demo-erp-nginx"
    berlin_zone, new_york_zone = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
    at = typeable_time((datetime.now(UTC) + timedelta(days=2)).replace(minute=0),
                       berlin_zone, new_york_zone)  # fmt: skip
    berlin = at.astimezone(berlin_zone)
    new_york = at.astimezone(new_york_zone)

    operator = people("operator")
    open_topology(operator, live_server, common_name)
    operator.click("#push-to-device-btn")
    operator.click("#push-confirm-ok")
    expect(operator.locator("#topology-action-message")).to_contain_text(f"({device})")
    work_order = re.search(r"WO-\d{6}", operator.locator("#topology-action-message").inner_text())[
        0
    ]

    reviewer = people("reviewer", "Europe/Berlin")
    open_topology(reviewer, live_server, common_name)
    reviewer.click("#approve-btn")
    reviewer.click("#manual-implementation-switch")
    reviewer.fill("#schedule-datetime", berlin.strftime("%Y-%m-%dT%H:%M"))
    reviewer.click("#approval-yes")
    expect(reviewer.locator("#topology-action-message")).to_contain_text(
        f"{work_order} is now Push-Review In Progress"
    )

    implementer = people("implementer", "America/New_York")
    open_topology(implementer, live_server, common_name)
    implementer.click("#implement-btn")
    expect(implementer.locator("#approval-summary")).to_contain_text(
        f"proposed for {local_and_utc(at, new_york_zone)}"
    )
    expect(implementer.locator("#manual-implementation-switch")).not_to_be_checked()
    expect(implementer.locator("#schedule-datetime")).to_have_value(
        new_york.strftime("%Y-%m-%dT%H:%M")
    )
    implementer.click("#approval-yes")
    row = implementer.locator("#topology-connector-table tr", has_text=device)
    expect(row).to_contain_text(f"{work_order} · Push-Scheduled")
    expect(row).to_contain_text(f"push at {local_and_utc(at, new_york_zone)}")
    # Cancel it again, so the scheduler never pushes it while the suite is running.
    expect(implementer.locator("#reschedule-btn")).to_be_visible()
    implementer.click("#cancel-wo-btn")
    implementer.fill("#approval-comment", "test over")
    implementer.click("#approval-yes")
    expect(row).to_contain_text(f"{work_order} · Cancelled")


def test_appr003_audit_trail_for_managers_only(people, live_server):
    operator = people("operator")
    operator.goto(live_server["url"] + "/audit")
    expect(operator.locator("#audit-error")).to_contain_text("may not view audit")
    expect(operator.locator("#nav-audit")).to_be_hidden()
    manager = people("manager")
    expect(manager.locator("#nav-audit")).to_be_visible()
    manager.click("#nav-audit")
    expect(manager.locator("#audit-grid .ag-row").first).to_be_visible()
    expect(manager.locator("#audit-error")).to_be_hidden()
