"""The notifier: the scheduler's job that delivers the outbox (data/notifications.py).

Every 2 s it claims the due deliveries (exclusive, with a lease), sends each, and records
the outcome of each in a short transaction of its own: sent, or failed with the reason
and a later try (backoff), or failed for good (no address, channel removed, recipient
refused). A notifier killed mid-send leaves its claims "sending"; once their lease has
passed the next one takes them up, so nothing is lost. A message the mail server had
already accepted when the notifier died may go again: its Message-ID, derived from the
delivery, lets the receiving side drop the copy.

Logs name delivery ids, kinds, recipients (``user:NAME``, ``channel:NAME``) and error
classes only: never a channel URL, an address, a body or the mail server's password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from data.config import Settings
from data.crypto import Vault
from data.db import session_scope
from data.domain.errors import CertpushError, NotFound
from data.domain.notifications import EventKind
from data.notifications import (
    CHANNEL,
    USER,
    Delivery,
    claim,
    mark_failed,
    mark_sent,
    open_channel_url,
    user_address,
)
from data.report_files import report_file
from jobs.keyring import job_vault
from jobs.notify.channels import ChannelError, send_channel
from jobs.notify.mailer import Attachment, Mailer, MailError, build_message
from jobs.notify.render import Rendered, render, webhook_body

log = logging.getLogger("certpush.notify")
BATCH = 50
JOB_BUDGET_SECONDS = 1.5  # the job runs every 2 s; a backlog is worked off across ticks
ATTACHED_FORMATS = ("pdf", "xlsx")
NO_MAIL_SERVER = "no mail server configured (CERTPUSH_SMTP_URL)"
WEBHOOK_SCHEMES = ("json", "jsons")


class Undeliverable(CertpushError):
    """A delivery that cannot go now (or ever, when ``permanent``), with why."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Counts:
    """What one pass did (the bench and the tests read it)."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    left: int = 0  # claimed but not tried: the lease was running out

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def message_id(delivery_id: int) -> str:
    """The Message-ID of a delivery's e-mail: the same for every try of it."""
    return f"<certpush-delivery-{delivery_id}@certpush>"


