"""A real certpush under gunicorn with the demo dataset, and Debian's headless Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_auth import stdin_for
from tests.profiles import TMP
from tests.servers import free_port_range

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str, passwords: dict[str, str] | None = None) -> str:
    """Run the CLI; ``--as USER`` gets USER's password from ``passwords`` (on stdin)."""
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        input=stdin_for(args, passwords or {}),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[dict]:
    """certpush demo + serve (scheduler and demo devices too) on a free port; yields its URL,
    demo users and env."""
    instance = tmp_path_factory.mktemp("e2e-instance")
    demo_port = free_port_range(5)  # not the default 18443: a `make run` may be up
    env = {**os.environ, "CERTPUSH_INSTANCE": str(instance), "CERTPUSH_DEMO_PORT": str(demo_port)}
    env.pop("DATABASE_URL", None)
    # This server's own device profiles: the demo adds its profile to them, and the tests'
    # connectors write under the temporary folder through `test-files`.
    env["CERTPUSH_PROFILES_FILE"] = str(instance / "profiles.toml")
    (instance / "profiles.toml").write_text(
        f'[profiles.test-files]\nlayout = "separate"\nfolders = ["{TMP}"]\n'
    )
    demo = json.loads(_cli(env, "demo", "--json"))
    port = _free_port()
    log = open(instance / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jobs.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--with-scheduler",
            # The demo devices really serve TLS, so a push from the browser really lands.
            "--with-demo-devices",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError((instance / "server.log").read_text()) from None
            time.sleep(0.2)
    try:
        yield {
            "url": url,
            "demo_port": demo_port,
            "users": {u["role"]: u for u in demo["users"]},
            "passwords": {u["username"]: u["password"] for u in demo["users"]},
            "env": env,
            "instance": instance,
        }
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (run the tests through 'make test')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context that records every request leaving the app's own origin."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
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
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def login(page, live_server, role: str) -> None:
    user = live_server["users"][role]
    page.goto(live_server["url"] + "/")
    page.fill("#login-username", user["username"])
    page.fill("#login-password", user["password"])
    page.click("#login-submit")
    page.wait_for_selector("#overview-status-counts .card")
