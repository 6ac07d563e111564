"""The Agents page in a real headless Chromium: an operator sees a pending agent and its
key fingerprint but no buttons; an admin approves it after a confirmation, the zone comes
online with its heartbeat, and a confirmed Revoke ends it. No CSP violation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from data.agents import hello, list_agents
from data.config import Settings
from data.db import session_scope
from data.envelopes import AgentKeys
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_csp_browser import _watch

pytestmark = pytest.mark.browser

NAME, ZONE = "e2e-dmz-1", "e2edmz"


def _heartbeat(database_url: str, keys: AgentKeys) -> None:
    message = keys.sign({"type": "hello", "agent": NAME, "zone": ZONE, "version": "1",
                         "identity": keys.public.to_json(), "in_flight": 2})  # fmt: skip
    with session_scope(database_url) as db:
        hello(db, message, now=datetime.now(UTC))


def _state(database_url: str) -> str:
    with session_scope(database_url) as db:
        return next(a.state.value for a in list_agents(db) if a.name == NAME)


def test_agb001_an_admin_approves_and_revokes_an_agent_an_operator_only_looks(browser, live_server):
    url = Settings.from_env(live_server["env"]).database_url
    keys = AgentKeys.generate()
    _heartbeat(url, keys)
    fingerprint = keys.public.fingerprint

    context = browser.new_context(viewport={"width": 1500, "height": 900})
    page = context.new_page()
    violations, console = _watch(page)
    try:
        login(page, live_server, "operator")
        page.click("#nav-agents")
        row = page.locator("#agents-table tr", has_text=NAME)
        expect(row).to_contain_text("pending")
        expect(row).to_contain_text(fingerprint)
        expect(row.get_by_role("button")).to_have_count(0)  # an operator only looks
        expect(page.locator("#agents-zones")).to_contain_text(f"{ZONE}: offline")
        assert violations == []
    finally:
        context.close()

    context = browser.new_context(viewport={"width": 1500, "height": 900})
    page = context.new_page()
    answers = ["dismiss", "accept", "accept"]  # the first Approve is cancelled
    page.on("dialog", lambda d: d.accept() if answers.pop(0) == "accept" else d.dismiss())
    violations, console = _watch(page)
    try:
        login(page, live_server, "admin")
        page.click("#nav-agents")
        row = page.locator("#agents-table tr", has_text=NAME)
        row.get_by_role("button", name="Approve").click()  # cancelled: still pending
        page.wait_for_timeout(500)
        assert _state(url) == "pending"
        row.get_by_role("button", name="Approve").click()
        expect(page.locator("#agents-message")).to_contain_text("approved")
        expect(row).to_contain_text("approved")
        assert _state(url) == "approved"
        _heartbeat(url, keys)  # the approved agent is heard: its zone comes online
        expect(page.locator("#agents-zones")).to_contain_text(f"{ZONE}: online", timeout=15000)
        expect(row).to_contain_text("(live)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "agents-approved.png"), full_page=True)
        row.get_by_role("button", name="Revoke").click()
        expect(row).to_contain_text("revoked")
        expect(row.get_by_role("button")).to_have_count(0)
        assert _state(url) == "revoked"
        assert violations == []
        assert [m for m in console if "Content Security Policy" in m] == []
    finally:
        context.close()