def deliver_due(
    settings: Settings,
    vault: Vault | None,
    *,
    now: datetime,
    lease: timedelta | None = None,
    limit: int = BATCH,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Counts:
    """Claim up to ``limit`` deliveries due at ``now`` and send them; one SMTP connection
    serves the whole batch. ``clock`` stamps the outcomes (sent at, next try)."""
    lease = lease or timedelta(seconds=settings.notify_lease_seconds)
    started = time.monotonic()
    with session_scope(settings.database_url) as session:
        batch = claim(session, now=now, lease=lease, limit=limit)
    counts = Counts(claimed=len(batch))
    if not batch:
        return counts
    addresses, channel_urls = _recipients(settings, vault, batch)
    files: dict[int, list[Attachment]] = {}
    mail_down: MailError | None = None
    mailer = None
    if settings.smtp_url:
        try:
            mailer = Mailer(settings.smtp_url)
        except MailError as exc:  # CERTPUSH_SMTP_URL itself is wrong: every e-mail waits
            mail_down = exc
    try:
        for delivery in batch:
            # Past most of the lease another notifier could take these over: leave them.
            if time.monotonic() - started > lease.total_seconds() * 0.8:
                counts.left += 1
                continue
            try:
                if delivery.recipient.startswith(USER):
                    if mail_down is not None:
                        raise mail_down
                    _send_mail(settings, mailer, delivery, addresses, files)
                elif delivery.recipient.startswith(CHANNEL):
                    _send_channel(settings, delivery, channel_urls, files)
                else:
                    raise Undeliverable("unknown kind of recipient", permanent=True)
            except (MailError, ChannelError, Undeliverable) as exc:
                if isinstance(exc, MailError) and exc.connection:
                    mail_down = exc  # the rest of the batch would fail the same way
                _failed(settings, counts, delivery, exc, str(exc), clock(),
                        permanent=getattr(exc, "permanent", False))  # fmt: skip
            except Exception as exc:  # one broken message must not stop the others
                _failed(settings, counts, delivery, exc, f"unexpected {type(exc).__name__}",
                        clock())  # fmt: skip
            else:
                with session_scope(settings.database_url) as session:
                    mark_sent(session, delivery.id, now=clock())
                counts.sent += 1
                log.info("delivery %s (%s) to %s sent", delivery.id, delivery.kind,
                         delivery.recipient)  # fmt: skip
    finally:
        if mailer is not None:
            mailer.close()
    return counts


def _failed(settings: Settings, counts: Counts, delivery: Delivery, exc: BaseException,
            error: str, at: datetime, *, permanent: bool = False) -> None:  # fmt: skip
    with session_scope(settings.database_url) as session:
        state = mark_failed(session, delivery.id, error, now=at, permanent=permanent,
                            backoff_base=settings.notify_backoff_base,
                            backoff_cap=settings.notify_backoff_cap)  # fmt: skip
    if state == "failed":
        counts.failed += 1
    else:
        counts.retrying += 1
    log.warning("delivery %s (%s) to %s: %s, now %s", delivery.id, delivery.kind,
                delivery.recipient, type(exc).__name__, state)  # fmt: skip


def _recipients(
    settings: Settings, vault: Vault | None, batch: list[Delivery]
) -> tuple[dict[str, str | None], dict[str, str | Undeliverable]]:
    """Every address and channel URL the batch needs, read in one short transaction."""
    addresses: dict[str, str | None] = {}
    urls: dict[str, str | Undeliverable] = {}
    with session_scope(settings.database_url) as session:
        for delivery in batch:
            recipient = delivery.recipient
            if recipient.startswith(USER) and recipient not in addresses:
                addresses[recipient] = user_address(session, recipient[len(USER) :])
            elif recipient.startswith(CHANNEL) and recipient not in urls:
                name = recipient[len(CHANNEL) :]
                if vault is None:
                    urls[recipient] = Undeliverable("the master key cannot be read: channels wait")
                    continue
                try:
                    urls[recipient] = open_channel_url(session, vault, name)
                except NotFound:
                    urls[recipient] = Undeliverable("the channel was removed", permanent=True)
                except CertpushError as exc:  # a sealed URL that will not open (audited)
                    urls[recipient] = Undeliverable(
                        f"the channel's URL cannot be opened ({type(exc).__name__})"
                    )
    return addresses, urls


def _report_files(
    settings: Settings, delivery: Delivery, cache: dict[int, list[Attachment]]
) -> list[Attachment]:
    """The weekly report's PDF and XLSX when they fit CERTPUSH_MAIL_ATTACH_LIMIT together;
    otherwise none (the message links them)."""
    if delivery.kind != EventKind.WEEKLY_REPORT:
        return []
    if delivery.event_id in cache:
        return cache[delivery.event_id]
    found: list[Attachment] = []
    try:
        for fmt in ATTACHED_FORMATS:
            path: Path = report_file(settings, int(delivery.payload.get("report_id")), fmt)
            found.append(Attachment(path, path.name))
    except (CertpushError, TypeError, ValueError):
        found = []  # a missing file: links only (the download says what is wrong)
    if sum(a.path.stat().st_size for a in found) > settings.mail_attach_limit_bytes:
        found = []
    cache[delivery.event_id] = found
    return found


def _send_mail(
    settings: Settings,
    mailer: Mailer | None,
    delivery: Delivery,
    addresses: dict[str, str | None],
    files: dict[int, list[Attachment]],
) -> None:
    if mailer is None:
        raise Undeliverable(NO_MAIL_SERVER)
    address = addresses.get(delivery.recipient)
    if not address:
        raise Undeliverable(
            f"{delivery.recipient[len(USER) :]} has no e-mail address (or is not active)",
            permanent=True,
        )
    attachments = _report_files(settings, delivery, files)
    rendered = _render(settings, delivery, attachments)
    message = build_message(
        sender=settings.mail_from,
        recipient=address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=message_id(delivery.id),
        attachments=attachments,
        headers=_headers(delivery),
    )
    mailer.send(message)


def _headers(delivery: Delivery) -> dict[str, str]:
    headers = {"X-Certpush-Event": delivery.kind, "X-Certpush-Event-Id": str(delivery.event_id)}
    work_order = delivery.payload.get("work_order")
    if isinstance(work_order, str) and work_order.startswith("WO-") and work_order[3:].isdigit():
        headers["X-Certpush-Work-Order"] = work_order
    return headers


def _render(settings: Settings, delivery: Delivery, attachments: list[Attachment]) -> Rendered:
    return render(delivery.kind, delivery.payload, settings.base_url,
                  attached=[a.name for a in attachments])  # fmt: skip


def _send_channel(
    settings: Settings,
    delivery: Delivery,
    urls: dict[str, str | Undeliverable],
    files: dict[int, list[Attachment]],
) -> None:
    url = urls.get(delivery.recipient)
    if isinstance(url, Undeliverable):
        raise url
    if not url:
        raise Undeliverable("the channel was removed", permanent=True)
    attachments = _report_files(settings, delivery, files)
    names = [a.name for a in attachments]
    rendered = _render(settings, delivery, attachments)
    scheme = url.split("://", 1)[0].lower()
    body = (
        webhook_body(delivery.kind, delivery.payload, settings.base_url, attached=names)
        if scheme in WEBHOOK_SCHEMES
        else rendered.text
    )
    send_channel(url, title=rendered.subject, body=body,
                 attachments=[a.path for a in attachments] or None)  # fmt: skip


def notify_job() -> None:
    """Scheduler job: deliver what is due, batch after batch, for at most a tick's time
    (a longer backlog goes on at the next tick)."""
    settings = Settings.from_env()
    vault = job_vault(settings)  # None: e-mail still goes; channels wait for the key
    deadline = time.monotonic() + JOB_BUDGET_SECONDS
    while True:
        counts = deliver_due(settings, vault, now=datetime.now(UTC))
        if counts.claimed < BATCH or time.monotonic() > deadline:
            return
