"""Work orders with real databases, real threads, a real scheduler process and real devices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from data.connectors import add_connector, bind
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import FINAL, Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import PushAttempt, WorkOrder
from data.users import add_user
from data.workorders import act, claim_due, get_work_order, history, request_push
from tests.profiles import define, nginx_profile
from tests.servers import (
    PrivateNginx,
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
    tls_fingerprint,
    wait_for_fingerprint,
)

OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
IVAN = Actor("ivan", "implementer")
S = WorkOrderStatus


def now() -> datetime:
    return datetime.now(UTC)


def make_users(settings) -> None:
    with session_scope(settings.database_url) as db:
        for actor in (OLIVIA, RAVI, INES, IVAN):
            add_user(db, actor.username, actor.role, "long-password", now())


def local_push_setup(settings, vault, tmp_path, name="dev-local", reload=None) -> str:
    cert, key, fingerprint = make_cert_files(tmp_path / "inventory", "wo.example")
    target = tmp_path / "device"
    target.mkdir(exist_ok=True)
    with session_scope(settings.database_url) as db:
        import_paths(db, vault, [cert, key], now=now(), actor="t")
        add_connector(
            db,
            vault,
            name=name,
            type_name="local",
            settings={
                "profile": define("test-reload", reload=reload) if reload else "test-files",
                "cert_path": str(target / "site.crt"),
                "key_path": str(target / "site.key"),
            },
            actor="t",
            role="admin",
            now=now(),
        )
        bind(db, name, fingerprint, actor="t", now=now())
    return fingerprint


def approved_work_order(settings, fingerprint) -> int:
    with session_scope(settings.database_url) as db:
        request, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renewal")
        assert request.startswith("REQ-") and wo.label.startswith("WO-")
        assert wo.status is S.APPROVAL_PENDING
        result = act(db, wo.id, Action.APPROVE, actor=RAVI, now=now(), comment="ok")
        assert result.ok, result.message
        assert result.work_order.status is S.REVIEW_IN_PROGRESS
    return wo.id


def test_a_rejection_ends_the_request(settings, vault, tmp_path):
    """Rejecting one work order rejects its request's other open ones (pending, in review,
    scheduled) with the same reason; another request's work orders are untouched."""
    fingerprint = local_push_setup(settings, vault, tmp_path, name="dev-a")
    with session_scope(settings.database_url) as db:
        for name in ("dev-b", "dev-c"):
            add_connector(db, vault, name=name, type_name="local", actor="t", now=now(),
                          role="admin",
                          settings={"profile": "test-files",
                                    "cert_path": str(tmp_path / f"{name}.crt"),
                                    "key_path": str(tmp_path / f"{name}.key")})  # fmt: skip
            bind(db, name, fingerprint, actor="t", now=now())
        _, orders = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renewal")
        _, [other, *_] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="again")
        pending, in_review, scheduled = sorted(orders, key=lambda o: o.connector)
        for wo in (in_review, scheduled):
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now(), comment="ok").ok
        later = now() + timedelta(days=1)
        assert act(db, scheduled.id, Action.IMPLEMENT, actor=INES, now=now(), manual=False,
                   at=later).work_order.status is S.SCHEDULED  # fmt: skip
        result = act(db, pending.id, Action.REJECT, actor=RAVI, now=now(),
                     comment="wrong certificate")  # fmt: skip
        assert result.ok, result.message
        assert result.message == (
            f"{pending.label} is now Rejected; the rest of its request is rejected too: "
            f"{in_review.label}, {scheduled.label}"
        )
        for wo in (pending, in_review, scheduled):
            assert get_work_order(db, wo.id).status is S.REJECTED
        assert get_work_order(db, other.id).status is S.APPROVAL_PENDING
        last = history(db, scheduled.id)[-1]
        assert (last.actor, last.action, last.from_status, last.to_status) == (
            "ravi",
            "reject",
            "Push-Scheduled",
            "Rejected",
        )
        assert (
            last.comment == f"wrong certificate (rejected with {pending.label} of the same request)"
        )
        due = claim_due(db, owner="a", now=later + timedelta(minutes=1),
                        grace=timedelta(hours=1), lease=timedelta(minutes=5), limit=10)  # fmt: skip
        assert due == []  # the scheduled sibling never runs


