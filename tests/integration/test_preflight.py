"""Preflight against real devices: a private OpenSSH server and a private nginx.

The host key is really pinned, the folders are really looked at over SFTP (or on
this host), and the endpoints really answer a TLS handshake. Certificates are built
around a fixed ``NOW`` handed to run_preflight, so no test reads the wall clock.

Tests run as root, and root ignores permission bits: a folder with mode 0500 is still
writable for it. What does refuse root is an immutable folder (``chattr +i``, needs
CAP_LINUX_IMMUTABLE: skipped where that is missing), a file where the folder should
be, and a folder that does not exist; the folder tests use those three.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.preflight import PlanMaterialMismatch, run_preflight, system_roots
from tests.chains import Pki, fingerprint, issue, key_pem, pem
from tests.servers import (
    PrivateNginx,
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
)

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
SITE = "www.example.test"
CHECKS = ["ssh", "folders", "key_match", "chain", "validity", "sni", "endpoints_now"]


@dataclass
class Lab:
    sshd: PrivateSshd
    client_key: bytes
    pki: Pki
    old_port: int  # nginx serving another certificate (the one the push replaces)
    old_fingerprint: str
    new_port: int  # nginx already serving the plan's certificate
    root: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("preflight")
    pki = Pki.make(NOW, [SITE])
    live = root / "live"
    live.mkdir()
    (live / "new.crt").write_bytes(pem(pki.leaf, pki.intermediate))
    (live / "new.key").write_bytes(key_pem(pki.leaf_key))
    old_cert, old_key, old_fp = make_cert_files(live, SITE, stem="old")
    old_port, new_port = free_port(), free_port()
    nginx = PrivateNginx(root / "nginx")
    nginx.add_site(old_port, old_cert, old_key)
    nginx.add_site(new_port, live / "new.crt", live / "new.key")
    sshd = PrivateSshd(root / "sshd")
    key_path, public = make_client_key(root / "client")
    sshd.authorize(public)
    nginx.start()
    try:
        sshd.start()
        try:
            yield Lab(sshd, key_path.read_bytes(), pki, old_port, old_fp, new_port, root)
        finally:
            sshd.stop()
    finally:
        nginx.stop()


def make_plan(lab: Lab, folder: Path, *, kind: str = "ssh", **changes) -> dict:
    """A plan as the plan builder writes it, pushing ``lab.pki.leaf`` into ``folder``."""
    target = (
        {
            "host": "127.0.0.1",
            "port": lab.sshd.port,
            "username": lab.sshd.username,
            "host_key": lab.sshd.host_key_fingerprint,
        }
        if kind == "ssh"
        else {"host": "this-host", "local": True}
    )
    target.update(changes.pop("target", {}))
    plan = {
        "certificate": {
            "fingerprint": fingerprint(lab.pki.leaf),
            "common_name": SITE,
            "chain": [fingerprint(lab.pki.intermediate)],
        },
        "connector": {"name": "web-1", "type": kind, "target": target},
        "profile": {"name": "nginx", "layout": "fullchain", "folders": [str(folder)]},
        "files": [
            {"path": str(folder / "site.crt"), "mode": "0644", "parts": ["certificate", "chain"]},
            {"path": str(folder / "site.key"), "mode": "0600", "parts": ["key"]},
        ],
        "commands": {"test": None, "reload": None},
        "timeouts": {"command": 10, "push": 30, "connect": 3},
        "endpoints": [{"host": "127.0.0.1", "port": lab.old_port, "sni": SITE}],
        "digest": "0" * 64,
    }
    plan.update(changes)
    return plan


def preflight(lab: Lab, plan: dict, **overrides) -> dict:
    arguments = {
        "cert_pem": pem(lab.pki.leaf),
        "key_pem": key_pem(lab.pki.leaf_key),
        "chain_pem": pem(lab.pki.intermediate),
        "secret": lab.client_key,
        "secret_kind": "private_key",
        "roots": [lab.pki.root, *system_roots()],
        "now": NOW,
        "probe_timeout": 3.0,
    }
    arguments.update(overrides)
    return run_preflight(plan, **arguments)


def check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "tls"
    path.mkdir()
    return path


# ------------------------------------------------------------------------ all good


def test_correct_ssh_plan_has_no_blocker_and_records_what_is_served(lab, folder):
    plan = make_plan(lab, folder)
    plan["endpoints"].append({"host": "127.0.0.1", "port": lab.new_port, "sni": None})
    result = preflight(lab, plan)

    json.dumps(result)  # stored with the plan as it is
    assert [c["name"] for c in result["checks"]] == CHECKS
    assert result["status"] == "warning", result  # only: 127.0.0.1 without SNI, no IP SAN
    assert {c["name"]: c["status"] for c in result["checks"]} == {
        **dict.fromkeys(CHECKS, "ok"),
        "sni": "warning",
    }
    assert result["at"] == NOW.isoformat()
    assert f"as {lab.sshd.username}; the host key matches" in check(result, "ssh")["message"]
    assert str(folder) in check(result, "folders")["message"]
    assert "trusted root CN=Preflight Test Root" in check(result, "chain")["message"]
    assert "no IP SAN 127.0.0.1" in check(result, "sni")["message"]
    endpoints_now = check(result, "endpoints_now")["message"]
    assert f"127.0.0.1:{lab.old_port} {SITE} serves another certificate now" in endpoints_now
    assert f"127.0.0.1:{lab.new_port} already serves it" in endpoints_now

    old, new = result["endpoints"]
    after = fingerprint(lab.pki.leaf)
    assert (old["host"], old["port"], old["sni"], old["after"]) == (
        "127.0.0.1",
        lab.old_port,
        SITE,
        after,
    )
    assert old["now"]["outcome"] == "mismatch"
    assert old["now"]["fingerprint"] == lab.old_fingerprint
    assert old["now"]["subject"] == f"CN={SITE}"
    assert old["now"]["not_after"]
    assert new["now"]["outcome"] == "match"
    assert new["now"]["fingerprint"] == after
    assert list(folder.iterdir()) == []  # the writability probe left nothing behind


def test_local_plan_checks_this_hosts_folder(lab, folder):
    result = preflight(lab, make_plan(lab, folder, kind="local"), secret=None, secret_kind=None)
    assert result["status"] == "ok", result
    assert check(result, "ssh")["message"].startswith("runs on this host")
    assert check(result, "folders")["message"] == (
        f"{folder} exists on web-1 (this-host) and {lab.sshd.username} can write there"
    )
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------------------------ ssh


def test_wrong_pinned_host_key_blocks_and_folders_are_not_checked(lab, folder):
    wrong = "SHA256:" + "A" * 43
    result = preflight(lab, make_plan(lab, folder, target={"host_key": wrong}))
    ssh, folders = check(result, "ssh"), check(result, "folders")
    assert result["status"] == "blocker"
    assert ssh["status"] == "blocker"
    assert f"host key changed: expected {wrong}" in ssh["message"]
    assert lab.sshd.host_key_fingerprint in ssh["message"]
    assert folders["status"] == "blocker"
    assert folders["message"].startswith(f"not checked: SSH failed, so {folder} could not")
    # the other checks still ran
    assert check(result, "key_match")["status"] == "ok"
    assert check(result, "endpoints_now")["status"] == "ok"


def test_unpinned_host_key_blocks(lab, folder):
    result = preflight(lab, make_plan(lab, folder, target={"host_key": None}))
    assert check(result, "ssh")["status"] == "blocker"
    assert "unknown host key" in check(result, "ssh")["message"]


def test_refused_credential_blocks(lab, folder, tmp_path):
    stranger, _public = make_client_key(tmp_path / "stranger")
    result = preflight(lab, make_plan(lab, folder), secret=stranger.read_bytes())
    message = check(result, "ssh")["message"]
    assert check(result, "ssh")["status"] == "blocker"
    assert f"authentication as {lab.sshd.username!r}" in message
    assert "refused the private_key" in message


def test_unreachable_device_blocks(lab, folder):
    port = free_port()
    result = preflight(lab, make_plan(lab, folder, target={"port": port}))
    assert check(result, "ssh")["status"] == "blocker"
    assert f"127.0.0.1:{port} refused the connection" in check(result, "ssh")["message"]
    assert check(result, "folders")["message"].startswith("not checked: SSH failed")


# -------------------------------------------------------------------------- folders


def _immutable(path: Path) -> None:
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not possible here: {done.stderr.decode().strip()}")


@pytest.mark.parametrize("kind", ["ssh", "local"])
@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("missing", "folder {folder} does not exist on web-1"),
        ("file", "{folder} on web-1 (127.0.0.1:{port}) is a file, not a folder"),
        ("immutable", "folder {folder} on web-1 (127.0.0.1:{port}) is not writable for {user}"),
    ],
)
def test_folder_that_root_cannot_write_blocks(lab, tmp_path, kind, damage, words):
    folder = tmp_path / "tls"
    if damage == "file":
        folder.write_text("not a folder")
    elif damage == "immutable":
        folder.mkdir()
        _immutable(folder)
    try:
        result = preflight(lab, make_plan(lab, folder, kind=kind))
    finally:
        if damage == "immutable":
            subprocess.run(["chattr", "-i", str(folder)], check=False)
    folders = check(result, "folders")
    assert check(result, "ssh")["status"] == "ok"
    assert folders["status"] == "blocker", folders
    expected = words.format(folder=folder, port=lab.sshd.port, user=lab.sshd.username)
    if kind == "local":
        expected = expected.replace(f"(127.0.0.1:{lab.sshd.port})", "(this-host)")
    assert expected in folders["message"]
    assert f"needed for {folder}/site.crt and {folder}/site.key" in folders["message"]


# --------------------------------------------------------------------- certificate


def test_mismatched_key_blocks(lab, folder):
    other = Pki.make(NOW, [SITE])
    result = preflight(lab, make_plan(lab, folder), key_pem=key_pem(other.leaf_key))
    key_match = check(result, "key_match")
    assert key_match["status"] == "blocker"
    assert key_match["message"].startswith(
        "the private key in certpush does not belong to this certificate"
    )


def test_unreadable_key_blocks(lab, folder):
    result = preflight(lab, make_plan(lab, folder), key_pem=b"")
    assert check(result, "key_match")["status"] == "blocker"
    assert "no readable private key" in check(result, "key_match")["message"]


def test_sni_outside_the_sans_blocks(lab, folder):
    endpoints = [{"host": "127.0.0.1", "port": lab.old_port, "sni": "shop.example.test"}]
    result = preflight(lab, make_plan(lab, folder, endpoints=endpoints))
    sni = check(result, "sni")
    assert sni["status"] == "blocker"
    assert (
        f"does not cover the SNI names shop.example.test (127.0.0.1:{lab.old_port})"
        in (sni["message"])
    )
    assert result["endpoints"][0]["now"]["fingerprint"] == lab.old_fingerprint


def test_certificate_expiring_in_3_days_blocks_with_a_7_day_minimum(lab, folder):
    leaf, leaf_key = issue(
        SITE, now=NOW, sans=[SITE], days=3, issuer=(lab.pki.intermediate, lab.pki.intermediate_key)
    )
    plan = make_plan(lab, folder)
    plan["certificate"]["fingerprint"] = fingerprint(leaf)
    result = preflight(lab, plan, cert_pem=pem(leaf), key_pem=key_pem(leaf_key), min_days_left=7)
    validity = check(result, "validity")
    assert validity["status"] == "blocker"
    assert validity["message"].startswith(
        "expires on 2026-06-04, in 3 days; certpush requires at least 7 (CERTPUSH_MIN_DAYS_LEFT)"
    )
    assert result["endpoints"][0]["after"] == fingerprint(leaf)


def test_material_that_is_not_the_plans_is_refused(lab, folder):
    other = Pki.make(NOW, [SITE])
    with pytest.raises(PlanMaterialMismatch, match="is not the plan's"):
        preflight(lab, make_plan(lab, folder), cert_pem=pem(other.leaf))
    with pytest.raises(PlanMaterialMismatch, match="chain given to preflight"):
        preflight(lab, make_plan(lab, folder), chain_pem=pem(other.intermediate))


# ------------------------------------------------------------------------ endpoints


def test_stopped_endpoint_warns(lab, folder, tmp_path):
    port = free_port()
    cert, key, _fp = make_cert_files(tmp_path / "stopped", SITE)
    nginx = PrivateNginx(tmp_path / "nginx-stopped")
    nginx.add_site(port, cert, key)
    nginx.start()
    nginx.stop()
    endpoints = [
        {"host": "127.0.0.1", "port": lab.old_port, "sni": SITE},
        {"host": "127.0.0.1", "port": port, "sni": SITE},
    ]
    result = preflight(lab, make_plan(lab, folder, endpoints=endpoints))
    endpoints_now = check(result, "endpoints_now")
    assert result["status"] == "warning"
    assert endpoints_now["status"] == "warning"
    assert (
        f"nothing answers at 127.0.0.1:{port} {SITE} now: connection refused"
        in (endpoints_now["message"])
    )
    running, stopped = result["endpoints"]
    assert running["now"]["outcome"] == "mismatch"
    assert stopped["now"] == {
        "outcome": "refused",
        "reason": "connection refused (nothing listens there)",
        "fingerprint": None,
        "subject": None,
        "not_after": None,
    }


def test_incomplete_chain_warns_with_the_missing_issuer(lab, folder):
    """The inventory lacks the intermediate: the plan pins no chain, preflight names the
    issuer clients will not find; the device checks still run for real."""
    plan = make_plan(lab, folder)
    plan["certificate"]["chain"] = []
    result = preflight(lab, plan, chain_pem=b"")
    chain = check(result, "chain")
    assert chain["status"] == "warning"
    assert "no certificate for issuer CN=Preflight Test Intermediate" in chain["message"]
    assert check(result, "ssh")["status"] == "ok" and check(result, "folders")["status"] == "ok"
