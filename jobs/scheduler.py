"""The one scheduler process: APScheduler with a persistent SQLAlchemy job store.

It carries out tasks the web process queued (connection tests, pushes), runs the
verification sweeps and the weekly report, delivers the notification outbox, and keeps a
heartbeat in its log.
It does not start without a master key (it never makes one: ``certpush keys generate``).
Exactly one of these runs: gunicorn workers never start a scheduler (see STACK.md).
"""

from __future__ import annotations

import logging
import signal
import sys
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from data.config import Settings
from data.crypto import master_key_problem
from data.db import engine_for
from data.domain.errors import CertpushError
from data.domain.periods import zone
from data.profiles import load_book
from jobs.notify.notifier import notify_job
from jobs.plan_checks import preflight_pending, refresh_open_plans
from jobs.probe_shards import warm_up
from jobs.tasks import drain_tasks
from jobs.verify import scheduled_sweep
from jobs.weekly_report import weekly_report_catch_up, weekly_report_job
from jobs.workorders import dispatch_due_work_orders, reconcile_at_start

log = logging.getLogger("certpush.scheduler")
HEARTBEAT_SECONDS = 60
PLAN_REFRESH_SECONDS = 30  # a changed profile file voids approvals within this
TASK_POLL_SECONDS = 1
WORK_ORDER_POLL_SECONDS = 0.5
NOTIFY_POLL_SECONDS = 2  # the outbox is delivered within seconds of its event
WEEKLY_REPORT_GRACE_SECONDS = 12 * 3600


def heartbeat() -> None:
    """Proves the scheduler is alive, in its log and in the database (``GET /api/v1/health``
    reports its age); a module-level function so it pickles."""
    from data.db import session_scope
    from data.health import beat

    at = datetime.now(UTC)
    log.info("scheduler alive at %s", at.isoformat(timespec="seconds"))
    try:
        with session_scope(Settings.from_env().database_url) as session:
            beat(session, "scheduler", at)
    except Exception:  # a database hiccup must not stop the scheduler; the next beat retries
        log.exception("could not record the heartbeat")


def weekly_report_trigger(settings: Settings) -> CronTrigger:
    """Every CERTPUSH_REPORT_WEEKDAY at CERTPUSH_REPORT_TIME, local to CERTPUSH_REPORT_TZ."""
    hour, _, minute = settings.report_time.partition(":")
    try:
        return CronTrigger(
            day_of_week=settings.report_weekday,
            hour=int(hour),
            minute=int(minute or 0),
            timezone=zone(settings.report_time_zone),
        )
    except ValueError:
        raise CertpushError(
            f"weekly report schedule {settings.report_weekday!r} at {settings.report_time!r}"
            " is not valid: use a weekday (mon..sun) and HH:MM"
        ) from None


def last_weekly_run(settings: Settings, now: datetime) -> datetime | None:
    """The latest time the weekly report was due at or before ``now`` (within 8 days)."""
    trigger = weekly_report_trigger(settings)
    due, fire = None, trigger.get_next_fire_time(None, now - timedelta(days=8))
    while fire is not None and fire <= now:
        due, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return due


