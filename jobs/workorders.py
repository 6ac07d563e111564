"""Running work orders in the scheduler process: claim what is due, push, record.

Pushes run on a bounded thread pool, one work order per connector, so one slow or
failing device never holds up the others. The claim is a compare-and-set in the
database (data/workorders.py), so a work order is never pushed twice at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from data.config import Settings
from data.crypto import Vault
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.profiles import ProfileBook
from data.domain.workflow import work_order_id
from data.profiles import book_for
from data.push_plans import get_plan, stale_plan, void_claimed
from data.workorders import claim_due, finish_push, reconcile_interrupted
from jobs.connectors.base import InstallOutcome
from jobs.keyring import job_vault
from jobs.plan_checks import check_plan, is_stale
from jobs.push import execute_plan

log = logging.getLogger("certpush.workorders")
LEASE = timedelta(minutes=15)

# One scheduler process, one owner name: leases held by any other name are a dead process's.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_lock = threading.Lock()
_in_flight: set[int] = set()
_pool: ThreadPoolExecutor | None = None


def run_work_order(
    database_url: str, vault: Vault, wo_id: int, owner: str, book: ProfileBook | None = None
) -> bool:
    """Push one claimed work order by executing its pinned plan, and record Completed or
    Failed with the reason. A plan that no longer matches what it was built from is not
    executed: the work order goes back for approval with a new plan."""
    try:
        with session_scope(database_url) as session:
            book = book or book_for(session)
            plan, why = stale_plan(session, wo_id, book)
            if plan is None:
                said = void_claimed(session, wo_id, owner=owner, why=why, book=book,
                                    now=datetime.now(UTC))  # fmt: skip
                log.warning("%s not pushed: %s", work_order_id(wo_id), said or why)
                return False
            body, digest = plan.body, plan.digest
        settings = Settings.from_env()
        now = datetime.now(UTC)
        if is_stale(plan, now, timedelta(hours=settings.plan_max_age_hours)):
            check_plan(database_url, vault, plan, now=now, min_days_left=settings.min_days_left)
            with session_scope(database_url) as session:
                plan = get_plan(session, plan.id)
        blockers = plan.blockers if plan else ["the plan vanished"]
        if blockers:  # the device is not touched
            reason = "preflight blocker, nothing pushed: " + "; ".join(blockers)
            with session_scope(database_url) as session:
                finish_push(session, wo_id, owner=owner, ok=False, reason=reason[:2000],
                            now=datetime.now(UTC))  # fmt: skip
            return False
        report = execute_plan(
            database_url, vault, body, digest=digest, actor="scheduler", work_order_id=wo_id
        )
        ok, reason = report.outcome is not InstallOutcome.FAILED, report.reason
    except CertpushError as exc:
        ok, reason = False, str(exc)
    except Exception as exc:  # the work order must end, whatever broke
        log.exception("work order %s crashed", wo_id)
        ok, reason = False, f"internal error: {type(exc).__name__}"
    with session_scope(database_url) as session:
        finish_push(session, wo_id, owner=owner, ok=ok, reason=reason, now=datetime.now(UTC))
    return ok


def reconcile_at_start(settings: Settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        failed = reconcile_interrupted(session, owner=OWNER, now=datetime.now(UTC))
    if failed:
        log.warning("marked %d interrupted work order(s) failed: %s", len(failed), failed)
    return failed


def _run_and_release(database_url: str, vault: Vault, wo_id: int) -> None:
    try:
        run_work_order(database_url, vault, wo_id, OWNER)
    finally:
        with _lock:
            _in_flight.discard(wo_id)


def dispatch_due_work_orders() -> None:
    """Scheduler job: claim due work orders up to the free pool capacity and start them."""
    global _pool
    settings = Settings.from_env()
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(settings.push_parallelism, thread_name_prefix="push")
        capacity = settings.push_parallelism - len(_in_flight)
    if capacity <= 0:
        return
    vault = job_vault(settings)
    if vault is None:
        return
    with session_scope(settings.database_url) as session:
        claimed = claim_due(
            session,
            owner=OWNER,
            now=datetime.now(UTC),
            grace=timedelta(minutes=settings.missed_grace_minutes),
            lease=LEASE,
            limit=capacity,
        )
    for wo_id in claimed:
        with _lock:
            _in_flight.add(wo_id)
        _pool.submit(_run_and_release, settings.database_url, vault, wo_id)
