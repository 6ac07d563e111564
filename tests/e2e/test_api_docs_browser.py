"""The API reference (``/api/v1/docs``) in a real headless Chromium, without logging in.

Swagger UI must render the generated document from the app's own files alone
(air-gapped networks have no CDN, and the Content-Security-Policy allows only our origin):
no request may leave 127.0.0.1, and the console must stay free of errors and policy
violations.

Swagger UI never asks its online validator (validator.swagger.io) about a document on
127.0.0.1 or localhost, so this page alone would not see that request; it comes from the
validator badge of the standalone layout, which docs.js does not use (checked once by
hand through http://[::ffff:127.0.0.1]:PORT/api/v1/docs: the same five local requests).
"""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

# Every violation, as test_csp_browser.py watches them: the init script runs before the
# page's own scripts and reports through a binding, which the policy does not govern.
WATCH_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.reportCspViolation([e.violatedDirective, e.blockedURI, e.sourceFile || '',
                             String(e.lineNumber), (e.sample || '').slice(0, 80)].join(' | '));
});
"""
LOCAL_SCHEMES = ("data", "blob")  # never a network request


def _watch(page) -> dict[str, list[str]]:
    """Every request URL, console error or warning, uncaught error and policy violation."""
    seen: dict[str, list[str]] = {"requests": [], "console": [], "errors": [], "violations": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on(
        "console",
        lambda m: (
            seen["console"].append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.expose_function("reportCspViolation", lambda text: seen["violations"].append(text))
    page.add_init_script(WATCH_VIOLATIONS)
    return seen


def _left_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname != "127.0.0.1"


def test_apidocs001_swagger_ui_renders_locally_without_login(page, live_server):
    seen = _watch(page)
    page.goto(live_server["url"] + "/api/v1/docs")

    expect(page.locator("#swagger-ui .info .title")).to_contain_text("certpush API")
    operation = page.locator(".opblock-summary-path[data-path='/api/v1/certificates']").first
    expect(operation).to_be_visible()
    expect(page.locator("#login-username")).to_have_count(0)  # no redirect to the login page
    page.wait_for_timeout(500)  # late violations and console messages arrive asynchronously
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)

    assert any(u.endswith("/api/v1/openapi.json") for u in seen["requests"]), seen["requests"]
    assert [u for u in seen["requests"] if _left_the_machine(u)] == []
    assert seen["violations"] == []
    assert seen["errors"] == []
    assert [m for m in seen["console"] if "Content Security Policy" in m] == []
    assert [m for m in seen["console"] if m.startswith("error:")] == []


def test_apidocs002_the_document_is_openapi_3_1(live_server):
    with urllib.request.urlopen(live_server["url"] + "/api/v1/openapi.json", timeout=10) as r:
        document = json.load(r)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "certpush API"
    assert "/api/v1/certificates" in document["paths"]
