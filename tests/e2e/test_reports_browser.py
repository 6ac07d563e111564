"""The Push Validation Report in a real headless Chromium: a manager opens it from the
menu, clicks a failed bar, sees the pushes behind it, and downloads the XLSX."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from data.config import Settings
from data.db import session_scope
from tests.e2e.conftest import ARTIFACTS, login
from tests.report_fixtures import ReportWorld

pytestmark = pytest.mark.browser

FAILED_CN = "report-e2e-failed.example"
SCREENSHOT = Path("/tmp/reports-page.png")


@pytest.fixture(scope="module")
def report_data(live_server) -> dict:
    """Pushes of the last days in the live server's database, written as history.

    Four pushes three days ago failed verification (the tallest failed bar of the
    chart), others verified or failed to install. None is left pending, so the live
    scheduler's sweeps have nothing of them to decide.
    """
    settings = Settings.from_env(live_server["env"])
    now = datetime.now(UTC).replace(microsecond=0)
    day = (now - timedelta(days=3)).replace(hour=10, minute=0, second=0)
    with session_scope(settings.database_url) as db:
        w = ReportWorld(db)
        ok = w.certificate("report-e2e-ok.example", now + timedelta(days=200))
        bad = w.certificate(FAILED_CN, now + timedelta(days=20))
        web = w.connector("report-e2e-web", "ssh", endpoints=2)
        lb = w.connector("report-e2e-lb", "local", endpoints=1)
        for i in range(4):
            p = day + timedelta(minutes=10 * i)
            w.push(bad, web, requested=p - timedelta(hours=1), pushed=p,
                   sweeps=[(p + timedelta(minutes=15), ["match", "mismatch"])])  # fmt: skip
        for d in (1, 2, 3, 5):
            p = now - timedelta(days=d, hours=2)
            w.push(ok, lb, requested=p - timedelta(minutes=30), pushed=p,
                   sweeps=[(p + timedelta(minutes=15), ["match"])])  # fmt: skip
        w.push(ok, web, requested=now - timedelta(days=4, hours=1),
               pushed=now - timedelta(days=4), installed=False, reason_class="auth")  # fmt: skip
    return {"day": day.date().isoformat()}


def _click_tallest_bar(page, trace_index: int) -> None:
    """Click the middle of the tallest bar of one trace, as a person would."""
    box = page.evaluate(
        """(i) => {
            const traces = document.querySelectorAll('#report-trend .barlayer .trace');
            let best = null;
            for (const path of traces[i].querySelectorAll('.point path')) {
                const r = path.getBoundingClientRect();
                if (r.height > 0 && (!best || r.height > best.height)) {
                    best = {x: r.x, y: r.y, width: r.width, height: r.height};
                }
            }
            return best;
        }""",
        trace_index,
    )
    assert box, "no failed bar drawn"
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.clock  # the pushes are placed days before now, and their day is expected back
def test_rep001_manager_drills_into_failed_pushes_and_downloads_xlsx(
    page, live_server, report_data, tmp_path
):
    login(page, live_server, "manager")
    page.click("#nav-reports")
    page.click("#nav-reports-push-validation")
    page.wait_for_url("**/reports/push-validation")

    kpis = page.locator("#report-kpis .report-kpi")
    # The first report of a page load also loads plotly.js (4.8 MB): on two busy cores the
    # cards took over the default 5 s, at any clock (seen at the real one too).
    expect(kpis).to_have_count(7, timeout=15000)
    expect(page.locator("[data-kpi='failed_verification'] .report-kpi-value")).not_to_have_text("0")
    labels = page.locator("#report-kpis .text-uppercase").all_inner_texts()
    assert [x.lower() for x in labels[:3]] == ["pushes", "verified", "failed verification"]
    page.wait_for_selector("#report-trend .barlayer .trace .point path", state="attached")
    expect(page.locator("#report-reasons")).to_contain_text("another certificate served")

    # trace 1 of the trend chart is "Failed verification"
    _click_tallest_bar(page, 1)
    drill = page.locator("#report-drilldown")
    expect(drill).to_contain_text("Failed verification", timeout=10000)
    expect(drill).to_contain_text(report_data["day"])
    expect(drill).to_contain_text("4 of 4 pushes")
    expect(drill.locator("tr.report-drilldown-row")).to_have_count(4)
    link = drill.locator("a", has_text=FAILED_CN).first
    assert link.get_attribute("href").endswith("/topology")

    # a failure reason row drills down too
    page.locator("#report-reasons .ag-row", has_text="Push: authentication refused").click()
    expect(drill).to_contain_text("Push: authentication refused")
    expect(drill).to_contain_text("report-e2e-web")

    page.wait_for_timeout(300)  # let plotly finish drawing for the screenshot
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)

    assert page.foreign_requests == []  # offline: plotly.js and everything else served locally
    with page.expect_download(timeout=60000) as download_info:
        page.click("#report-download-xlsx")
    download = download_info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.suffix == ".xlsx"
    assert target.read_bytes()[:2] == b"PK"
    import openpyxl

    book = openpyxl.load_workbook(target, read_only=True)
    assert "Summary" in book.sheetnames and "Pushes" in book.sheetnames
    assert page.foreign_requests == []
