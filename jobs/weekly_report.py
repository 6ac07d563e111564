"""The weekly Push Validation Report: last ISO week, in every format, into the report folder.

The scheduler runs ``weekly_report_job`` on ``CERTPUSH_REPORT_WEEKDAY`` at
``CERTPUSH_REPORT_TIME`` in ``CERTPUSH_REPORT_TZ``. A week is produced once: the
``reports`` row (unique per kind, first day and time zone) is the claim. Files are
written under temporary names first and only take their real names once the row is
committed; a run that loses the race (two schedulers, a CLI run beside the scheduler)
deletes its files and does nothing else.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from data.config import Settings
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.periods import Period, zone
from data.models import Report
from data.report_files import FORMATS
from reports.exports import file_name, write_report

log = logging.getLogger("certpush.reports")
WEEKLY = "weekly"


def weekly_file_name(period: Period, fmt: str) -> str:
    """The stored name: the download name plus the zone, so two zones never collide."""
    stem, _, ext = file_name(period, fmt).rpartition(".")
    return f"{stem}_{re.sub(r'[^A-Za-z0-9]+', '-', period.tz.key)}.{ext}"


def produce_week(
    settings: Settings, *, now: datetime, due: datetime | None = None
) -> Report | None:
    """Produce the ISO week before ``due`` (default ``now``, in the report time zone) once.

    ``due`` is when the run was scheduled (a catch-up after downtime); ``now`` is the
    produced-at time. Returns the new ``Report`` row, or None when that week was already
    produced (by an earlier run or by a concurrent one that committed first).
    """
    period = Period.week_before(due or now, zone(settings.report_time_zone))
    tz = period.tz.key
    with session_scope(settings.database_url) as session:
        if _existing(session, period) is not None:
            log.info("weekly report for %s already produced", period.label())
            return None
    folder = settings.report_folder
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staged: dict[str, tuple[Path, Path]] = {}
    committed = False
    try:
        with session_scope(settings.database_url) as session:
            for fmt in FORMATS:
                final = folder / weekly_file_name(period, fmt)
                temp = folder / f".{final.name}.{token}.tmp"
                staged[fmt] = (temp, final)
                write_report(session, period, fmt, temp, now=now)
        report = Report(
            kind=WEEKLY,
            period_start=period.first,
            period_end=period.last,
            time_zone=tz,
            produced_at=now,
            files=json.dumps({fmt: final.name for fmt, (_, final) in staged.items()}),
        )
        # A session of its own: its transaction starts with the INSERT, so a concurrent
        # run's committed row shows up as an IntegrityError, not a stale snapshot.
        with session_scope(settings.database_url) as session:
            session.add(report)
            session.flush()
            _tell(session, report, period, now)  # in the same transaction as the row
        committed = True
    except IntegrityError:
        log.info("weekly report for %s produced concurrently; dropping ours", period.label())
        return None
    finally:
        if not committed:
            for temp, _ in staged.values():
                temp.unlink(missing_ok=True)
    for temp, final in staged.values():
        temp.replace(final)
    log.info("weekly report for %s written to %s", period.label(), folder)
    return report


def _tell(session, report: Report, period: Period, now: datetime) -> None:
    """Managers (and subscribed channels) receive the week's report (jobs/notify attaches
    the files, or links them when they are too large)."""
    from data.domain.notifications import EventKind
    from data.notifications import emit

    emit(
        session,
        EventKind.WEEKLY_REPORT,
        now=now,
        actor="scheduler",
        payload={
            "event": EventKind.WEEKLY_REPORT.value,
            "report_id": report.id,
            "period": {
                "label": period.label(),
                "start": period.first.isoformat(),
                "end": period.last.isoformat(),
                "time_zone": period.tz.key,
            },
            "files": json.loads(report.files),
            "at": now.isoformat(),
            "path": "/reports",
        },
    )


def _existing(session, period: Period) -> Report | None:
    return session.scalar(
        select(Report).where(
            Report.kind == WEEKLY,
            Report.period_start == period.first,
            Report.time_zone == period.tz.key,
        )
    )


def weekly_report_job() -> None:
    """Scheduler entry point (module-level, so APScheduler can pickle it)."""
    settings = Settings.from_env()
    try:
        report = produce_week(settings, now=datetime.now(UTC))
    except CertpushError as exc:
        log.error("weekly report not produced: %s", exc)
        return
    if report is not None:
        log.info("weekly report %s produced", report.id)


def weekly_report_catch_up(due_iso: str) -> None:
    """Scheduler start: produce the week a run missed while the scheduler was down."""
    settings = Settings.from_env()
    try:
        produce_week(settings, now=datetime.now(UTC), due=datetime.fromisoformat(due_iso))
    except CertpushError as exc:
        log.error("weekly report not produced: %s", exc)
