"""Verified completion, automatic rollback and retries on real devices (issue 13).

Real nginx serving real TLS, a real sshd, the scheduler's own push job; whether the
device serves a certificate is always seen through a TLS handshake.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.status import Status, StatusInputs, classify_certificate
from data.domain.workflow import FINAL, Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import Certificate, PushAttempt
from data.push_plans import current_plan
from data.users import add_user
from data.workorders import act, claim_due, get_work_order, request_push, work_order_detail
from jobs.plan_checks import check_plan
from jobs.workorders import run_work_order
from tests.integration.test_workorders import start_scheduler, wait_for_status
from tests.profiles import nginx_profile
from tests.servers import (
    PrivateNginx,
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
    tls_fingerprint,
)

OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
S = WorkOrderStatus


def now() -> datetime:
    return datetime.now(UTC)


class DynamicNginx(PrivateNginx):
    """nginx loading its certificate and key at every handshake (a variable in the path),
    so whatever is in the files is what the next client gets: a certificate that does not
    match the key nginx reads breaks the handshake itself, without any reload."""

    def config_text(self) -> str:
        text = super().config_text()
        return text.replace("http {", 'http {\n    map $server_port $dyn { default ""; }', 1)


def _implemented(settings, fingerprint: str) -> int:
    with session_scope(settings.database_url) as db:
        for actor in (OLIVIA, RAVI, INES):
            add_user(db, actor.username, actor.role, "long-password-1", now())
        _, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renewal")
        assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok
        assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok
    return wo.id


def _claim(settings) -> list[int]:
    with session_scope(settings.database_url) as db:
        return claim_due(db, owner="t", now=now(), grace=timedelta(hours=1),
                         lease=timedelta(minutes=5), limit=5)  # fmt: skip


def _attempts(settings, wo_id: int) -> list[tuple[str, str, int]]:
    with session_scope(settings.database_url) as db:
        rows = db.execute(
            select(PushAttempt.kind, PushAttempt.outcome, PushAttempt.try_number)
            .where(PushAttempt.work_order_id == wo_id)
            .order_by(PushAttempt.id)
        ).all()
    return [tuple(r) for r in rows]


def _colour(settings, fingerprint: str) -> Status:
    with session_scope(settings.database_url) as db:
        cert = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
        inputs = StatusInputs(cert.not_after, cert.revoked_at is not None, cert.push_failed,
                              cert.drift)  # fmt: skip
        return classify_certificate(inputs, now())


def _local_nginx(settings, tmp_path: Path, *, nginx_cls=PrivateNginx, key_file=None,
                 reload=None, name="web", grace=None) -> dict:  # fmt: skip
    """nginx serving an old certificate from tls/site.crt; a local connector writing the
    new one there; ``key_file``: the key nginx reads, when not the connector's key file."""
    vault = load_vault(settings)
    tls = tmp_path / "tls"
    old_cert, old_key, old_fp = make_cert_files(tls, "safe.example", stem="site")
    new_cert, new_key, new_fp = make_cert_files(tmp_path / "new", "safe.example")
    port = free_port()
    nginx = nginx_cls(tmp_path / "nginx")
    served_key = key_file(old_key) if key_file else old_key
    if nginx_cls is DynamicNginx:
        nginx.add_site(port, Path(f"{old_cert}$dyn"), Path(f"{served_key}$dyn"))
    else:
        nginx.add_site(port, old_cert, served_key)
    profile = nginx_profile(nginx, f"safe-{name}", folders=[str(tls)], reload=reload)
    if grace is not None:
        _with_grace(profile, grace)
    nginx.start()
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [new_cert, new_key], now=now(), actor="t")
        add_connector(db, vault, name=name, type_name="local", actor="t", role="admin",
                      now=now(), settings={"profile": profile, "cert_path": str(old_cert),
                                           "key_path": str(old_key)},
                      endpoints=[f"127.0.0.1:{port}"])  # fmt: skip
        bind(db, name, new_fp, actor="t", now=now())
    return {"nginx": nginx, "port": port, "old": old_fp, "new": new_fp, "tls": tls,
            "vault": vault}  # fmt: skip


