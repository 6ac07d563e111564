"""The API tokens page in a real headless Chromium: a user makes a token, copies it, sees it
once, and revokes it only after confirming; no Content-Security-Policy violation."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_csp_browser import _watch

pytestmark = pytest.mark.browser

TOKEN = re.compile(r"^cpt_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


def _tokens(live_server, user: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "tokens", "list", "--user", user, "--json"],
        env=live_server["env"], capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_tokb001_a_user_makes_copies_and_revokes_their_token(browser, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server["url"])
    page = context.new_page()
    answers = ["dismiss", "accept"]  # the first Revoke is cancelled, the second confirmed
    page.on("dialog", lambda d: d.accept() if answers.pop(0) == "accept" else d.dismiss())
    violations, console = _watch(page)
    user = live_server["users"]["operator"]["username"]
    try:
        login(page, live_server, "operator")
        page.click("#nav-account")
        page.click("#nav-api-tokens")
        page.fill("#tokens-name", "e2e laptop")
        page.select_option("#tokens-scope", "write")
        page.select_option("#tokens-expires", "30d")
        page.click("#tokens-create-btn")
        secret_field = page.locator("#tokens-secret")
        expect(secret_field).to_have_value(TOKEN)
        secret = secret_field.input_value()
        prefix = secret[:12]
        row = page.locator("#tokens-table tr", has_text=prefix)
        expect(row).to_contain_text("active")
        expect(row).to_contain_text("write")
        expect(page.locator("#tokens-secret-panel")).to_contain_text("will not be shown again")
        page.click("#tokens-secret-copy")
        page.wait_for_function("t => navigator.clipboard.readText().then(x => x === t)", arg=secret)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tokens-created.png"), full_page=True)

        row.get_by_role("button", name="Revoke").click()  # cancelled: nothing happens
        page.wait_for_timeout(500)
        assert [t["state"] for t in _tokens(live_server, user) if t["prefix"] == prefix] == [
            "active"
        ]
        row.get_by_role("button", name="Revoke").click()
        expect(page.locator("#tokens-message")).to_contain_text(f"Revoked {prefix}")
        expect(row).to_contain_text("revoked")
        assert [t["state"] for t in _tokens(live_server, user) if t["prefix"] == prefix] == [
            "revoked"
        ]

        page.reload()
        expect(page.locator("#tokens-table tr", has_text=prefix)).to_be_visible()
        assert secret[12:] not in page.content()  # shown once: gone with the page
        assert violations == []
        assert [m for m in console if "Content Security Policy" in m] == []
    finally:
        context.close()
