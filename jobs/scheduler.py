"""The one scheduler process: APScheduler with a persistent SQLAlchemy job store.

For now it only keeps a heartbeat; scheduled pushes, the verification sweep and
the weekly report join it in later issues. Exactly one of these runs: gunicorn
workers never start a scheduler (see STACK.md).
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler

from data.config import Settings
from data.db import engine_for

log = logging.getLogger("certpush.scheduler")
HEARTBEAT_SECONDS = 60


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
    return scheduler


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    scheduler = build_scheduler(Settings.from_env())
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    log.info("scheduler starting")
    heartbeat()
    scheduler.start()


if __name__ == "__main__":
    main()