def _with_grace(profile: str, grace: float) -> None:
    """The same profile with a longer verification grace (an administrator's setting)."""
    import tests.profiles as profiles

    profiles._defined[profile]["verify_grace"] = grace
    profiles._defined[profile]["verify_settle"] = 0.2
    profiles.write()


def test_a_reload_that_keeps_the_old_certificate_is_rolled_back(sqlite_settings, tmp_path):
    """The reload does not make nginx read the new files: the old certificate stays served,
    the push fails verification, the previous files go back, the old certificate is seen
    again by a handshake: Rolled Back, the certificate Gray, every step an attempt row."""
    dev = _local_nginx(sqlite_settings, tmp_path, reload=["true"])
    try:
        wo_id = _implemented(sqlite_settings, dev["new"])
        assert _claim(sqlite_settings) == [wo_id]
        assert run_work_order(sqlite_settings.database_url, dev["vault"], wo_id, "t") is False
        with session_scope(sqlite_settings.database_url) as db:
            view = get_work_order(db, wo_id)
        assert view.status is S.ROLLED_BACK
        assert "served again on all 1 endpoint" in view.reason
        assert tls_fingerprint("127.0.0.1", dev["port"]) == dev["old"]
        assert [(k, o) for k, o, _ in _attempts(sqlite_settings, wo_id)] == [
            ("install", "installed"),
            ("verify", "failed_verification"),
            ("rollback", "restored"),
            ("rollback_verify", "verified"),
        ]
        assert _colour(sqlite_settings, dev["new"]) is Status.GRAY
    finally:
        dev["nginx"].stop()


def test_a_broken_certificate_breaks_the_handshake_and_rollback_restores_service(
    sqlite_settings, tmp_path
):
    """nginx reads the certificate file with a key of its own (the old one): the pushed
    certificate does not match it, and handshakes fail at once. Automatic rollback is off
    for this connector, yet an endpoint that served before and now cannot handshake is
    rolled back: the old certificate is served again."""
    dev = _local_nginx(
        sqlite_settings, tmp_path, nginx_cls=DynamicNginx, reload=["true"],
        key_file=lambda old_key: _copy(old_key, old_key.with_name("served.key")),
    )  # fmt: skip
    try:
        with session_scope(sqlite_settings.database_url) as db:
            from data.models import Connector

            db.query(Connector).filter(Connector.name == "web").update({"auto_rollback": False})
        assert tls_fingerprint("127.0.0.1", dev["port"]) == dev["old"]  # served fine before
        wo_id = _implemented(sqlite_settings, dev["new"])
        assert _claim(sqlite_settings) == [wo_id]
        assert run_work_order(sqlite_settings.database_url, dev["vault"], wo_id, "t") is False
        with session_scope(sqlite_settings.database_url) as db:
            detail = work_order_detail(db, wo_id)
        steps = [h["to"] for h in detail["history"]]
        assert "Failed Verification" in steps and detail["status"] == "Rolled Back"
        failed = next(h for h in detail["history"] if h["to"] == "Failed Verification")
        assert "tls_error" in failed["comment"] and "broke the TLS service" in failed["comment"]
        assert tls_fingerprint("127.0.0.1", dev["port"]) == dev["old"]  # service restored
    finally:
        dev["nginx"].stop()


def _copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


def test_a_rollback_that_cannot_restore_ends_rollback_failed_gray(sqlite_settings, tmp_path):
    """The reload deletes the previous files the install kept (as a careless script on the
    device might): the rollback has nothing to restore, says so and what each endpoint
    serves; the work order is Rollback Failed and the certificate Gray."""
    dev = _local_nginx(sqlite_settings, tmp_path,
                       reload=["sh", "-c", f"rm -f {tmp_path}/tls/*.certpush-prev"])  # fmt: skip
    try:
        wo_id = _implemented(sqlite_settings, dev["new"])
        assert _claim(sqlite_settings) == [wo_id]
        assert run_work_order(sqlite_settings.database_url, dev["vault"], wo_id, "t") is False
        with session_scope(sqlite_settings.database_url) as db:
            view = get_work_order(db, wo_id)
        assert view.status is S.ROLLBACK_FAILED
        assert "no previous version of" in view.reason and "was kept" in view.reason
        assert f"127.0.0.1:{dev['port']}: serves {dev['old'][:16]}" in view.reason
        assert _colour(sqlite_settings, dev["new"]) is Status.GRAY
        assert [(k, o) for k, o, _ in _attempts(sqlite_settings, wo_id)][-1] == (
            "rollback", "failed",
        )  # fmt: skip
    finally:
        dev["nginx"].stop()


