"""The notifier under failure, with the real scheduler process and a real SMTP server:
the mail server down for a minute, and the notifier killed (kill -9) while the server
holds back its answer to a message. Every message arrives, once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from data import notifications as outbox
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import Action
from data.workorders import act, request_push
from tests.integration.test_notify_delivery import (
    INES,
    OLIVIA,
    RAVI,
    address,
    event_of,
    make_people,
    notify_env,
    start_scheduler,
    stop_scheduler,
    to,
)
from tests.integration.test_workorders import local_push_setup, now
from tests.notify_servers import TestSmtpServer

EXPECTED = sorted([
    (address("ravi"), "approval_needed"),
    (address("olivia"), "approved"),
    (address("ines"), "approval_needed"),
])  # fmt: skip


def three_deliveries(settings, tmp_path) -> None:
    """A request and its approval: the reviewer, the requester and the implementer are
    each owed one mail."""
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    with session_scope(settings.database_url) as db:
        _, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now())
        assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok


def assert_once_each(server: TestSmtpServer) -> None:
    received = [m for m in server.received() if event_of(m) != "weekly_report"]
    by_id = Counter(m.message_id for m in received)
    by_recipient_event = Counter((to(m), str(m.message["X-Certpush-Event-Id"])) for m in received)
    assert all(n == 1 for n in by_id.values()), by_id
    assert all(n == 1 for n in by_recipient_event.values()), by_recipient_event
    assert sorted((to(m), event_of(m)) for m in received) == EXPECTED


def wait_all_sent(settings, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(settings.database_url) as db:
            left = [d for d in outbox.outbox(db) if d.kind != "weekly_report"]
        if not left:
            return
        assert time.monotonic() < deadline, [(d.recipient, d.state, d.last_error) for d in left]
        time.sleep(0.2)


def test_mail_server_down_a_minute_retries_then_delivers_once_each(sqlite_settings, tmp_path):
    settings = sqlite_settings
    make_people(settings, OLIVIA, RAVI, INES)
    smtp = TestSmtpServer()  # its port, not yet listening: the server is down
    env = notify_env(settings, smtp.url, CERTPUSH_NOTIFY_BACKOFF_BASE="1",
                     CERTPUSH_NOTIFY_BACKOFF_CAP="5")  # fmt: skip
    scheduler = start_scheduler(env, tmp_path / "scheduler.log")
    try:
        down_since = time.monotonic()
        three_deliveries(settings, tmp_path)
        time.sleep(max(0.0, 60 - (time.monotonic() - down_since)))
        with session_scope(settings.database_url) as db:
            waiting = [d for d in outbox.outbox(db) if d.kind != "weekly_report"]
        assert sorted(d.recipient for d in waiting) == ["user:ines", "user:olivia", "user:ravi"]
        for delivery in waiting:
            assert delivery.state in ("pending", "sending")
            assert delivery.attempts >= 5  # tried again and again (capped at 5 s apart)
            assert "refused the connection" in delivery.last_error, delivery.last_error
            assert str(smtp.port) in delivery.last_error
        smtp.start()  # back, on the same port
        back = time.monotonic()
        smtp.wait_count(3, timeout=15)
        assert time.monotonic() - back < 10  # within the capped backoff and a tick
        wait_all_sent(settings)
        time.sleep(4)  # more ticks: nothing is sent twice
    finally:
        stop_scheduler(scheduler)
        smtp.stop()
    assert_once_each(smtp)


def test_notifier_killed_while_the_server_holds_a_message_loses_and_doubles_nothing(
    sqlite_settings, tmp_path
):
    """kill -9 of the scheduler while the mail server holds back its answer to DATA: that
    message was never accepted; after the restart (and the claims' lease) every message
    arrives exactly once."""
    settings = sqlite_settings
    make_people(settings, OLIVIA, RAVI, INES)
    smtp = TestSmtpServer().start()
    smtp.stall_seconds = 60
    env = notify_env(settings, smtp.url, CERTPUSH_NOTIFY_LEASE="5",
                     CERTPUSH_NOTIFY_BACKOFF_BASE="1", CERTPUSH_NOTIFY_BACKOFF_CAP="2")  # fmt: skip
    log = tmp_path / "scheduler.log"
    scheduler = start_scheduler(env, log)
    restarted = None
    try:
        three_deliveries(settings, tmp_path)
        assert smtp.stalled.wait(20), "the notifier never reached DATA"
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(timeout=10)
        time.sleep(0.5)
        assert [m for m in smtp.received() if event_of(m) != "weekly_report"] == []
        with session_scope(settings.database_url) as db:
            states = Counter(d.state for d in outbox.outbox(db) if d.kind != "weekly_report")
        assert states["sending"] >= 1  # claimed by the dead notifier, not lost
        smtp.stall_seconds = 0
        restarted = start_scheduler(env, log)
        smtp.wait_count(3, timeout=30)
        wait_all_sent(settings)
        time.sleep(4)
    finally:
        for process in (scheduler, restarted):
            if process is not None and process.poll() is None:
                stop_scheduler(process)
        smtp.stop()
    assert_once_each(smtp)
