"""The Notifications page in a real headless Chromium: a user sets their address and one
choice; an admin adds a channel pointing at a webhook receiver this test starts, tests it
(the scheduler sends, the receiver gets the message, the page says so), and removes it
after confirming. The channel's URL is never in the page after it is added; nothing is
loaded from outside the app; no Content-Security-Policy violation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_csp_browser import _watch
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.browser

SECRET = "e2e-hook-s3cret"
CHANNEL = "e2e-hook"


def _cli_json(live_server, *args: str):
    done = subprocess.run([sys.executable, "-m", "jobs.cli", *args, "--json"],
                          env=live_server["env"], capture_output=True, text=True, check=True,
                          timeout=120)  # fmt: skip
    return json.loads(done.stdout)


def _new_page(browser, live_server):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    foreign: list[str] = []
    origin = live_server["url"]
    page.on("request", lambda r: None if r.url.startswith((origin, "data:", "blob:"))
            else foreign.append(r.url))  # fmt: skip
    return context, page, foreign


def test_ntfb001_a_user_chooses_an_admin_adds_tests_and_removes_a_channel(browser, live_server):
    user = live_server["users"]["operator"]["username"]
    context, page, foreign = _new_page(browser, live_server)
    violations, console = _watch(page)
    try:
        login(page, live_server, "operator")
        page.click("#nav-notifications")
        expect(page.locator("#notify-prefs")).to_contain_text("Push failed")
        expect(page.locator("#notify-admin")).to_be_hidden()  # channels: admins only
        page.fill("#notify-email", f"{user}@example.org")
        page.click("#notify-email-save-btn")
        expect(page.locator("#notify-message")).to_contain_text(f"{user}@example.org")
        row = page.locator("#notify-prefs tr", has_text="Drift detected")
        expect(row.locator("select")).to_have_value("default")
        row.locator("select").select_option("digest")
        page.click("#notify-prefs-save-btn")
        expect(page.locator("#notify-message")).to_contain_text("drift_detected: digest")
        page.reload()
        expect(page.locator("#notify-email")).to_have_value(f"{user}@example.org")
        expect(row.locator("select")).to_have_value("digest")
        assert violations == [] and foreign == []
    finally:
        context.close()
    shown = _cli_json(live_server, "notify", "prefs", "--user", user)
    assert shown["email"] == f"{user}@example.org"
    assert {"event": "drift_detected", "mode": "digest", "default": False} in shown["preferences"]

    context, page, foreign = _new_page(browser, live_server)
    answers = ["dismiss", "accept"]  # the first Remove is cancelled
    page.on("dialog", lambda d: d.accept() if answers.pop(0) == "accept" else d.dismiss())
    violations, console = _watch(page)
    with Receiver() as hook:
        url = hook.url(f"hook-user:{SECRET}", path="e2e")
        try:
            login(page, live_server, "admin")
            page.click("#nav-notifications")
            expect(page.locator("#notify-admin")).to_be_visible()
            page.fill("#notify-channel-name", CHANNEL)
            page.fill("#notify-channel-url", url)
            page.get_by_label("Failed verification", exact=True).check()
            page.get_by_label("Rolled back", exact=True).check()
            page.click("#notify-channel-add-btn")
            expect(page.locator("#notify-channel-message")).to_contain_text("sealed")
            row = page.locator("#notify-channels tr", has_text=CHANNEL)
            expect(row).to_contain_text("failed_verification, rolled_back")
            expect(page.locator("#notify-channel-url")).to_have_value("")
            expect(page.get_by_label("Rolled back", exact=True)).not_to_be_checked()
            assert SECRET not in page.content() and f":{hook.port}/" not in page.content()

            row.get_by_role("button", name="Test").click()  # the scheduler sends it
            expect(page.locator("#notify-channel-message")).to_contain_text(
                "accepted the test message", timeout=30000
            )
            [message] = hook.wait(1)
            assert CHANNEL in message["message"] and hook.received[0]["path"] == "/e2e"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "notifications-channel.png"), full_page=True)
            assert SECRET not in page.content()

            row.get_by_role("button", name="Remove").click()  # cancelled: still there
            page.wait_for_timeout(500)
            assert [c["name"] for c in _cli_json(live_server, "notify", "channels", "list")] == [
                CHANNEL
            ]
            row.get_by_role("button", name="Remove").click()
            expect(page.locator("#notify-channel-message")).to_contain_text("removed")
            expect(row).to_have_count(0)
            assert _cli_json(live_server, "notify", "channels", "list") == []
            assert violations == [] and foreign == []
            assert [m for m in console if "Content Security Policy" in m] == []
        finally:
            context.close()
            # Leave no channel behind on the shared server, whatever happened above.
            subprocess.run([sys.executable, "-m", "jobs.cli", "notify", "channels", "remove",
                            CHANNEL], env=live_server["env"], capture_output=True,
                           timeout=120, check=False)  # fmt: skip
