"""Running work orders in the scheduler process: claim what is due, push, verify, roll back.

Pushes run on a bounded thread pool, one work order per connector, so one slow or
failing device never holds up the others. The claim is a compare-and-set in the
database (data/workorders.py), so a work order is never pushed twice at once. A push
is Completed only when every endpoint was seen serving the certificate
(jobs/push_verification.py); a failed verification undoes the install by default.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from data import audit
from data.config import Settings
from data.connectors import record_push_attempt
from data.crypto import Vault
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.profiles import ProfileBook
from data.domain.retry import backoff, is_transient
from data.domain.verification import ProbeOutcome, newly_broken
from data.domain.workflow import WorkOrderStatus, work_order_id
from data.models import Connector, PushRequest, WorkOrder
from data.profiles import book_for
from data.push_outcomes import end_rollback, end_verification, note_progress, start_verifying
from data.push_plans import current_plan, get_plan, stale_plan, void_claimed
from data.workorders import claim_due, finish_push, reconcile_interrupted
from jobs.connectors.base import InstallOutcome
from jobs.keyring import job_vault
from jobs.plan_checks import check_plan, is_stale
from jobs.push import execute_plan
from jobs.push_verification import (
    Check,
    Timing,
    describe,
    endpoints_of,
    last_seen_before,
    probe_round,
    timing_for,
    watch,
)
from jobs.verify import Target, record_probe_round

log = logging.getLogger("certpush.workorders")
LEASE = timedelta(minutes=15)

# One scheduler process, one owner name: leases held by any other name are a dead process's.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_lock = threading.Lock()
_in_flight: set[int] = set()
_pool: ThreadPoolExecutor | None = None


def run_work_order(
    database_url: str,
    vault: Vault,
    wo_id: int,
    owner: str,
    book: ProfileBook | None = None,
    *,
    settings: Settings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Carry a claimed work order to its end: install (with retries), verify, roll back.

    Starts wherever the work order stands (a restarted scheduler resumes a verification
    or a rollback, never an install blindly). True when it ended Completed.
    """
    settings = settings or Settings.from_env()
    with session_scope(database_url) as session:
        wo = session.get(WorkOrder, wo_id)
        if wo is None or wo.lease_owner != owner:
            return False
        status = WorkOrderStatus(wo.status)
        book = book or book_for(session)
    run = _Run(database_url, vault, wo_id, owner, book, settings, sleep)
    try:
        if status is WorkOrderStatus.PUSH_IN_PROGRESS:
            if not run.install():
                return False
            status = WorkOrderStatus.VERIFYING
        if status is WorkOrderStatus.VERIFYING:
            status = run.verify()
        if status is WorkOrderStatus.ROLLING_BACK:
            status = run.rollback()
    except Exception as exc:  # the work order must end, whatever broke
        log.exception("work order %s crashed", wo_id)
        run.crashed(f"internal error: {type(exc).__name__}")
        return False
    return status is WorkOrderStatus.COMPLETED


