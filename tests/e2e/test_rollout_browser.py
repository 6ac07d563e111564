"""Rollouts in the browser: an implementer watches canary -> wave -> completed on real
devices, and resumes a rollout its canary halted.

Four local connectors push into the folders of a private nginx the test starts (one site
each); the live scheduler installs, verifies by handshake and rolls back. The working
profile's reload waits a few seconds first, so each wave is on screen long enough to be
seen (the page polls every 3 s); the other profile reloads nothing, so its canary keeps
serving the old certificate and fails verification.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, _cli, login
from tests.servers import PrivateNginx, free_port, make_cert_files, tls_fingerprint

pytestmark = pytest.mark.browser

RELOAD_PAUSE_S = 6
CONNECTORS = ("roll-a", "roll-b", "roll-c", "roll-d")  # roll-d reloads nothing


@pytest.fixture(scope="module")
def fleet(live_server, tmp_path_factory):
    """nginx with one site per connector; certificate A bound to roll-a..c, certificate B
    to roll-d, roll-b and roll-c."""
    root = tmp_path_factory.mktemp("rollout-fleet")
    nginx = PrivateNginx(root / "nginx")
    ports = {}
    for name in CONNECTORS:
        cert, key, _ = make_cert_files(root / "tls" / name, f"{name}.example", stem="site")
        ports[name] = free_port()
        nginx.add_site(ports[name], cert, key)
    folders = json.dumps([str(root / "tls")])
    reload = ["sh", "-c", f"sleep {RELOAD_PAUSE_S} && exec {nginx.reload_command}"]
    with open(live_server["instance"] / "profiles.toml", "a") as profiles:  # the admin's file
        profiles.write(
            f'\n[profiles.rollout-nginx]\nlayout = "separate"\n'
            f"test = {json.dumps(shlex.split(nginx.test_command))}\n"
            f"reload = {json.dumps(reload)}\nfolders = {folders}\n"
            f'\n[profiles.rollout-deaf]\nlayout = "separate"\nreload = ["true"]\n'
            f"folders = {folders}\n"
        )
    nginx.start()
    env = live_server["env"]
    certs = {}
    for label in ("a", "b"):
        cert, key, fp = make_cert_files(root / "new", f"rollout-{label}.corp.example")
        _cli(env, "import", str(cert), str(key))
        certs[label] = fp
    for name in CONNECTORS:
        config = root / f"{name}.json"
        config.write_text(json.dumps({
            "profile": "rollout-deaf" if name == "roll-d" else "rollout-nginx",
            "cert_path": str(root / "tls" / name / "site.crt"),
            "key_path": str(root / "tls" / name / "site.key"),
            "endpoints": [f"127.0.0.1:{ports[name]}"],
        }))  # fmt: skip
        _cli(env, "connectors", "add", name, "--type", "local", "--config", str(config))
    for name, label in (("roll-a", "a"), ("roll-b", "a"), ("roll-c", "a"), ("roll-d", "b"),
                        ("roll-b", "b"), ("roll-c", "b")):  # fmt: skip
        _cli(env, "connectors", "bind", name, "--cert", certs[label])
    try:
        yield {"certs": certs, "ports": ports}
    finally:
        nginx.stop()


def as_role(live_server, role: str, *args: str) -> str:
    user = live_server["users"][role]["username"]
    return _cli(live_server["env"], *args, "--as", user, passwords=live_server["passwords"])


def requested(live_server, fingerprint: str, *options: str) -> tuple[str, list[str]]:
    """A push request through every bound connector, approved: (REQ id, WO ids)."""
    made = json.loads(as_role(live_server, "operator", "push", "request", "--cert",
                              fingerprint, "--comment", "renewal", *options, "--json"))  # fmt: skip
    wos = [w["id"] for w in made["work_orders"]]
    for wo in wos:
        as_role(live_server, "reviewer", "workorders", "approve", wo)
    return made["request_id"], wos


def open_certificate(page, live_server, fingerprint: str) -> None:
    page.goto(f"{live_server['url']}/certificates/{fingerprint}/topology")
    expect(page.locator("#topology-title")).to_contain_text("Topology of rollout-")


def test_rol001_an_implementer_watches_canary_wave_completed(page, live_server, fleet):
    request, _ = requested(live_server, fleet["certs"]["a"], "--canary", "roll-a",
                           "--wave-size", "2")  # fmt: skip
    login(page, live_server, "implementer")
    open_certificate(page, live_server, fleet["certs"]["a"])
    title = page.locator("#rollout-summary .rollout-title")
    expect(title).to_contain_text(f"Rollout {request}: canary")
    expect(page.locator("#rollout-resume-btn")).to_be_hidden()  # running: nothing to decide
    page.click("#implement-btn")
    expect(page.locator("#approval-modal")).to_be_visible()
    page.fill("#approval-comment", "Canary first")
    page.click("#approval-yes")
    expect(page.locator("#topology-action-message")).to_contain_text("is now Push In Progress")
    rows = page.locator("#rollout-summary tr[data-connector]")
    canary = page.locator('#rollout-summary tr[data-connector="roll-a"]')
    expect(title).to_have_attribute("data-progress", "canary")
    expect(canary).to_have_attribute("data-status", re.compile("Push In Progress|Verifying"))
    expect(page.locator('#rollout-summary tr[data-connector="roll-b"]')).to_have_attribute(
        "data-status",
        "Push In Progress",  # implemented, waiting for its wave
    )
    expect(title).to_have_attribute("data-progress", "wave 1 of 1", timeout=30000)
    expect(canary).to_have_attribute("data-status", "Completed")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rollout-wave.png"), full_page=True)
    expect(title).to_have_attribute("data-progress", "completed", timeout=30000)
    expect(title).to_have_attribute("data-state", "done")
    for name in ("roll-a", "roll-b", "roll-c"):
        expect(rows.filter(has_text=name)).to_have_attribute("data-status", "Completed")
        expect(page.locator("#topology-connector-table tr", has_text=name)).to_contain_text(
            "Completed"
        )
        assert tls_fingerprint("127.0.0.1", fleet["ports"][name]) == fleet["certs"]["a"]
    assert page.foreign_requests == []


def test_rol002_a_halted_rollout_is_resumed(page, live_server, fleet):
    request, wos = requested(live_server, fleet["certs"]["b"], "--canary", "roll-d")
    for wo in wos:
        as_role(live_server, "implementer", "workorders", "implement", wo)
    login(page, live_server, "implementer")
    open_certificate(page, live_server, fleet["certs"]["b"])
    title = page.locator("#rollout-summary .rollout-title")
    expect(title).to_have_attribute("data-state", "halted", timeout=30000)
    expect(title).to_contain_text(f"Rollout {request}: canary (halted)")
    expect(page.locator("#rollout-summary .rollout-reason")).to_contain_text(
        "(roll-d) ended Failed Verification"
    )
    for name in ("roll-b", "roll-c"):
        row = page.locator(f'#rollout-summary tr[data-connector="{name}"]')
        expect(row).to_have_attribute("data-status", "Halted")
    # nothing of certificate B reached them while halted
    for name in ("roll-b", "roll-c"):
        assert tls_fingerprint("127.0.0.1", fleet["ports"][name]) != fleet["certs"]["b"]
    expect(page.locator("#rollout-abort-btn")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rollout-halted.png"), full_page=True)
    page.click("#rollout-resume-btn")  # without a comment: refused, said why
    expect(page.locator("#rollout-message")).to_contain_text("Resume needs a comment")
    page.fill("#rollout-comment", "roll-d's reload is broken; the others may go")
    page.click("#rollout-resume-btn")
    expect(page.locator("#rollout-message")).to_contain_text(f"{request} resumed")
    expect(page.locator("#rollout-resume-btn")).to_be_hidden()
    expect(title).to_have_attribute("data-progress", "ended with failures", timeout=45000)
    for name, status in (("roll-d", "Rolled Back"), ("roll-b", "Completed"),
                         ("roll-c", "Completed")):  # fmt: skip
        row = page.locator(f'#rollout-summary tr[data-connector="{name}"]')
        expect(row).to_have_attribute("data-status", status)
    assert tls_fingerprint("127.0.0.1", fleet["ports"]["roll-b"]) == fleet["certs"]["b"]
    assert page.foreign_requests == []
