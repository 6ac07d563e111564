"""Sealed start and key rotation: the CLI and the scheduler run as a user runs them
(subprocesses on their own instance), the data functions beside them, on SQLite and
PostgreSQL.

Nothing makes a master key on its own: without one the scheduler will not start,
commands needing the key refuse, and the others work. A rotation moves 10,000 sealed
values to a new key; killed half way, every value still opens and a second run finishes;
the old key then retires, and a real push still works.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bench.sealed_data import fill, open_all, split
from data.config import Settings
from data.connectors import add_connector, bind, open_secret
from data.crypto import Vault, create_key_file, key_id, load_vault
from data.db import session_scope
from data.domain.errors import SealedValueError
from data.importer import import_paths
from data.keyring import CONNECTOR_SECRETS, PRIVATE_KEYS, TASK_SECRETS, sealed_counts
from data.models import AuditEvent, Connector, PrivateKey
from data.users import add_user
from jobs.push import push_certificate
from tests import certs as c
from tests.cli_auth import stdin_for
from tests.profiles import FILES
from tests.servers import make_cert_files

PASSWORD = "long enough password"
TOTAL = 10_000


def now() -> datetime:
    return datetime.now(UTC)


def environment(instance: Path, database_url: str | None = None, **more: str) -> dict[str, str]:
    """The environment of a certpush process on ``instance``: no key unless given here."""
    env = {**os.environ, "CERTPUSH_INSTANCE": str(instance), **more}
    for name in ("CERTPUSH_MASTER_KEY", "CERTPUSH_MASTER_KEY_FILE", "DATABASE_URL"):
        if name not in more:
            env.pop(name, None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def certpush(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The CLI; ``--as USER`` gets the tests' one password on stdin (it is asked for)."""
    stdin = stdin_for(args, {"root": PASSWORD, "adam": PASSWORD, "olivia": PASSWORD}, stdin)
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def audit_events(url: str, action: str) -> list[AuditEvent]:
    with session_scope(url) as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# ------------------------------------------------------------------------- sealed start