class _Run:
    """One scheduler thread's work on one work order; each step commits its own record."""

    def __init__(self, database_url, vault, wo_id, owner, book, settings, sleep):
        self.url, self.vault, self.wo_id, self.owner = database_url, vault, wo_id, owner
        self.book, self.settings, self.sleep = book, settings, sleep
        self.label = work_order_id(wo_id)
        self.baseline: dict[int, ProbeOutcome] | None = None  # before the install, if seen
        with session_scope(database_url) as session:
            wo = session.get(WorkOrder, wo_id)
            assert wo is not None
            self.connector_id = wo.connector_id
            connector = session.get(Connector, wo.connector_id)
            self.auto_rollback = bool(connector.auto_rollback) if connector else True
            self.windows = (connector.maintenance_windows or "") if connector else ""
            self.certificate_id = session.scalar(
                select(PushRequest.certificate_id).where(PushRequest.id == wo.request_id)
            )
            self.endpoints = endpoints_of(session, wo.connector_id)
            zone = (connector.zone if connector else None) or "local"
        # Another zone's device is reached by its agents: the install and every probe of
        # it go through them (jobs/zones/pushes.py); the records stay here.
        self.broker_url = settings.broker_url if zone != "local" else None
        self.broker_ca = settings.broker_ca
        self.prober = probe_round
        if self.broker_url:
            from jobs.zones.pushes import remote_prober

            self.prober = remote_prober(database_url, self.broker_url, zone, self.broker_ca)

    # ----- the install

    def install(self) -> bool:
        """Execute the pinned plan, retrying transient failures; True: go on to verify."""
        with session_scope(self.url) as session:
            plan, why = stale_plan(session, self.wo_id, self.book)
            if plan is None:
                said = void_claimed(session, self.wo_id, owner=self.owner, why=why,
                                    book=self.book, now=datetime.now(UTC))  # fmt: skip
                log.warning("%s not pushed: %s", self.label, said or why)
                return False
        now = datetime.now(UTC)
        if is_stale(plan, now, timedelta(hours=self.settings.plan_max_age_hours)):
            check_plan(self.url, self.vault, plan, now=now,
                       min_days_left=self.settings.min_days_left,
                       broker_url=self.broker_url, broker_ca=self.broker_ca)  # fmt: skip
            with session_scope(self.url) as session:
                plan = get_plan(session, plan.id)
        blockers = plan.blockers if plan else ["the plan vanished"]
        if blockers:  # the device is not touched, and a blocker is never retried
            return self._push_failed("preflight blocker, nothing pushed: " + "; ".join(blockers))
        fingerprint = plan.body["certificate"]["fingerprint"]
        checks = [Check(i, e, fingerprint) for i, e in self.endpoints]
        self.baseline = {
            i: r.outcome for i, r in self.prober(checks, self.settings.verify_timeout).items()
        }
        try_number = 1
        while True:
            try:
                report = execute_plan(self.url, self.vault, plan.body, digest=plan.digest,
                                      actor="scheduler", work_order_id=self.wo_id,
                                      try_number=try_number,
                                      broker_url=self.broker_url,
                                      broker_ca=self.broker_ca)  # fmt: skip
            except CertpushError as exc:
                return self._push_failed(str(exc))
            if report.outcome is not InstallOutcome.FAILED:
                break
            failure = report.failure.value if report.failure else None
            if not is_transient(failure) or try_number > self.settings.push_retries:
                tries = f" (try {try_number} of {self.settings.push_retries + 1})"
                return self._push_failed(report.reason + (tries if try_number > 1 else ""))
            delay = backoff(try_number, self.settings.retry_base_seconds)
            if not self._window_allows(delay):
                return self._push_failed(
                    f"{report.reason}; not retried: its maintenance window closes first"
                )
            self._note(
                "retry",
                f"try {try_number} failed ({failure}): {report.reason}; "
                f"try {try_number + 1} in {delay:.0f} s",
            )
            self.sleep(delay)
            try_number += 1
        with session_scope(self.url) as session:
            return start_verifying(session, self.wo_id, owner=self.owner, now=datetime.now(UTC),
                                   lease=LEASE, reason=report.reason)  # fmt: skip

    def _window_allows(self, delay: float) -> bool:
        if not self.windows.strip():
            return True
        from data.domain.windows import fits, parse_windows

        at = datetime.now(UTC) + timedelta(seconds=delay)
        return fits(parse_windows(self.windows), at, timedelta(seconds=self.timing().grace))

    def _push_failed(self, reason: str) -> bool:
        with session_scope(self.url) as session:
            finish_push(session, self.wo_id, owner=self.owner, ok=False, reason=reason[:2000],
                        now=datetime.now(UTC))  # fmt: skip
        return False

    def _note(self, action: str, comment: str) -> None:
        with session_scope(self.url) as session:
            note_progress(session, self.wo_id, owner=self.owner, action=action,
                          comment=comment, now=datetime.now(UTC))  # fmt: skip

    # ----- the verification

    def timing(self) -> Timing:
        with session_scope(self.url) as session:
            plan = current_plan(session, self.wo_id)
        profile = ((plan.body.get("profile") or {}).get("name")) if plan else None
        return timing_for(self.book, profile, self.settings)

    def _plan(self):
        with session_scope(self.url) as session:
            plan = current_plan(session, self.wo_id)
        if plan is None:
            raise CertpushError(f"{self.label} has no push plan")
        return plan

    def verify(self) -> WorkOrderStatus:
        """Every endpoint must be seen serving the certificate within the grace window."""
        plan = self._plan()
        fingerprint = plan.body["certificate"]["fingerprint"]
        checks = [Check(i, e, fingerprint) for i, e in self.endpoints]
        started = datetime.now(UTC)
        if not checks:
            with session_scope(self.url) as session:
                end_verification(session, self.wo_id, owner=self.owner, now=started, ok=True,
                                 rollback=False, lease=LEASE,
                                 reason="installed; no endpoints to verify: add the device's "
                                 "IP:port endpoints so that certpush can check it")  # fmt: skip
            return WorkOrderStatus.COMPLETED
        seen = watch(checks, self.timing(), timeout=self.settings.verify_timeout,
                     sleep=self.sleep, prober=self.prober)  # fmt: skip
        finished = datetime.now(UTC)
        if seen.ok:
            reason = (f"verified: all {len(checks)} endpoint(s) serve the certificate "
                      f"({seen.seconds:.1f} s after the install)")  # fmt: skip
        else:
            reason = "failed verification: " + describe(checks, seen.results)
        with session_scope(self.url) as session:
            baseline = self.baseline
            if baseline is None:
                pushed = session.get(WorkOrder, self.wo_id)
                baseline = last_seen_before(session, [c.endpoint_id for c in checks],
                                            pushed.pushed_at if pushed else started)  # fmt: skip
            after = {c.endpoint_id: seen.results[c.endpoint_id].outcome for c in checks}
            broke = [c for c in checks if newly_broken(baseline.get(c.endpoint_id),
                                                       after[c.endpoint_id])]  # fmt: skip
            rollback = not seen.ok and (self.auto_rollback or bool(broke))
            if broke and not self.auto_rollback:
                reason += (
                    "; the push broke the TLS service of "
                    + ", ".join(str(c.endpoint) for c in broke)
                    + ": rolled back although automatic rollback is off"
                )
            items = [
                Target(c.endpoint_id, self.connector_id, self.certificate_id, c.expected,
                       self.wo_id, c.endpoint)
                for c in checks
            ]  # fmt: skip
            record_probe_round(session, items, seen.results, trigger=f"push {self.label}",
                               started=started, finished=finished)  # fmt: skip
            record_push_attempt(
                session, certificate_id=self.certificate_id, connector_id=self.connector_id,
                actor="scheduler", started_at=started, finished_at=finished,
                outcome="verified" if seen.ok else "failed_verification",
                reason_class=None if seen.ok else "verification", reason=reason[:2000],
                work_order_id=self.wo_id, kind="verify",
            )  # fmt: skip
            audit.record(session, actor="scheduler", now=finished, target=self.label,
                         action="push.verified" if seen.ok else "push.failed_verification",
                         detail=reason[:2000])  # fmt: skip
            end_verification(session, self.wo_id, owner=self.owner, now=finished, ok=seen.ok,
                             reason=reason[:2000], rollback=rollback, lease=LEASE)  # fmt: skip
        if seen.ok:
            return WorkOrderStatus.COMPLETED
        return WorkOrderStatus.ROLLING_BACK if rollback else WorkOrderStatus.FAILED_VERIFICATION

    # ----- the rollback

    def rollback(self) -> WorkOrderStatus:
        """Restore the kept previous files, test, reload, and see the previous certificate
        served again on every endpoint: Rolled Back, else Rollback Failed."""
        plan = self._plan()
        try:
            report = execute_plan(self.url, self.vault, plan.body, digest=plan.digest,
                                  actor="scheduler", work_order_id=self.wo_id,
                                  rollback=True, broker_url=self.broker_url,
                                  broker_ca=self.broker_ca)  # fmt: skip
        except CertpushError as exc:
            return self._rollback_ended(False, f"rollback failed: {exc}")
        fingerprint = plan.body["certificate"]["fingerprint"]
        if report.outcome is InstallOutcome.FAILED:
            checks = [Check(i, e, fingerprint) for i, e in self.endpoints]
            now_served = self.prober(checks, self.settings.verify_timeout)
            return self._rollback_ended(
                False, f"rollback failed: {report.reason}. Now: " + describe(checks, now_served)
            )
        previous = report.restored_fingerprint
        if previous is None:
            return self._rollback_ended(
                False, "rollback failed: the restored files hold no readable certificate"
            )
        checks = [Check(i, e, previous) for i, e in self.endpoints]
        if not checks:
            return self._rollback_ended(True, f"rolled back: {report.reason}")
        started = datetime.now(UTC)
        seen = watch(checks, self.timing(), timeout=self.settings.verify_timeout,
                     sleep=self.sleep, prober=self.prober)  # fmt: skip
        if seen.ok:
            reason = (f"rolled back: the previous certificate {previous[:16]}… is served "
                      f"again on all {len(checks)} endpoint(s)")  # fmt: skip
        else:
            reason = ("rollback failed: the previous files are back but the device does not "
                      "serve them: " + describe(checks, seen.results))  # fmt: skip
        with session_scope(self.url) as session:
            record_push_attempt(
                session, certificate_id=self.certificate_id, connector_id=self.connector_id,
                actor="scheduler", started_at=started, finished_at=datetime.now(UTC),
                outcome="verified" if seen.ok else "failed_verification",
                reason_class=None if seen.ok else "verification", reason=reason[:2000],
                work_order_id=self.wo_id, kind="rollback_verify",
            )  # fmt: skip
        return self._rollback_ended(seen.ok, reason)

    def _rollback_ended(self, ok: bool, reason: str) -> WorkOrderStatus:
        with session_scope(self.url) as session:
            end_rollback(session, self.wo_id, owner=self.owner, now=datetime.now(UTC), ok=ok,
                         reason=reason[:2000])  # fmt: skip
        return WorkOrderStatus.ROLLED_BACK if ok else WorkOrderStatus.ROLLBACK_FAILED

    def crashed(self, reason: str) -> None:
        """End whatever step was running without pretending it succeeded."""
        with session_scope(self.url) as session:
            wo = session.get(WorkOrder, self.wo_id)
            if wo is None or wo.lease_owner != self.owner:
                return
            status = WorkOrderStatus(wo.status)
            now = datetime.now(UTC)
            if status is WorkOrderStatus.PUSH_IN_PROGRESS:
                finish_push(session, self.wo_id, owner=self.owner, ok=False, reason=reason,
                            now=now)  # fmt: skip
            elif status is WorkOrderStatus.VERIFYING:
                end_verification(session, self.wo_id, owner=self.owner, now=now, ok=False,
                                 reason=reason, rollback=False, lease=LEASE)  # fmt: skip
            elif status is WorkOrderStatus.ROLLING_BACK:
                end_rollback(session, self.wo_id, owner=self.owner, now=now, ok=False,
                             reason=reason)  # fmt: skip


def reconcile_at_start(settings: Settings) -> list[int]:
    with session_scope(settings.database_url) as session:
        taken = reconcile_interrupted(session, owner=OWNER, now=datetime.now(UTC))
    if taken:
        log.warning("taking up %d interrupted work order(s) again: %s", len(taken), taken)
    return taken


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
        now = datetime.now(UTC)
        waiting = frozenset()
        if settings.broker_url:  # a zone with no live agent: its work waits, not fails
            from data.agents import offline_zone_connectors

            waiting = offline_zone_connectors(session, now)
        claimed = claim_due(
            session,
            owner=OWNER,
            now=now,
            grace=timedelta(minutes=settings.missed_grace_minutes),
            lease=LEASE,
            limit=capacity,
            verify_grace=timedelta(seconds=settings.verify_grace_seconds),
            waiting_connectors=waiting,
        )
    for wo_id in claimed:
        with _lock:
            _in_flight.add(wo_id)
        _pool.submit(_run_and_release, settings.database_url, vault, wo_id)
