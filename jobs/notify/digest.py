"""The daily digests, once a day at CERTPUSH_DIGEST_TIME in the report time zone.

Two events: each user's DIGEST gathers the deliveries they chose to receive "in the daily
digest" (those deliveries become "digested" in the same transaction, so none is told
twice or lost), and the EXPIRY_DIGEST lists every certificate bound to a connector that
is Red, Orange or Yellow, for the users and channels that chose it. A remembered
"digest-day:<date>" makes the day's run happen once, however often the scheduler
restarts.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data.config import Settings
from data.db import session_scope
from data.domain.alerts import (
    DIGEST_COLOURS,
    digest_day_key,
    digest_due_today,
    parse_digest_time,
)
from data.domain.notifications import LABELS, EventKind
from data.domain.periods import zone
from data.domain.workflow import work_order_id
from data.models import NotificationDelivery, NotificationEvent
from data.notifications import USER, emit, remember, remembered
from jobs.notify.watch import bound_certificates

DEFAULT_DIGEST_TIME = "07:00"


@dataclass
class DigestRun:
    """What one run did: the day it stands for, each user's digest (event id and how many
    items), the expiry digest's event (None: nothing to list), or that the day was done."""

    day: date
    already_done: bool = False
    users: dict[str, tuple[int, int]] = field(default_factory=dict)
    expiry_event: int | None = None
    expiring: int = 0


def digest_time() -> time:
    """CERTPUSH_DIGEST_TIME (HH:MM, default 07:00), local to the report time zone."""
    return parse_digest_time(os.environ.get("CERTPUSH_DIGEST_TIME", DEFAULT_DIGEST_TIME))


def run_digests(settings: Settings, *, now: datetime) -> DigestRun:
    """The day's digests, at most once per local day (one transaction: the events, the
    deliveries marked digested and the day remembered commit together)."""
    day = now.astimezone(zone(settings.report_time_zone)).date()
    run = DigestRun(day)
    with session_scope(settings.database_url) as session:
        if remembered(session, digest_day_key(day)) is not None:
            run.already_done = True
            return run
        run.users = user_digests(session, now)
        run.expiry_event, run.expiring = expiry_digest(session, now)
        remember(session, digest_day_key(day), "sent", now=now)
    return run


def user_digests(session: Session, now: datetime) -> dict[str, tuple[int, int]]:
    """One DIGEST per user with deliveries waiting "digest", only to that user; those
    deliveries become "digested"."""
    rows = session.execute(
        select(
            NotificationDelivery.id,
            NotificationDelivery.recipient,
            NotificationEvent.kind,
            NotificationEvent.at,
            NotificationEvent.work_order_id,
            NotificationEvent.payload,
        )
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .where(
            NotificationDelivery.state == "digest",
            NotificationDelivery.recipient.like(USER + "%"),
            NotificationEvent.at <= now,
        )
        .order_by(NotificationEvent.at, NotificationEvent.id)
    ).all()
    waiting: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        waiting[row.recipient.removeprefix(USER)].append(row)
    made = {}
    for username, items in sorted(waiting.items()):
        event_id = emit(
            session,
            EventKind.DIGEST,
            now=now,
            payload={
                "event": EventKind.DIGEST.value,
                "at": now.isoformat(),
                "path": "/",
                "items": [digest_item(r) for r in items],
            },
            actor="daily digest",
            only=[username],
        )
        ids = [r.id for r in items]
        for start in range(0, len(ids), 5000):
            session.execute(
                update(NotificationDelivery)
                .where(
                    NotificationDelivery.id.in_(ids[start : start + 5000]),
                    NotificationDelivery.state == "digest",
                )
                .values(state="digested", sent_at=now)
            )
        made[username] = (event_id, len(items))
    return made


def digest_item(row: Any) -> dict[str, Any]:
    """One line of a user's digest, from an event's stored payload."""
    payload = json.loads(row.payload or "{}")
    kind = EventKind(row.kind)
    label = payload.get("work_order") or (
        work_order_id(row.work_order_id) if row.work_order_id else None
    )
    return {
        "event": kind.value,
        "title": item_title(kind, payload),
        "work_order": label,
        "certificate": payload.get("certificate"),
        "connector": payload.get("connector"),
        "at": payload.get("at") or row.at.isoformat(),
        "path": payload.get("path", "/"),
    }


def item_title(kind: EventKind, payload: dict[str, Any]) -> str:
    """A digest line's title: the event's label, with what it is about when no work
    order, certificate and connector say it."""
    label = LABELS[kind]
    if kind is EventKind.EXPIRY_ALERT:
        return f"Certificate turned {str(payload.get('colour', '')).title()}"
    if kind is EventKind.AGENT_OFFLINE:
        return f"{label}: {payload.get('agent')} (zone {payload.get('zone')})"
    if kind is EventKind.ZONE_OFFLINE:
        return f"{label}: {payload.get('zone')}"
    if kind is EventKind.DRIFT_DETECTED:
        return f"{label} on {payload.get('endpoint')}"
    if kind is EventKind.WEEKLY_REPORT:
        return f"{label} {(payload.get('period') or {}).get('label', '')}".strip()
    return label


def expiry_digest(session: Session, now: datetime) -> tuple[int | None, int]:
    """The EXPIRY_DIGEST event (None when no bound certificate is Red, Orange or Yellow:
    an empty list is not worth a message) and how many certificates it lists."""
    found = bound_certificates(session, now, DIGEST_COLOURS)
    if not found:
        return None, 0
    order = {colour: i for i, colour in enumerate(DIGEST_COLOURS)}
    found.sort(key=lambda c: (order[c.colour], c.not_after, c.fingerprint_sha256))
    event_id = emit(
        session,
        EventKind.EXPIRY_DIGEST,
        now=now,
        payload={
            "event": EventKind.EXPIRY_DIGEST.value,
            "at": now.isoformat(),
            "path": "/",
            "certificates": [c.to_json() for c in found],
        },
        actor="daily digest",
    )
    return event_id, len(found)


# ------------------------------------------------------------------- scheduler entries


def digest_trigger(settings: Settings) -> CronTrigger:
    """Every day at CERTPUSH_DIGEST_TIME, local to CERTPUSH_REPORT_TZ."""
    at = digest_time()
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=zone(settings.report_time_zone))


def digest_job() -> None:
    """Scheduler job (module level so APScheduler can store it)."""
    run_digests(Settings.from_env(), now=datetime.now(UTC))


def digest_catch_up() -> None:
    """At start: a scheduler that was down at the digest time sends today's once it is
    back (run_digests skips a day already done)."""
    settings = Settings.from_env()
    now = datetime.now(UTC)
    if digest_due_today(now.astimezone(zone(settings.report_time_zone)), digest_time()):
        run_digests(settings, now=now)
