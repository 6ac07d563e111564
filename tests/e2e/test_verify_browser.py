"""Verify now from the topology: the scheduler handshakes, the page shows the outcome."""

from __future__ import annotations

import contextlib
import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.e2e.conftest import _cli, login
from tests.e2e.test_connectors_browser import open_topology

pytestmark = pytest.mark.browser


def test_ver001_verify_now_shows_a_match(page, live_server):
    env = live_server["env"]
    certs = json.loads(_cli(env, "certs", "list", "--json"))
    [erp] = [c for c in certs if c["common_name"] == "erp-gateway.corp.example"]
    admin = live_server["users"]["admin"]["username"]
    pushed = json.loads(
        _cli(
            {**env, "CERTPUSH_EMERGENCY_PUSH": "on"},
            "push",
            "emergency",
            "--cert",
            erp["fingerprint_sha256"],
            "--connector",
            "demo-erp-nginx",
            "--reason",
            "set the device up for the verification test",
            "--as",
            admin,
            "--json",
            passwords=live_server["passwords"],
        )
    )
    assert pushed["outcome"] in ("installed", "already_installed"), pushed
    login(page, live_server, "manager")
    open_topology(page, live_server, "erp-gateway.corp.example")
    page.click("#verify-now-btn")
    expect(page.locator("#verify-now-result")).to_contain_text("1 match", timeout=20000)
    # The result line and the redrawn graph come from two callbacks: wait for the graph too.
    endpoint_classes = (
        "() => document.getElementById('topology-graph')._cyreg.cy.nodes('.endpoint')"
        ".map(n => n.classes().join(' '))"
    )
    with contextlib.suppress(PlaywrightTimeout):  # the assertion below says what it shows
        page.wait_for_function(
            f"() => ({endpoint_classes})().some(c => c.includes('endpoint-match'))",
            timeout=10000,
        )
    nodes = page.evaluate(endpoint_classes)
    assert any("endpoint-match" in classes for classes in nodes), nodes
