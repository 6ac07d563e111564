"""Delivery of the outbox with the real scheduler process, a real SMTP server (aiosmtpd)
and a real webhook receiver, all on 127.0.0.1: who receives what, what it says, and that
no secret travels."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from data import notifications as outbox
from data.crypto import load_vault
from data.db import session_scope
from data.domain.workflow import FINAL, Action, Actor, WorkOrderStatus
from data.models import NotificationDelivery, NotificationEvent
from data.users import add_user
from data.workorders import act, request_push
from jobs.notify.notifier import NO_MAIL_SERVER, deliver_due
from tests.integration.test_workorders import (  # noqa: F401  (ssh_device: a fixture)
    local_push_setup,
    scheduler_env,
    ssh_device,
    wait_for_status,
)
from tests.notify_servers import Received, TestSmtpServer
from tests.servers import free_port
from tests.webhook_receiver import Receiver

OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
MAYA = Actor("maya", "manager")
PASSWORD = "long-password-1"
BASE_URL = "http://certpush.test:8050"
S = WorkOrderStatus


def now() -> datetime:
    return datetime.now(UTC)


def address(username: str) -> str:
    return f"{username}@example.org"


def make_people(settings, *actors: Actor) -> None:
    with session_scope(settings.database_url) as db:
        for actor in actors or (OLIVIA, RAVI, INES, MAYA):
            add_user(db, actor.username, actor.role, PASSWORD, now())
            outbox.set_email(db, actor.username, address(actor.username), actor="t", now=now())


def notify_env(settings, smtp_url: str | None, **extra: str) -> dict[str, str]:
    env = {**scheduler_env(settings), "CERTPUSH_BASE_URL": BASE_URL,
           "CERTPUSH_MAIL_FROM": "certpush@example.org",
           "CERTPUSH_STATIC_CHARTS": "native", **extra}  # fmt: skip
    env.pop("CERTPUSH_SMTP_URL", None)
    if smtp_url:
        env["CERTPUSH_SMTP_URL"] = smtp_url
    return env


def start_scheduler(env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen([sys.executable, "-m", "jobs.scheduler"], env=env, stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def stop_scheduler(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def to(item: Received) -> str:
    return str(item.message["To"])


def event_of(item: Received) -> str:
    return str(item.message["X-Certpush-Event"])


def mail_for(username: str, kind: str):
    return lambda item: to(item) == address(username) and event_of(item) == kind


@pytest.fixture
def smtp():
    server = TestSmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    with Receiver() as receiver:
        yield receiver


def open_link_as(settings, username: str, link: str) -> str:
    """Follow a mailed link in the app, logged in as ``username``: the page answers, and
    its topology callback finds the certificate the link names. Returns the title."""
    from flask_login import login_user

    from dashboard.app import app
    from dashboard.auth import WebUser
    from dashboard.callbacks.topology import load_topology
    from data.users import authenticate

    assert link.startswith(BASE_URL + "/")
    path = urlsplit(link).path
    fingerprint = re.fullmatch(r"/certificates/([0-9a-f]{64})/topology", path).group(1)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = settings
    try:
        client = server.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        client.post("/login", data={"csrf": token, "username": username,
                                    "password": PASSWORD, "next": "/"})  # fmt: skip
        assert client.get(path).status_code == 200
        with session_scope(settings.database_url) as db:
            info = authenticate(db, username, PASSWORD)
        with server.test_request_context("/_dash-update-component", method="POST"):
            login_user(WebUser(info))
            _elements, title, _details, _connectors, error, error_open = load_topology(fingerprint)
        assert not error_open, error
        return title
    finally:
        server.config["CERTPUSH_SETTINGS"] = previous


# --------------------------------------------------------------------------- the flow


def test_each_step_mails_the_next_person_and_the_requester(sqlite_settings, smtp, tmp_path):
    """Request → the reviewer (never the requester) is mailed within 10 s with the work
    order and a link that opens the topology; approve → the implementer; implement → the
    requester hears it was implemented, then completed once the scheduler pushed."""
    settings = sqlite_settings
    make_people(settings)
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    scheduler = start_scheduler(notify_env(settings, smtp.url), tmp_path / "scheduler.log")
    try:
        time.sleep(2)  # the scheduler is up
        asked = time.time()
        with session_scope(settings.database_url) as db:
            _req, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=now(), comment="renew")
        review = smtp.wait_for(mail_for("ravi", "approval_needed"), timeout=10,
                               what="the reviewer's approval-needed mail")  # fmt: skip
        assert review.at - asked < 10
        assert wo.label in str(review.message["Subject"]) and "Approval needed" in str(
            review.message["Subject"]
        )
        link = f"{BASE_URL}/certificates/{fingerprint}/topology"
        text, html = review.part("text/plain"), review.part("text/html")
        assert wo.label in text and link in text and f'href="{link}"' in html
        assert "wo.example" in text and fingerprint in text and "dev-local" in text
        assert "olivia" in text and "renew" in text
        assert review.envelope_to == (address("ravi"),)
        assert str(review.message["From"]) == "certpush@example.org"
        assert re.fullmatch(r"<certpush-delivery-\d+@certpush>", review.message_id)
        assert "wo.example" in open_link_as(settings, "ravi", link)

        with session_scope(settings.database_url) as db:
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now(), comment="ok").ok
        ines = smtp.wait_for(mail_for("ines", "approval_needed"), timeout=10)
        assert wo.label in ines.part("text/plain") and "Implement" in ines.part("text/plain")
        smtp.wait_for(mail_for("olivia", "approved"), timeout=10)

        with session_scope(settings.database_url) as db:
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now(), comment="go").ok
        implemented = smtp.wait_for(mail_for("olivia", "implemented"), timeout=10)
        assert "ines" in implemented.part("text/plain")
        assert wait_for_status(settings, wo.id, set(FINAL)) is S.COMPLETED
        completed = smtp.wait_for(mail_for("olivia", "completed"), timeout=10)
        assert "Completed" in str(completed.message["Subject"])
        assert (tmp_path / "device" / "site.crt").exists()  # the device really got it
        time.sleep(2.5)  # one more notifier tick: nothing else, nothing twice
    finally:
        stop_scheduler(scheduler)
    # (the scheduler's catch-up run of the weekly report at start mails the manager too)
    got = sorted((to(m), event_of(m)) for m in smtp.received() if event_of(m) != "weekly_report")
    assert got == sorted([
        (address("ravi"), "approval_needed"),
        (address("ines"), "approval_needed"),
        (address("olivia"), "approved"),
        (address("olivia"), "implemented"),
        (address("olivia"), "completed"),
    ])  # fmt: skip
    assert len({m.message_id for m in smtp.received()}) == len(smtp.received())


def _local_nginx_flow(settings, tmp_path):
    from tests.integration.test_safe_rollout import _local_nginx

    return _local_nginx(settings, tmp_path, reload=["true"])  # the reload keeps the old one


def test_failed_verification_and_rollback_reach_the_webhook(sqlite_settings, smtp, webhook,
                                                           tmp_path):  # fmt: skip
    """A push whose device keeps serving the old certificate fails verification and is
    rolled back: the channel subscribed to both receives each, as JSON naming the work
    order, with an absolute link."""
    settings = sqlite_settings
    make_people(settings, OLIVIA, RAVI, INES)
    vault = load_vault(settings)
    hook = f"json://127.0.0.1:{webhook.port}/hooks/ops"
    with session_scope(settings.database_url) as db:
        add_user(db, "adam", "admin", PASSWORD, now())
        outbox.add_channel(db, vault, name="ops", url=hook,
                           events="failed_verification,rolled_back", actor="adam",
                           role="admin", now=now())  # fmt: skip
    dev = _local_nginx_flow(settings, tmp_path)
    scheduler = start_scheduler(notify_env(settings, smtp.url), tmp_path / "scheduler.log")
    try:
        with session_scope(settings.database_url) as db:
            _, [wo] = request_push(db, dev["new"], actor=OLIVIA, now=now())
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok
        assert wait_for_status(settings, wo.id, set(FINAL), timeout=60) is S.ROLLED_BACK
        bodies = {}
        for kind in ("failed_verification", "rolled_back"):
            hit = webhook.wait_for(
                lambda r, kind=kind: json.loads(r["json"]["message"])["event"] == kind,
                timeout=15, what=f"the {kind} webhook",
            )  # fmt: skip
            assert hit["path"] == "/hooks/ops"
            bodies[kind] = json.loads(hit["json"]["message"])
            assert wo.label in hit["json"]["title"]
        time.sleep(2.5)
    finally:
        stop_scheduler(scheduler)
        dev["nginx"].stop()
    for body in bodies.values():
        assert body["work_order"] == wo.label
        assert body["certificate"]["fingerprint"] == dev["new"]
        assert body["connector"]["name"] == "web"
        assert body["link"] == f"{BASE_URL}/certificates/{dev['new']}/topology"
    assert bodies["rolled_back"]["status"] == "Rolled Back"
    assert len(webhook.received) == 2  # once each, nothing else subscribed
    # the requester heard both outcomes by mail too
    kinds = sorted(event_of(m) for m in smtp.received() if to(m) == address("olivia"))
    assert kinds == ["approved", "failed_verification", "implemented", "rolled_back"]


# ------------------------------------------------------------------- in-process notifier


def test_without_a_mail_server_deliveries_wait_and_say_why(settings, tmp_path):
    make_people(settings, OLIVIA, RAVI)
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    with session_scope(settings.database_url) as db:
        request_push(db, fingerprint, actor=OLIVIA, now=now())
    counts = deliver_due(settings, load_vault(settings), now=now())
    assert (counts.claimed, counts.sent, counts.retrying) == (1, 0, 1)
    with session_scope(settings.database_url) as db:
        [pending] = outbox.outbox(db)
    assert pending.state == "pending" and pending.attempts == 1
    assert pending.last_error == NO_MAIL_SERVER


def test_an_address_removed_fails_for_good_and_a_refused_recipient_too(settings, smtp,
                                                                       tmp_path):  # fmt: skip
    from dataclasses import replace

    settings = replace(settings, smtp_url=smtp.url)
    make_people(settings, OLIVIA, RAVI, Actor("rita", "reviewer"), Actor("rick", "reviewer"))
    smtp.refuse.add(address("rick"))
    fingerprint = local_push_setup(settings, load_vault(settings), tmp_path)
    with session_scope(settings.database_url) as db:
        request_push(db, fingerprint, actor=OLIVIA, now=now())
        outbox.set_email(db, "rita", None, actor="t", now=now())
    counts = deliver_due(settings, load_vault(settings), now=now())
    assert (counts.sent, counts.failed, counts.retrying) == (1, 2, 0)
    with session_scope(settings.database_url) as db:
        failed = {d.recipient: d for d in outbox.outbox(db)}
    assert {r: d.state for r, d in failed.items()} == {"user:rick": "failed",
                                                      "user:rita": "failed"}  # fmt: skip
    assert "rita has no e-mail address" in failed["user:rita"].last_error
    assert "refused the recipient (550)" in failed["user:rick"].last_error
    assert [to(m) for m in smtp.received()] == [address("ravi")]  # the batch went on


# --------------------------------------------------------------------------- weekly report


def test_weekly_report_mail_holds_the_pdf_and_xlsx_which_open(sqlite_settings, smtp, tmp_path,
                                                              monkeypatch):  # fmt: skip
    from dataclasses import replace

    import openpyxl

    from jobs.weekly_report import produce_week

    monkeypatch.setenv("CERTPUSH_STATIC_CHARTS", "native")  # quick charts
    settings = replace(sqlite_settings, smtp_url=smtp.url, base_url=BASE_URL)
    make_people(settings, OLIVIA, MAYA)
    report = produce_week(settings, now=now())
    assert report is not None
    counts = deliver_due(settings, None, now=now())
    assert counts.sent == 1
    [mail] = smtp.received()
    assert to(mail) == address("maya") and event_of(mail) == "weekly_report"
    files = mail.attachments()
    names = sorted(files)
    assert [n.rsplit(".", 1)[1] for n in names] == ["pdf", "xlsx"]
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(files[names[0]])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "Push Validation" in text
    xlsx = tmp_path / "report.xlsx"
    xlsx.write_bytes(files[names[1]])
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames
    body = mail.part("text/plain")
    assert names[0] in body and f"{BASE_URL}/api/v1/reports/weekly/{report.id}/pdf" in body


def test_a_weekly_report_above_the_limit_is_linked_not_attached(sqlite_settings, smtp,
                                                                monkeypatch):  # fmt: skip
    from dataclasses import replace

    from jobs.weekly_report import produce_week

    monkeypatch.setenv("CERTPUSH_STATIC_CHARTS", "native")
    settings = replace(sqlite_settings, smtp_url=smtp.url, base_url=BASE_URL,
                       mail_attach_limit_bytes=1000)  # fmt: skip
    make_people(settings, MAYA)
    report = produce_week(settings, now=now())
    assert deliver_due(settings, None, now=now()).sent == 1
    [mail] = smtp.received()
    assert mail.attachments() == {}
    body = mail.part("text/plain")
    for fmt in ("pdf", "xlsx", "csv"):
        assert f"{BASE_URL}/api/v1/reports/weekly/{report.id}/{fmt}" in body
    assert "not attached" in body


# ------------------------------------------------------------------------------- secrets


def test_no_secret_in_any_message_log_or_outbox_row(
    sqlite_settings,
    ssh_device,  # noqa: F811
    webhook,
    tmp_path,
):
    """A push over SSH to a real nginx (the connector's secret: an SSH private key; the
    pushed certificate's private key), a channel URL with a password (one reachable, one
    not) and the mail server's password in CERTPUSH_SMTP_URL: none of them in the mails,
    the webhook bodies, the scheduler's log, the events' payloads or the deliveries'
    errors."""
    from aiosmtpd.smtp import AuthResult

    channel_password = "chan-Pass-7781"
    mail_password = "smtp-Pass-4417"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"mailer" and auth_data.password == mail_password.encode()
        return AuthResult(success=ok, handled=False)

    smtp = TestSmtpServer(authenticator=authenticator, auth_require_tls=False).start()
    settings = sqlite_settings
    make_people(settings)
    vault = load_vault(settings)
    with session_scope(settings.database_url) as db:
        add_user(db, "adam", "admin", PASSWORD, now())
        outbox.add_channel(db, vault, name="ops",
                           url=f"json://hook:{channel_password}@127.0.0.1:{webhook.port}/h",
                           events="all", actor="adam", role="admin", now=now())  # fmt: skip
        dead = f"json://hook:{channel_password}@127.0.0.1:{free_port()}/h"
        outbox.add_channel(db, vault, name="dead", url=dead, events="all", actor="adam",
                           role="admin", now=now())  # fmt: skip
    secrets = [channel_password, mail_password, "PRIVATE KEY"]
    for key in (tmp_path / "client").iterdir(), (tmp_path / "new").glob("*.key"):
        for path in key:
            lines = path.read_text(errors="replace").strip().splitlines()
            if "PRIVATE KEY" in lines[0]:
                secrets.append("".join(lines[1:-1])[:60])
    assert len(secrets) == 5  # the SSH client key and the pushed certificate's key
    smtp_url = f"smtp://mailer:{mail_password}@127.0.0.1:{smtp.port}"
    env = notify_env(settings, smtp_url, CERTPUSH_NOTIFY_BACKOFF_BASE="0.5",
                     CERTPUSH_NOTIFY_BACKOFF_CAP="1")  # fmt: skip
    log = tmp_path / "scheduler.log"
    scheduler = start_scheduler(env, log)
    try:
        with session_scope(settings.database_url) as db:
            _, [wo] = request_push(db, ssh_device["new"], actor=OLIVIA, now=now())
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now()).ok
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now()).ok
        assert wait_for_status(settings, wo.id, set(FINAL), timeout=60) is S.COMPLETED
        smtp.wait_for(mail_for("olivia", "completed"), timeout=15)
        webhook.wait_for(lambda r: json.loads(r["json"]["message"])["event"] == "completed",
                         timeout=15)  # fmt: skip
        time.sleep(3)  # the dead channel has been tried a few times
    finally:
        stop_scheduler(scheduler)
        smtp.stop()
    with session_scope(settings.database_url) as db:
        payloads = db.scalars(select(NotificationEvent.payload)).all()
        errors = db.scalars(select(NotificationDelivery.last_error)).all()
        dead = NotificationDelivery.recipient == "channel:dead"
        dead_tries = db.scalar(select(func.max(NotificationDelivery.attempts)).where(dead))
    assert dead_tries >= 2 and any(errors)  # the dead channel's failures were recorded
    assert len(smtp.received()) >= 5 and len(webhook.received) >= 5
    haystacks = {
        "mails": b"\n".join(m.raw for m in smtp.received()).decode(errors="replace"),
        "webhook bodies": "\n".join(r["body"] for r in webhook.received),
        "scheduler log": log.read_text(errors="replace"),
        "event payloads": "\n".join(payloads),
        "delivery errors": "\n".join(errors),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in the {where}"