def test_the_scheduler_without_a_key_exits_at_once_and_writes_nothing(tmp_path):
    instance = tmp_path / "instance"
    env = environment(instance)
    assert certpush(env, "db", "upgrade").returncode == 0
    files = sorted(p.name for p in instance.iterdir())
    for command in (["-m", "jobs.scheduler"], ["-m", "jobs.cli", "scheduler"]):
        started = time.monotonic()
        done = subprocess.run([sys.executable, *command], env=env, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode != 0, command
        assert time.monotonic() - started < 10
        assert "no master key" in done.stderr and "certpush keys generate" in done.stderr
        assert "scheduler starting" not in done.stderr
    assert sorted(p.name for p in instance.iterdir()) == files  # no key file, nothing else
    with sqlite3.connect(instance / "certpush.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "apscheduler_jobs" not in tables  # the job store was never started
    fresh = tmp_path / "never-made"
    done = subprocess.run([sys.executable, "-m", "jobs.scheduler"], env=environment(fresh),
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode != 0 and not fresh.exists()


def test_commands_needing_the_key_refuse_without_one_and_the_others_work(tmp_path):
    """Importing a certificate needs no key; its private key does (rejected with the fix,
    never stored unsealed). A credential, a push and a rotation need the key."""
    instance = tmp_path / "instance"
    env = environment(instance, CERTPUSH_EMERGENCY_PUSH="on")
    cert, key = c.make_cert("sealed-start.example")
    fingerprint = cert.fingerprint(c.hashes.SHA256()).hex()
    (tmp_path / "both.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    ssh_key = tmp_path / "id_ed25519"
    ssh_key.write_bytes(c.key_pem(c.make_key("ed25519")))
    device = tmp_path / "device"
    device.mkdir()
    (tmp_path / "local.json").write_text(json.dumps({"profile": FILES,
        "cert_path": str(device / "site.crt"), "key_path": str(device / "site.key")}))  # fmt: skip
    (tmp_path / "ssh.json").write_text(json.dumps({"host": "127.0.0.1", "username": "deploy",
        "private_key_file": str(ssh_key), "profile": FILES,
        "cert_path": str(device / "a.crt"), "key_path": str(device / "a.key")}))  # fmt: skip

    assert certpush(env, "db", "upgrade").returncode == 0
    added = certpush(env, "users", "add", "root", "--role", "admin", "--password-stdin",
                     stdin=PASSWORD)  # fmt: skip
    assert added.returncode == 0, added.stderr
    imported = certpush(env, "import", str(tmp_path / "both.pem"), "--json")
    assert imported.returncode == 0, imported.stderr
    results = {r["kind"]: r for r in json.loads(imported.stdout)}
    assert results["certificate"]["result"] == "imported"
    assert results["private_key"]["result"] == "rejected"
    assert "no master key" in results["private_key"]["reason"]
    assert "certpush keys generate" in results["private_key"]["reason"]
    plain = certpush(env, "import", str(tmp_path / "both.pem"))
    assert plain.returncode == 0 and "private keys were not stored" in plain.stderr
    listed = json.loads(certpush(env, "certs", "list", "--json").stdout)
    assert [r["fingerprint_sha256"] for r in listed] == [fingerprint]

    with_secret = certpush(env, "connectors", "add", "dev-ssh", "--type", "ssh",
                           "--config", str(tmp_path / "ssh.json"))  # fmt: skip
    assert with_secret.returncode == 1 and "no master key" in with_secret.stderr
    without = certpush(env, "connectors", "add", "dev", "--type", "local",
                       "--config", str(tmp_path / "local.json"), "--as", "root")  # fmt: skip
    assert without.returncode == 0, without.stderr
    assert certpush(env, "connectors", "bind", "dev", "--cert", fingerprint).returncode == 0
    assert certpush(env, "connectors", "test", "dev").returncode == 0  # it has no credential
    assert [c["name"] for c in json.loads(certpush(env, "connectors", "list", "--json").stdout)
            ] == ["dev"]  # fmt: skip
    emergency = ("push", "emergency", "--cert", fingerprint, "--connector", "dev",
                 "--reason", "replace it now", "--as", "root")  # fmt: skip
    refused = certpush(env, *emergency)
    assert refused.returncode == 1 and "no master key" in refused.stderr
    assert json.loads(certpush(env, "workorders", "list", "--json").stdout) == []
    for command in (("keys", "rotate"), ("keys", "retire", "abcd")):
        said = certpush(env, *command)
        assert said.returncode == 1 and "certpush keys generate" in said.stderr, command
    status = certpush(env, "keys", "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["problem"].startswith("no master key")
    assert not (instance / "master.key").exists()

    made = certpush(env, "keys", "generate")
    assert made.returncode == 0 and "mode 0600" in made.stdout
    key_file = instance / "master.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    written = key_file.read_bytes()
    again = certpush(env, "keys", "generate")
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert key_file.read_bytes() == written
    stored = json.loads(certpush(env, "import", str(tmp_path / "both.pem"), "--json").stdout)
    assert {r["kind"]: r["result"] for r in stored}["private_key"] == "imported"
    pushed = certpush(env, *emergency)
    assert pushed.returncode == 0, pushed.stderr
    assert (device / "site.crt").read_bytes() == c.pem(cert)


# -------------------------------------------------------------------------- rotation


@pytest.fixture
def keyed(settings: Settings) -> tuple[Settings, dict[str, str]]:
    """The test's database with its keyring in the instance's key file (what `keys rotate`
    edits), and the environment of a certpush process on them."""
    on_file = Settings.for_folder(settings.instance_dir, database_url=settings.database_url)
    assert create_key_file(on_file.master_key_file, load_vault(settings).keys)
    return on_file, environment(settings.instance_dir, settings.database_url)


def _key_ids(path: Path) -> list[str]:
    return [kid.hex() for kid in load_vault(Settings.for_folder(path.parent)).key_ids]


def _not_under(url: str, kid: bytes) -> int:
    with session_scope(url) as db:
        return sum(n for counts in sealed_counts(db).values() for k, n in counts.items()
                   if k != kid)  # fmt: skip


def _pushable_device(settings: Settings, tmp_path: Path) -> tuple[str, Path, bytes]:
    """A certificate with its key in the inventory and a local connector bound to it."""
    cert, key, fingerprint = make_cert_files(tmp_path / "inventory", "rotated.example")
    device = tmp_path / "device"
    device.mkdir()
    vault = load_vault(settings)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [cert, key], now=now(), actor="test")
        add_connector(db, vault, name="dev", type_name="local", actor="test", role="admin",
                      now=now(), settings={"profile": FILES,
                                           "cert_path": str(device / "site.crt"),
                                           "key_path": str(device / "site.key")})  # fmt: skip
        bind(db, "dev", fingerprint, actor="test", now=now())
    return fingerprint, device, cert.read_bytes()


def test_rotation_killed_half_way_keeps_every_value_open_and_a_second_run_finishes(keyed, tmp_path):
    settings, env = keyed
    url = settings.database_url
    fingerprint, device, cert_pem = _pushable_device(settings, tmp_path)
    old = load_vault(settings)
    fill(url, old, split(TOTAL))
    everything = TOTAL + 1  # and the real certificate's private key
    assert _not_under(url, old.key_id) == 0

    rotation = subprocess.Popen([sys.executable, "-m", "jobs.cli", "keys", "rotate", "--batch",
                                 "10"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        moved = 0
        while moved < TOTAL // 2 and rotation.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
            moved = _not_under(url, old.key_id)
        assert rotation.poll() is None, "the rotation finished before it could be killed"
        rotation.send_signal(signal.SIGKILL)
    finally:
        rotation.kill()
        rotation.communicate(timeout=30)
    assert rotation.returncode == -signal.SIGKILL

    keyring = load_vault(settings)
    new_id = keyring.key_id
    assert _key_ids(settings.master_key_file) == [new_id.hex(), old.key_id.hex()]
    half = open_all(url, keyring)
    assert half.failed == [] and half.total == everything
    left = _not_under(url, new_id)
    assert 0 < left <= everything - TOTAL // 2, left  # about half moved, not all
    status = json.loads(certpush(env, "keys", "status", "--json").stdout)
    assert status["current"] == new_id.hex() and status["to_rotate"] == left
    assert [k["id"] for k in status["keys"]] == [new_id.hex(), old.key_id.hex()]
    assert status["keys"][1]["values"] == left and status["total"] == everything

    another = tmp_path / "another.key"
    assert certpush(env, "keys", "generate", "--out", str(another)).returncode == 0
    refused = certpush(env, "keys", "rotate", "--new-key-file", str(another))
    assert refused.returncode == 1 and "without --new-key-file" in refused.stderr
    finished = certpush(env, "keys", "rotate", "--json")
    assert finished.returncode == 0, finished.stderr
    assert "moving them" in finished.stderr
    report = json.loads(finished.stdout)
    assert report["current"] == new_id.hex() and sum(report["moved"].values()) == left
    assert report["failures"] == [] and report["remaining"] == 0
    assert _key_ids(settings.master_key_file) == [new_id.hex(), old.key_id.hex()]  # no new key
    status = json.loads(certpush(env, "keys", "status", "--json").stdout)
    assert status["keys"][1] == {"id": old.key_id.hex(), "current": False, "values": 0}
    assert status["keys"][0]["values"] == everything and status["to_rotate"] == 0

    retired = certpush(env, "keys", "retire", old.key_id.hex()[:8])
    assert retired.returncode == 0, retired.stderr
    assert _key_ids(settings.master_key_file) == [new_id.hex()]
    alone = load_vault(settings)
    final = open_all(url, alone)
    assert final.failed == [] and final.total == everything
    assert final.opened == {PRIVATE_KEYS: 7993, CONNECTOR_SECRETS: 1998, TASK_SECRETS: 10}
    assert [e.target for e in audit_events(url, "key.rotate")] == [new_id.hex()]
    assert [e.target for e in audit_events(url, "key.retire")] == [old.key_id.hex()]

    report = push_certificate(url, alone, fingerprint, "dev", actor="test")
    assert report.outcome.value == "installed", report.reason
    assert (device / "site.crt").read_bytes() == cert_pem


def test_a_damaged_value_is_audited_and_reported_and_the_others_move(keyed, tmp_path):
    settings, env = keyed
    url = settings.database_url
    old = load_vault(settings)
    fill(url, old, {PRIVATE_KEYS: 5, CONNECTOR_SECRETS: 3, TASK_SECRETS: 2})
    with session_scope(url) as db:
        victim, blob = db.execute(select(PrivateKey.id, PrivateKey.sealed_pkcs8)
                                  .order_by(PrivateKey.id).limit(1)).one()  # fmt: skip
        spki = db.scalar(select(PrivateKey.spki_sha256).where(PrivateKey.id == victim))
        db.execute(update(PrivateKey).where(PrivateKey.id == victim)
                   .values(sealed_pkcs8=blob[:-1] + bytes([blob[-1] ^ 1])))  # fmt: skip
        first, second = db.execute(select(Connector.id, Connector.sealed_secret)
                                   .order_by(Connector.id).limit(2)).all()  # fmt: skip
        db.execute(update(Connector).where(Connector.id == second.id)
                   .values(sealed_secret=first.sealed_secret))  # another row's blob  # fmt: skip
        copied = db.scalar(select(Connector.name).where(Connector.id == second.id))

    done = certpush(env, "keys", "rotate")
    assert done.returncode == 1
    assert f"private key {spki}" in done.stderr and f"connector {copied}" in done.stderr
    assert "damaged or belongs to another record" in done.stderr
    assert "2 value(s) are still under older keys" in done.stderr
    assert "4 private keys, 2 connector secrets, 2 task secrets" in done.stdout
    failures = audit_events(url, "key.open_failed")
    assert sorted(e.target for e in failures) == sorted([f"connector {copied}",
                                                         f"private key {spki}"])  # fmt: skip
    details = " ".join(e.detail for e in failures)
    assert f"context private_key:{spki}" in details and "bench-" not in details
    [finish] = audit_events(url, "key.rotate.finish")
    assert "2 would not open" in finish.detail

    status = json.loads(certpush(env, "keys", "status", "--json").stdout)
    assert status["to_rotate"] == 2 and status["keys"][1]["values"] == 2
    kept = certpush(env, "keys", "retire", old.key_id.hex())
    assert kept.returncode == 1 and "2 value(s) are still sealed" in kept.stderr
    again = certpush(env, "keys", "rotate")  # tries the two again, moves nothing else
    assert again.returncode == 1 and len(audit_events(url, "key.open_failed")) == 4

    # Opened anywhere else, a damaged value is audited too, even though the work failed.
    with pytest.raises(SealedValueError), session_scope(url) as db:
        open_secret(db, load_vault(settings), copied, actor="pusher")
    latest = audit_events(url, "key.open_failed")[-1]
    assert (latest.actor, latest.target) == ("pusher", f"connector {copied}")
    assert certpush(env, "keys", "retire", old.key_id.hex(), "--force").returncode == 0


def test_two_commands_changing_the_key_file_at_once_never_lose_a_key(sqlite_settings):
    """Both read the keyring; the first makes a new key current; the second, with what it
    read, is refused instead of writing over the first one's key."""
    from data.domain.errors import ConfigError
    from data.keyring import add_current_key, retire_key

    settings = Settings.for_folder(sqlite_settings.instance_dir,
                                   database_url=sqlite_settings.database_url)  # fmt: skip
    create_key_file(settings.master_key_file)
    read_by_both = load_vault(settings)
    with session_scope(settings.database_url) as db:
        first = add_current_key(db, settings, read_by_both, os.urandom(32), actor="a", now=now())
        with pytest.raises(ConfigError, match="changed while this command ran"):
            add_current_key(db, settings, read_by_both, os.urandom(32), actor="b", now=now())
        with pytest.raises(ConfigError, match="changed while this command ran"):
            stale = Vault.of(os.urandom(32), read_by_both.key)  # not what the file holds
            retire_key(db, settings, stale, read_by_both.key_id.hex(), actor="b", now=now())
    assert load_vault(settings).keys == first.keys


def test_importing_a_key_again_replaces_a_stored_copy_that_will_not_open(settings, tmp_path):
    cert, key, _ = make_cert_files(tmp_path, "repaired.example")
    vault = load_vault(settings)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [cert, key], now=now(), actor="t")
        again = import_paths(db, vault, [key], now=now(), actor="t")
        assert again[0].result.value == "duplicate"  # it opens: nothing to repair
        blob = db.scalar(select(PrivateKey.sealed_pkcs8))
        db.execute(update(PrivateKey).values(sealed_pkcs8=blob[:-1] + bytes([blob[-1] ^ 1])))
    with session_scope(settings.database_url) as db:
        [repaired] = import_paths(db, vault, [key], now=now(), actor="t")
    assert repaired.result.value == "imported" and "replacing a stored copy" in repaired.reason
    with session_scope(settings.database_url) as db:
        [(spki, blob)] = db.execute(select(PrivateKey.spki_sha256, PrivateKey.sealed_pkcs8))
    assert vault.open(blob, f"private_key:{spki}").startswith(b"0")  # DER again


def test_a_keyring_in_the_environment_rotates_once_the_new_key_is_put_first(sqlite_settings):
    url = sqlite_settings.database_url
    old = load_vault(sqlite_settings)
    fill(url, old, {PRIVATE_KEYS: 30, CONNECTOR_SECRETS: 15, TASK_SECRETS: 5})
    env = environment(sqlite_settings.instance_dir, url,
                      CERTPUSH_MASTER_KEY=sqlite_settings.master_key)  # fmt: skip
    refused = certpush(env, "keys", "rotate")
    assert refused.returncode == 1 and "the keyring is CERTPUSH_MASTER_KEY" in refused.stderr
    new = certpush(env, "keys", "generate", "--print").stdout.strip()
    env["CERTPUSH_MASTER_KEY"] = f"{new},{sqlite_settings.master_key}"
    done = certpush(env, "keys", "rotate", "--json")
    assert done.returncode == 0, done.stderr
    assert sum(json.loads(done.stdout)["moved"].values()) == 50
    retire = certpush(env, "keys", "retire", old.key_id.hex())
    assert retire.returncode == 1 and f"remove {old.key_id.hex()} there" in retire.stderr
    only_new = Settings.for_folder(sqlite_settings.instance_dir, database_url=url,
                                   master_key=new)  # fmt: skip
    opened = open_all(url, load_vault(only_new))
    assert opened.failed == [] and opened.total == 50
    assert load_vault(only_new).key_id != key_id(old.key)


# ---------------------------------------------------------------------------- the banner


def test_admins_and_only_they_see_the_missing_key_banner(sqlite_settings, instance):
    from dashboard.app import app
    from dashboard.callbacks.shell import show_master_key_banner
    from tests.dash_calls import ActingAs, component_text

    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "adam", "admin", PASSWORD, now())
        add_user(db, "olivia", "operator", PASSWORD, now())
    keyless = Settings.for_folder(instance / "keyless", database_url=sqlite_settings.database_url)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    try:
        server.config["CERTPUSH_SETTINGS"] = keyless
        with ActingAs(server, "adam", PASSWORD):
            shown = component_text(show_master_key_banner("/"))
        assert "No master key" in shown and "certpush keys generate" in shown
        assert "imports of private keys and connector secrets are unavailable" in shown
        with ActingAs(server, "olivia", PASSWORD):
            assert show_master_key_banner("/") is None
        with ActingAs(server, None, PASSWORD):
            assert show_master_key_banner("/") is None
        keyless.master_key_file.parent.mkdir(parents=True, exist_ok=True)
        keyless.master_key_file.write_text("not a key\n")
        with ActingAs(server, "adam", PASSWORD):
            broken = component_text(show_master_key_banner("/"))
        assert "The master key cannot be used" in broken and "not 32 bytes" in broken
        server.config["CERTPUSH_SETTINGS"] = sqlite_settings
        with ActingAs(server, "adam", PASSWORD):
            assert show_master_key_banner("/") is None
    finally:
        server.config["CERTPUSH_SETTINGS"] = previous