def test_two_implementers_at_once_make_one_transition_and_one_push(settings, vault, tmp_path):
    fingerprint = local_push_setup(settings, vault, tmp_path)
    wo_id = approved_work_order(settings, fingerprint)
    barrier = threading.Barrier(2)
    results = {}

    def implement(actor: Actor) -> None:
        with session_scope(settings.database_url) as db:
            barrier.wait()
            results[actor.username] = act(db, wo_id, Action.IMPLEMENT, actor=actor, now=now())

    threads = [threading.Thread(target=implement, args=(a,)) for a in (INES, IVAN)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    outcomes = sorted(r.ok for r in results.values())
    assert outcomes == [False, True]
    loser = next(r for r in results.values() if not r.ok)
    winner = next(name for name, r in results.items() if r.ok)
    assert f"already implemented by {winner} at" in loser.message
    with session_scope(settings.database_url) as db:
        first = claim_due(db, owner="a", now=now(), grace=timedelta(hours=1),
                          lease=timedelta(minutes=5), limit=10)  # fmt: skip
        second = claim_due(db, owner="b", now=now(), grace=timedelta(hours=1),
                           lease=timedelta(minutes=5), limit=10)  # fmt: skip
        events = [(e.action, e.from_status, e.to_status) for e in history(db, wo_id)]
    assert first == [wo_id] and second == []  # only one scheduler may take it
    assert events == [
        ("request", None, "Push-Approval Pending"),
        ("approve", "Push-Approval Pending", "Push-Review In Progress"),
        ("implement", "Push-Review In Progress", "Push In Progress"),
        ("claim", "Push In Progress", "Push In Progress"),
    ]


def test_missed_schedule_fails_and_late_within_grace_runs(settings, vault, tmp_path):
    fingerprint = local_push_setup(settings, vault, tmp_path)
    late, missed = approved_work_order(settings, fingerprint), None
    with session_scope(settings.database_url) as db:
        _, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now())
        act(db, wo.id, Action.APPROVE, actor=RAVI, now=now())
        missed = wo.id
    for wo_id in (late, missed):
        with session_scope(settings.database_url) as db:
            result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=now(), manual=False,
                         at=now() + timedelta(minutes=10))  # fmt: skip
            assert result.work_order.status is S.SCHEDULED
    with session_scope(settings.database_url) as db:  # the scheduler was down meanwhile
        db.execute(update(WorkOrder).where(WorkOrder.id == late)
                   .values(run_at=now() - timedelta(minutes=20)))  # fmt: skip
        db.execute(update(WorkOrder).where(WorkOrder.id == missed)
                   .values(run_at=now() - timedelta(hours=3)))  # fmt: skip
    with session_scope(settings.database_url) as db:
        claimed = claim_due(db, owner="s", now=now(), grace=timedelta(hours=1),
                            lease=timedelta(minutes=5), limit=10)  # fmt: skip
    with session_scope(settings.database_url) as db:
        assert claimed == [late]
        assert get_work_order(db, late).status is S.PUSH_IN_PROGRESS
        failed = get_work_order(db, missed)
    assert failed.status is S.FAILED and failed.reason.startswith("missed schedule")


# ----- with the real scheduler process


def scheduler_env(settings) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "CERTPUSH_MASTER_KEY": settings.master_key,
           "CERTPUSH_INSTANCE": str(settings.instance_dir)}  # fmt: skip
    return env


def start_scheduler(settings, log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.scheduler"],
        env=scheduler_env(settings),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so kill -9 reaches the reload command it runs, too
    )


def stop_scheduler(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited in 30 s: a loaded machine may take long
    to end the scheduler's last job (a weekly report's chart renderer), and how fast it
    stops is not what these tests check."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_for_status(settings, wo_id: int, wanted: set[S], timeout: float = 30) -> S:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(settings.database_url) as db:
            status = get_work_order(db, wo_id).status
        if status in wanted:
            return status
        assert time.monotonic() < deadline, f"work order still {status.value}"
        time.sleep(0.2)


@pytest.fixture
def ssh_device(sqlite_settings, tmp_path):
    """nginx serving an old certificate, reachable over a private sshd; a new cert in stock."""
    vault = load_vault(sqlite_settings)
    tls = tmp_path / "device"
    cert_a, key_a, fp_a = make_cert_files(tls, "device.example", stem="site")
    cert_b, key_b, fp_b = make_cert_files(tmp_path / "new", "device.example", stem="renewed")
    port = free_port()
    nginx = PrivateNginx(tmp_path / "nginx")
    nginx.add_site(port, cert_a, key_a)
    sshd = PrivateSshd(tmp_path / "sshd")
    key_path, public = make_client_key(tmp_path / "client")
    sshd.authorize(public)
    nginx.start()
    sshd.start()
    with session_scope(sqlite_settings.database_url) as db:
        import_paths(db, vault, [cert_b, key_b], now=now(), actor="t")
        add_connector(
            db, vault, name="web-ssh", type_name="ssh",
            settings={"host": "127.0.0.1", "port": sshd.port, "username": sshd.username,
                      "host_key_fingerprint": sshd.host_key_fingerprint,
                      "cert_path": str(cert_a), "key_path": str(key_a),
                      "profile": nginx_profile(nginx)},
            endpoints=[{"host": "127.0.0.1", "port": port}],
            secret=key_path.read_bytes(), secret_kind="private_key", actor="t", now=now(),
        )  # fmt: skip
        bind(db, "web-ssh", fp_b, actor="t", now=now())
    try:
        yield {"port": port, "old": fp_a, "new": fp_b, "nginx": nginx}
    finally:
        sshd.stop()
        nginx.stop()