def build_scheduler(settings: Settings) -> BlockingScheduler:
    """A scheduler whose jobs survive restarts and run late, once, after downtime."""
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine_for(settings.database_url))},
        job_defaults={"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.add_job(
        heartbeat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat", replace_existing=True
    )
    # Intent recorded by the web process ("test this connection") is picked up within a second.
    # Implemented work orders start within a second; scheduled ones at their time.
    scheduler.add_job(
        dispatch_due_work_orders,
        "interval",
        seconds=WORK_ORDER_POLL_SECONDS,
        id="dispatch-work-orders",
        replace_existing=True,
        misfire_grace_time=5,
    )
    scheduler.add_job(
        scheduled_sweep,
        "interval",
        minutes=settings.verify_minutes,
        id="verification-sweep",
        replace_existing=True,
    )
    scheduler.add_job(
        weekly_report_job,
        weekly_report_trigger(settings),
        id="weekly-report",
        replace_existing=True,
        misfire_grace_time=WEEKLY_REPORT_GRACE_SECONDS,
    )
    # Re-adding a job at start forgets a run missed while the scheduler was down; the
    # weekly report is produced once per week anyway, so catch up on the last one due.
    due = last_weekly_run(settings, datetime.now(UTC))
    if due is not None:
        scheduler.add_job(
            weekly_report_catch_up,
            "date",
            args=[due.isoformat()],
            id="weekly-report-catch-up",
            replace_existing=True,
        )
    scheduler.add_job(
        refresh_open_plans,
        "interval",
        seconds=PLAN_REFRESH_SECONDS,
        id="refresh-plans",
        replace_existing=True,
        misfire_grace_time=30,
    )
    scheduler.add_job(
        preflight_pending,
        "interval",
        seconds=TASK_POLL_SECONDS,
        id="preflight",
        replace_existing=True,
        misfire_grace_time=5,
    )
    scheduler.add_job(
        notify_job,
        "interval",
        seconds=NOTIFY_POLL_SECONDS,
        id="notify",
        replace_existing=True,
        misfire_grace_time=5,
    )
    scheduler.add_job(
        drain_tasks,
        "interval",
        seconds=TASK_POLL_SECONDS,
        id="drain-tasks",
        replace_existing=True,
        misfire_grace_time=5,
    )
    add_notification_jobs(scheduler, settings)
    return scheduler


EXPIRY_WATCH_MINUTES = 10
AGENT_WATCH_SECONDS = 15
DIGEST_GRACE_SECONDS = 12 * 3600


def add_notification_jobs(scheduler: BlockingScheduler, settings: Settings) -> None:
    """The producers of events that are not work-order moves (jobs/notify/watch.py) and
    the daily digests (jobs/notify/digest.py)."""
    from jobs.notify.digest import digest_catch_up, digest_job, digest_trigger
    from jobs.notify.watch import agents_job, expiry_job

    scheduler.add_job(
        expiry_job,
        "interval",
        minutes=EXPIRY_WATCH_MINUTES,
        id="notify-expiry",
        replace_existing=True,
        next_run_time=datetime.now(UTC),  # once at start, then every 10 minutes
    )
    if settings.broker_url:  # without a broker there are no agents to watch
        scheduler.add_job(
            agents_job,
            "interval",
            seconds=AGENT_WATCH_SECONDS,
            id="notify-agents",
            replace_existing=True,
            misfire_grace_time=AGENT_WATCH_SECONDS,
        )
    scheduler.add_job(
        digest_job,
        digest_trigger(settings),
        id="notify-digest",
        replace_existing=True,
        misfire_grace_time=DIGEST_GRACE_SECONDS,
    )
    scheduler.add_job(digest_catch_up, "date", id="notify-digest-catch-up", replace_existing=True)


def refuse_without_key(settings: Settings) -> None:
    """Sealed start: without a usable master key the scheduler exits before it writes
    anything or starts a job (pushes, preflight and connection tests all need the key)."""
    problem = master_key_problem(settings)
    if problem is not None:
        print(f"error: {problem}; the scheduler does not start without it", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    settings = Settings.from_env()
    refuse_without_key(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # APScheduler logs every run of the sub-second polling jobs: keep only its warnings.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    for chatty in ("kaleido", "choreographer"):  # a line per chart image otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    reconcile_at_start(settings)  # before anything new is claimed
    book = load_book(settings)  # a broken profiles file is said at start, with its lines
    if book.error is not None:
        log.error("device profiles: %s; the last good profiles stay in force", book.error)
    warm_up(settings.verify_processes)  # sweeps then start their probing workers at once
    scheduler = build_scheduler(settings)

    def stop(*_: object) -> None:
        from apscheduler.schedulers import SchedulerNotRunningError

        try:
            scheduler.shutdown(wait=False)
        except SchedulerNotRunningError:  # asked to stop before it started: just leave
            raise SystemExit(0) from None

    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler starting")
    heartbeat()
    scheduler.start()


if __name__ == "__main__":
    main()