@pytest.fixture
def ssh_nginx(sqlite_settings, tmp_path):
    """nginx serving an old certificate, reachable over a private sshd (not started)."""
    vault = load_vault(sqlite_settings)
    tls = tmp_path / "device"
    cert_a, key_a, fp_a = make_cert_files(tls, "retry.example", stem="site")
    cert_b, key_b, fp_b = make_cert_files(tmp_path / "new", "retry.example", stem="renewed")
    port = free_port()
    nginx = PrivateNginx(tmp_path / "nginx")
    nginx.add_site(port, cert_a, key_a)
    sshd = PrivateSshd(tmp_path / "sshd")
    key_path, public = make_client_key(tmp_path / "client")
    sshd.authorize(public)
    nginx.start()
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [cert_b, key_b], now=now(), actor="t")
    yield {"nginx": nginx, "sshd": sshd, "port": port, "old": fp_a, "new": fp_b, "vault": vault,
           "key": key_path, "cert_path": cert_a, "key_path": key_a}  # fmt: skip
    sshd.stop()
    nginx.stop()


def _ssh_connector(settings, dev, host_key: str) -> None:
    with session_scope(settings.database_url) as db:
        add_connector(
            db, dev["vault"], name="web-ssh", type_name="ssh",
            settings={"host": "127.0.0.1", "port": dev["sshd"].port,
                      "username": dev["sshd"].username, "host_key_fingerprint": host_key,
                      "cert_path": str(dev["cert_path"]), "key_path": str(dev["key_path"]),
                      "profile": nginx_profile(dev["nginx"], "retry-nginx"), "connect_timeout": 3},
            endpoints=[{"host": "127.0.0.1", "port": dev["port"]}],
            secret=dev["key"].read_bytes(), secret_kind="private_key", actor="t", now=now(),
        )  # fmt: skip
        bind(db, "web-ssh", dev["new"], actor="t", now=now())


def test_an_unreachable_device_is_retried_and_installed_on_the_second_try(
    sqlite_settings, ssh_nginx
):
    """sshd is down for the first try (connection refused: transient); it is started
    during the backoff; the second try installs, verification sees the new certificate."""
    dev = ssh_nginx
    _ssh_connector(sqlite_settings, dev, dev["sshd"].host_key_fingerprint)
    waits: list[float] = []

    def backoff_sleep(seconds: float) -> None:
        if not waits:  # the first wait is the backoff after the failed first try
            assert _attempts(sqlite_settings, wo_id)[-1][:2] == ("install", "failed")
            dev["sshd"].start()
        waits.append(seconds)
        time.sleep(min(seconds, 0.5))

    wo_id = _implemented(sqlite_settings, dev["new"])
    dev["sshd"].start()  # the preflight after the request found the device reachable ...
    _preflight(sqlite_settings, dev["vault"], wo_id)
    dev["sshd"].stop()  # ... and at push time it is down
    assert _claim(sqlite_settings) == [wo_id]
    done = run_work_order(sqlite_settings.database_url, dev["vault"], wo_id, "t",
                          sleep=backoff_sleep)  # fmt: skip
    with session_scope(sqlite_settings.database_url) as db:
        assert done, get_work_order(db, wo_id).reason
    assert [a for a in _attempts(sqlite_settings, wo_id) if a[0] == "install"] == [
        ("install", "failed", 1),
        ("install", "installed", 2),
    ]
    assert tls_fingerprint("127.0.0.1", dev["port"]) == dev["new"]
    with session_scope(sqlite_settings.database_url) as db:
        detail = work_order_detail(db, wo_id)
    retry = next(h for h in detail["history"] if h["action"] == "retry")
    assert "try 1 failed (unreachable)" in retry["comment"]


def _preflight(settings, vault, wo_id: int) -> None:
    with session_scope(settings.database_url) as db:
        plan = current_plan(db, wo_id)
    check_plan(settings.database_url, vault, plan, now=now(), min_days_left=7)
    with session_scope(settings.database_url) as db:
        assert current_plan(db, wo_id).preflight_status in ("ok", "warning")


