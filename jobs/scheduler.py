"""The one scheduler process: APScheduler with a persistent SQLAlchemy job store.

It carries out tasks the web process queued (connection tests now; pushes, sweeps
and the weekly report join in later issues) and keeps a heartbeat in its log.
Exactly one of these runs: gunicorn workers never start a scheduler (see STACK.md).
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler

from data.config import Settings
from data.db import engine_for
from jobs.tasks import drain_tasks
from jobs.verify import scheduled_sweep
from jobs.workorders import dispatch_due_work_orders, reconcile_at_start

log = logging.getLogger("certpush.scheduler")
HEARTBEAT_SECONDS = 60
TASK_POLL_SECONDS = 1
WORK_ORDER_POLL_SECONDS = 0.5


def heartbeat() -> None:
    """Proves the scheduler is alive in its log; a module-level function so it pickles."""
    log.info("scheduler alive at %s", datetime.now(UTC).isoformat(timespec="seconds"))


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
        drain_tasks,
        "interval",
        seconds=TASK_POLL_SECONDS,
        id="drain-tasks",
        replace_existing=True,
        misfire_grace_time=5,
    )
    return scheduler


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # APScheduler logs every run of the sub-second polling jobs: keep only its warnings.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    settings = Settings.from_env()
    reconcile_at_start(settings)  # before anything new is claimed
    scheduler = build_scheduler(settings)
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("scheduler starting")
    heartbeat()
    scheduler.start()


if __name__ == "__main__":
    main()