def test_request_approve_implement_now_with_the_real_scheduler(sqlite_settings, ssh_device,
                                                               tmp_path):  # fmt: skip
    scheduler = start_scheduler(sqlite_settings, tmp_path / "scheduler.log")
    try:
        wo_id = approved_work_order(sqlite_settings, ssh_device["new"])
        with session_scope(sqlite_settings.database_url) as db:
            result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=now(), comment="go")
        assert result.work_order.status is S.PUSH_IN_PROGRESS
        final = wait_for_status(sqlite_settings, wo_id, set(FINAL))
        with session_scope(sqlite_settings.database_url) as db:
            reason = get_work_order(db, wo_id).reason
        assert final is S.COMPLETED, reason
        wait_for_fingerprint("127.0.0.1", ssh_device["port"], ssh_device["new"])
        with session_scope(sqlite_settings.database_url) as db:
            attempts = db.scalars(select(PushAttempt.kind)
                                  .where(PushAttempt.work_order_id == wo_id)
                                  .order_by(PushAttempt.id)).all()  # fmt: skip
        assert attempts == ["install", "verify"]  # Completed once seen served
    finally:
        stop_scheduler(scheduler)


def test_scheduled_push_fires_at_its_time(sqlite_settings, ssh_device, tmp_path):
    scheduler = start_scheduler(sqlite_settings, tmp_path / "scheduler.log")
    try:
        wo_id = approved_work_order(sqlite_settings, ssh_device["new"])
        at = now() + timedelta(seconds=5)
        with session_scope(sqlite_settings.database_url) as db:
            result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=now(), manual=False, at=at)
        assert result.work_order.status is S.SCHEDULED
        time.sleep(2)
        with session_scope(sqlite_settings.database_url) as db:
            assert get_work_order(db, wo_id).status is S.SCHEDULED  # not before its time
        assert tls_fingerprint("127.0.0.1", ssh_device["port"]) == ssh_device["old"]
        assert wait_for_status(sqlite_settings, wo_id, set(FINAL)) is S.COMPLETED
        assert now() >= at
        wait_for_fingerprint("127.0.0.1", ssh_device["port"], ssh_device["new"])
    finally:
        stop_scheduler(scheduler)


def test_scheduler_killed_mid_push_is_reconciled(sqlite_settings, tmp_path):
    """kill -9 during the reload: at restart the interrupted attempt is closed, and the
    install is taken up again comparing the device's files first: they are already the
    new ones, so nothing is written or reloaded again and the push goes on to its end."""
    marker = tmp_path / "reloads.log"
    fingerprint = local_push_setup(
        sqlite_settings,
        load_vault(sqlite_settings),
        tmp_path,
        reload=["sh", "-c", f"echo reload >> {marker}; sleep 60"],
    )
    scheduler = start_scheduler(sqlite_settings, tmp_path / "scheduler.log")
    wo_id = approved_work_order(sqlite_settings, fingerprint)
    with session_scope(sqlite_settings.database_url) as db:
        act(db, wo_id, Action.IMPLEMENT, actor=INES, now=now())
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert time.monotonic() < deadline, "the push never reached its reload command"
        time.sleep(0.1)
    os.killpg(scheduler.pid, signal.SIGKILL)  # kill -9 the scheduler and its reload command
    scheduler.wait(timeout=10)
    with session_scope(sqlite_settings.database_url) as db:
        assert get_work_order(db, wo_id).status is S.PUSH_IN_PROGRESS  # left behind
    restarted = start_scheduler(sqlite_settings, tmp_path / "scheduler.log")
    try:
        assert wait_for_status(sqlite_settings, wo_id, set(FINAL)) is S.COMPLETED
        time.sleep(1.5)  # a few dispatch ticks: it must not be picked up again
        with session_scope(sqlite_settings.database_url) as db:
            view = get_work_order(db, wo_id)
            attempts = db.execute(select(PushAttempt.kind, PushAttempt.outcome,
                                         PushAttempt.reason_class)
                                  .where(PushAttempt.work_order_id == wo_id)
                                  .order_by(PushAttempt.id)).all()  # fmt: skip
            stuck = db.scalar(select(func.count()).select_from(WorkOrder)
                              .where(WorkOrder.status == S.PUSH_IN_PROGRESS.value))  # fmt: skip
            actions = [e.action for e in history(db, wo_id)]
        # the first attempt was recorded before the device was touched, and is closed now;
        # the second found the files in place: no second write, no second reload
        assert [tuple(a) for a in attempts] == [
            ("install", "failed", "interrupted"),
            ("install", "already_installed", None),
        ]  # no endpoints configured: nothing to verify
        assert marker.read_text() == "reload\n" and stuck == 0
        assert "reconcile" in actions and view.status is S.COMPLETED
    finally:
        stop_scheduler(restarted)