def test_a_wrong_host_key_is_never_retried(sqlite_settings, ssh_nginx):
    dev = ssh_nginx
    dev["sshd"].start()
    _ssh_connector(sqlite_settings, dev, "SHA256:" + "A" * 43)
    wo_id = _implemented(sqlite_settings, dev["new"])
    assert _claim(sqlite_settings) == [wo_id]
    slept: list[float] = []
    assert run_work_order(sqlite_settings.database_url, dev["vault"], wo_id, "t",
                          sleep=slept.append) is False  # fmt: skip
    # the push-time preflight meets the changed key first: a blocker, never retried
    assert _attempts(sqlite_settings, wo_id) == []
    assert not slept  # no backoff, no second try
    with session_scope(sqlite_settings.database_url) as db:
        view = get_work_order(db, wo_id)
    assert view.status is S.FAILED and "host key changed" in view.reason
    assert view.reason.startswith("preflight blocker, nothing pushed")
    assert tls_fingerprint("127.0.0.1", dev["port"]) == dev["old"]


def test_scheduler_killed_while_verifying_resumes_without_a_second_install(
    sqlite_settings, tmp_path
):
    """The reload does not pick up the new files and the grace window is long: the work
    order sits in Verifying when the scheduler is killed (-9). nginx is then reloaded by
    hand; the restarted scheduler resumes the verification (no second install) and sees
    the new certificate: Completed."""
    dev = _local_nginx(sqlite_settings, tmp_path, reload=["true"], grace=60)
    scheduler = start_scheduler(sqlite_settings, tmp_path / "scheduler.log")
    restarted = None
    try:
        wo_id = _implemented(sqlite_settings, dev["new"])
        assert wait_for_status(sqlite_settings, wo_id, {S.VERIFYING} | set(FINAL)) is S.VERIFYING
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(timeout=10)
        workers = dev["nginx"].worker_pids()
        dev["nginx"].reload()
        dev["nginx"].wait_for_reload(workers)
        restarted = start_scheduler(sqlite_settings, tmp_path / "scheduler.log")
        assert wait_for_status(sqlite_settings, wo_id, set(FINAL)) is S.COMPLETED
        kinds = [k for k, _, _ in _attempts(sqlite_settings, wo_id)]
        assert kinds.count("install") == 1 and kinds[-1] == "verify"
        with session_scope(sqlite_settings.database_url) as db:
            actions = [h["action"] for h in work_order_detail(db, wo_id)["history"]]
        assert "reconcile" in actions and "resume" in actions
    finally:
        for process in (scheduler, restarted):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:  # a job still running: the test is over
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        dev["nginx"].stop()


def test_verification_runs_in_its_own_thread_per_work_order(sqlite_settings, tmp_path):
    """Two pushes verified at once (the scheduler's pool): each decides only its own."""
    a = _local_nginx(sqlite_settings, tmp_path / "a", name="web-a")
    b = _local_nginx(sqlite_settings, tmp_path / "b", name="web-b", reload=["true"])
    try:
        ids = [_implemented_one(sqlite_settings, d["new"], i) for i, d in enumerate((a, b))]
        assert sorted(_claim(sqlite_settings)) == sorted(ids)
        results: dict[int, bool] = {}
        threads = [
            threading.Thread(target=lambda i=i, d=d: results.__setitem__(
                i, run_work_order(sqlite_settings.database_url, d["vault"], i, "t")))
            for i, d in zip(ids, (a, b), strict=True)
        ]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert results == {ids[0]: True, ids[1]: False}
        with session_scope(sqlite_settings.database_url) as db:
            assert get_work_order(db, ids[0]).status is S.COMPLETED
            assert get_work_order(db, ids[1]).status is S.ROLLED_BACK
    finally:
        a["nginx"].stop()
        b["nginx"].stop()


def _implemented_one(settings, fingerprint: str, index: int) -> int:
    with session_scope(settings.database_url) as db:
        if index == 0:
            for actor in (OLIVIA, RAVI, INES):
                add_user(db, actor.username, actor.role, "long-password-1", now())
        _, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renewal")
        assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok
        assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok
    return wo.id
