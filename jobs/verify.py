"""The HTTPS verification sweep: is the certificate we pushed what every endpoint serves?

For every endpoint of every connector that has a pushed certificate, one bounded TLS
handshake (jobs/probe.py: one selector per process, jobs/probe_shards.py: a
process per core for large sweeps); results are written in bulk, in one
transaction per sweep. The first sweep after a push decides whether that push is
verified or failed verification (the certificate turns Gray); an endpoint that had
served our certificate and now serves one no work order of ours pushed is drift
(the certificate turns Mid Purple).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from data.config import Settings
from data.connectors import certificate_by_fingerprint
from data.db import session_scope
from data.domain.connector_specs import EndpointSpec
from data.domain.verification import ProbeOutcome, is_drift, push_verdict
from data.domain.workflow import WorkOrderStatus
from data.models import (
    Certificate,
    Connector,
    Endpoint,
    PushAttempt,
    VerificationResult,
    VerificationSweep,
    WorkOrder,
)
from jobs.probe import ProbeResult
from jobs.probe_shards import probe_sharded

SUCCESS = ("installed", "already_installed")
LOCAL_ZONE = "local"
SETTLE_SECONDS = 3.0


@dataclass(frozen=True)
class Target:
    endpoint_id: int
    connector_id: int
    certificate_id: int
    expected: str
    work_order_id: int | None
    endpoint: EndpointSpec
    zone: str = "local"  # whose agents probe it (with a broker configured)


@dataclass
class SweepReport:
    sweep_id: int
    endpoints: list[dict] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "sweep_id": self.sweep_id,
            "endpoints": self.endpoints,
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
        }


def targets(session: Session, certificate: str | None = None) -> list[Target]:
    """Each connector's latest successfully pushed certificate, with the connector's endpoints."""
    latest = (
        select(PushAttempt.connector_id, func.max(PushAttempt.id).label("attempt_id"))
        .outerjoin(WorkOrder, WorkOrder.id == PushAttempt.work_order_id)
        .where(
            PushAttempt.outcome.in_(SUCCESS),
            PushAttempt.kind == "install",
            # an install that was rolled back is not what the device should serve
            func.coalesce(WorkOrder.status, "") != WorkOrderStatus.ROLLED_BACK.value,
        )
        .group_by(PushAttempt.connector_id)
        .subquery()
    )
    query = (
        select(
            Endpoint.id,
            Endpoint.host,
            Endpoint.port,
            Endpoint.sni,
            PushAttempt.connector_id,
            PushAttempt.certificate_id,
            PushAttempt.work_order_id,
            Certificate.fingerprint_sha256,
            Connector.zone,
        )
        .join(latest, latest.c.attempt_id == PushAttempt.id)
        .join(Endpoint, Endpoint.connector_id == PushAttempt.connector_id)
        .join(Connector, Connector.id == PushAttempt.connector_id)
        .join(Certificate, Certificate.id == PushAttempt.certificate_id)
        .order_by(Endpoint.id)
    )
    if certificate:
        query = query.where(Certificate.id == certificate_by_fingerprint(session, certificate).id)
    return [
        Target(
            r.id,
            r.connector_id,
            r.certificate_id,
            r.fingerprint_sha256,
            r.work_order_id,
            EndpointSpec(r.host, r.port, r.sni or None),
            r.zone or "local",
        )
        for r in session.execute(query)
    ]


def probe_all(
    items: list[Target],
    *,
    concurrency: int,
    timeout: float,
    processes: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[int, ProbeResult]:
    """Probe every target with bounded concurrency; the whole run is bounded too."""
    if not items:
        return {}
    bound = timeout * (len(items) / max(1, concurrency) + 2) + 5
    return probe_sharded(
        [(t.endpoint_id, t.endpoint, t.expected) for t in items],
        concurrency=concurrency,
        timeout=timeout,
        bound=bound,
        processes=processes,
        on_progress=on_progress,
    )


def _record(
    session: Session, sweep_id: int, items: list[Target], results, now,
    agents: dict[int, str] | None = None,
) -> list[dict]:  # fmt: skip
    ids = [t.endpoint_id for t in items]
    matched_before = {
        (row.endpoint_id, row.expected_fingerprint)
        for row in session.execute(
            select(VerificationResult.endpoint_id, VerificationResult.expected_fingerprint)
            .where(VerificationResult.endpoint_id.in_(ids), VerificationResult.outcome == "match")
            .distinct()
        )
    }
    pushed: dict[int, set[str]] = defaultdict(set)
    for connector_id, fingerprint in session.execute(
        select(PushAttempt.connector_id, Certificate.fingerprint_sha256)
        .join(Certificate, Certificate.id == PushAttempt.certificate_id)
        .where(PushAttempt.outcome.in_(SUCCESS))
        .distinct()
    ):
        pushed[connector_id].add(fingerprint)
    rows, report = [], []
    for t in items:
        r = results[t.endpoint_id]
        drift = is_drift(
            r.outcome,
            r.served_fingerprint,
            (t.endpoint_id, t.expected) in matched_before,
            pushed[t.connector_id],
        )
        rows.append(
            {
                "sweep_id": sweep_id,
                "endpoint_id": t.endpoint_id,
                "connector_id": t.connector_id,
                "certificate_id": t.certificate_id,
                "work_order_id": t.work_order_id,
                "at": now,
                "expected_fingerprint": t.expected,
                "served_fingerprint": r.served_fingerprint,
                "served_subject": r.served_subject,
                "served_not_after": r.served_not_after,
                "outcome": r.outcome.value,
                "reason": r.reason,
                "latency_ms": r.latency_ms,
                "sni": t.endpoint.sni,
                "drift": drift,
                "chain_valid": r.chain_valid,
                "agent": (agents or {}).get(t.endpoint_id),
            }
        )
        report.append(
            {
                "host": t.endpoint.host,
                "port": t.endpoint.port,
                "sni": t.endpoint.sni,
                "outcome": r.outcome.value,
                "reason": r.reason,
                "expected_fingerprint": t.expected,
                "served_fingerprint": r.served_fingerprint,
                "latency_ms": r.latency_ms,
                "drift": drift,
            }
        )
    if any(row["drift"] for row in rows):  # rare: import the notifier's side only then
        from jobs.notify.watch import announce_drift

        announce_drift(session, rows, now)  # before the insert: it compares with the past
    for start in range(0, len(rows), 5000):
        session.execute(insert(VerificationResult), rows[start : start + 5000])
    return rows


def _decide(
    session: Session, items: list[Target], rows: list[dict], now: datetime, settle: timedelta
) -> None:
    """Verdicts for pushes not yet judged, and the certificates' Gray / Mid Purple inputs.

    A push that finished less than ``settle`` ago is not judged yet: right after a
    reload, old workers may still answer some handshakes with the old certificate.
    """
    fresh = set(
        session.scalars(
            select(PushAttempt.work_order_id).where(
                PushAttempt.work_order_id.is_not(None), PushAttempt.finished_at > now - settle
            )
        )
    )
    by_work_order: dict[int, list[ProbeOutcome]] = defaultdict(list)
    drift_by_cert: dict[int, bool] = defaultdict(bool)
    for row in rows:
        if row["work_order_id"] is not None:
            by_work_order[row["work_order_id"]].append(ProbeOutcome(row["outcome"]))
        if row["outcome"] != ProbeOutcome.ZONE_OFFLINE.value:  # unseen: drift unchanged
            drift_by_cert[row["certificate_id"]] |= row["drift"]
    # Most work orders in a sweep were decided by an earlier one: find the few that were
    # not in one query, rather than trying an UPDATE for every one of them.
    candidates = [wo_id for wo_id in by_work_order if wo_id not in fresh]
    undecided: set[int] = set()
    for start in range(0, len(candidates), 5000):
        undecided.update(
            session.scalars(
                select(WorkOrder.id).where(
                    WorkOrder.id.in_(candidates[start : start + 5000]),
                    WorkOrder.verification.is_(None),
                    # the verification after the install decides these (jobs/workorders.py)
                    WorkOrder.status != WorkOrderStatus.VERIFYING.value,
                )
            )
        )
    failed_certs: set[int] = set()
    for wo_id, outcomes in by_work_order.items():
        if wo_id not in undecided:
            continue
        verdict = push_verdict(outcomes)
        if verdict is None:  # an endpoint nobody could probe: a later sweep decides
            continue
        changed = session.execute(
            update(WorkOrder)
            .where(WorkOrder.id == wo_id, WorkOrder.verification.is_(None))
            .values(verification=verdict, verified_at=now)
        ).rowcount
        if changed and verdict == "failed":
            failed_certs.update(r["certificate_id"] for r in rows if r["work_order_id"] == wo_id)
    if failed_certs:
        session.execute(
            update(Certificate).where(Certificate.id.in_(failed_certs)).values(push_failed=True)
        )
    for flag in (True, False):  # two set-based UPDATEs, not one per certificate
        ids = [cert_id for cert_id, drifted in drift_by_cert.items() if drifted is flag]
        for start in range(0, len(ids), 5000):
            session.execute(
                update(Certificate)
                .where(Certificate.id.in_(ids[start : start + 5000]))
                .values(drift=flag)
            )


SLOW_OUTCOMES = ("timeout", "unreachable", "dns_error")


def slow_first(session: Session, items: list[Target]) -> list[Target]:
    """Endpoints that timed out last time go first, so their timeout overlaps the rest."""
    if not items:
        return items
    latest = (
        select(func.max(VerificationResult.id))
        .where(VerificationResult.endpoint_id.in_([t.endpoint_id for t in items]))
        .group_by(VerificationResult.endpoint_id)
    )
    slow = set(
        session.scalars(
            select(VerificationResult.endpoint_id).where(
                VerificationResult.id.in_(latest), VerificationResult.outcome.in_(SLOW_OUTCOMES)
            )
        )
    )
    return sorted(items, key=lambda t: t.endpoint_id not in slow)


def record_probe_round(
    session: Session,
    items: list[Target],
    results: dict[int, ProbeResult],
    *,
    trigger: str,
    started: datetime,
    finished: datetime,
) -> list[dict]:
    """Store one round of probes made outside a sweep (the verification after a push) as
    a sweep of its own, with drift computed the same way; verdicts are the caller's."""
    sweep_id = open_sweep(session, started=started, trigger=trigger[:32], endpoints=len(items))
    rows = _record(session, sweep_id, items, results, finished)
    session.execute(
        update(VerificationSweep)
        .where(VerificationSweep.id == sweep_id)
        .values(finished_at=finished, summary=json.dumps(dict(Counter(r["outcome"] for r in rows))))
    )
    return rows


def open_sweep(session: Session, *, started: datetime, trigger: str, endpoints: int) -> int:
    """The sweep's own row, written before probing starts; returns its id."""
    sweep = VerificationSweep(
        started_at=started, trigger=trigger, endpoints=endpoints, summary="{}"
    )
    session.add(sweep)
    session.flush()
    return sweep.id


def record_sweep(
    session: Session,
    sweep_id: int,
    items: list[Target],
    results: dict[int, ProbeResult],
    *,
    finished: datetime,
    settle: timedelta = timedelta(seconds=SETTLE_SECONDS),
    agents: dict[int, str] | None = None,
) -> tuple[list[dict], dict[str, int]]:
    """Store a sweep's results (one per target endpoint, keyed by endpoint id), decide the
    verdicts and drift they imply, and close the sweep; returns the rows and the summary.

    The one way a sweep is recorded, whether its handshakes were real (``run_sweep``) or
    replayed by the demo's history.
    """
    rows = _record(session, sweep_id, items, results, finished, agents)
    _decide(session, items, rows, finished, settle)
    summary = dict(Counter(r["outcome"] for r in rows))
    session.execute(
        update(VerificationSweep)
        .where(VerificationSweep.id == sweep_id)
        .values(finished_at=finished, summary=json.dumps(summary))
    )
    return rows, summary


def run_sweep(
    database_url: str,
    *,
    certificate: str | None = None,
    concurrency: int = 128,
    timeout: float = 5.0,
    trigger: str = "cli",
    on_progress: Callable[[int, int], None] | None = None,
    settle_seconds: float = SETTLE_SECONDS,
    processes: int | None = None,
    broker_url: str | None = None,
    broker_ca: Path | None = None,
) -> SweepReport:
    """Probe every target, store the results in bulk, decide verdicts and drift.

    With ``broker_url``, the endpoints of connectors in another zone than ``local`` are
    probed by that zone's agents (jobs/zones/probes.py) while the scheduler probes its
    own; without it every endpoint is probed here, whatever its zone. ``broker_ca``
    verifies an ``amqps://`` broker (None: the system store).
    """
    started = datetime.now(UTC)
    with session_scope(database_url) as session:
        items = slow_first(session, targets(session, certificate))
        sweep_id = open_sweep(session, started=started, trigger=trigger, endpoints=len(items))
    here = [t for t in items if not broker_url or t.zone == LOCAL_ZONE]
    remote: dict[str, list[Target]] = defaultdict(list)
    for t in items:
        if broker_url and t.zone != LOCAL_ZONE:
            remote[t.zone].append(t)
    agents: dict[int, str] = {}
    results = probe_all(
        here,
        concurrency=concurrency,
        timeout=timeout,
        processes=processes,
        on_progress=on_progress,
    )
    if remote:
        from jobs.zones.probes import probe_remote

        found, agents = probe_remote(database_url, broker_url or "", sweep_id, dict(remote),
                                     timeout=timeout, broker_ca=broker_ca)  # fmt: skip
        results.update(found)
    finished = datetime.now(UTC)
    report = SweepReport(sweep_id)
    with session_scope(database_url) as session:
        rows, report.summary = record_sweep(
            session,
            sweep_id,
            items,
            results,
            finished=finished,
            settle=timedelta(seconds=settle_seconds),
            agents=agents,
        )
    report.endpoints = [
        {
            k: v
            for k, v in r.items()
            if k
            in (
                "outcome",
                "reason",
                "expected_fingerprint",
                "served_fingerprint",
                "latency_ms",
                "sni",
                "drift",
                "chain_valid",
            )
        }
        | {"host": t.endpoint.host, "port": t.endpoint.port}
        for t, r in zip(items, rows, strict=True)
    ]
    report.seconds = (finished - started).total_seconds()
    return report


def scheduled_sweep() -> None:
    """Scheduler job (module level so APScheduler can store it)."""
    settings = Settings.from_env()
    run_sweep(
        settings.database_url,
        trigger="schedule",
        concurrency=settings.verify_concurrency,
        timeout=settings.verify_timeout,
        processes=settings.verify_processes,
        broker_url=settings.broker_url,
        broker_ca=settings.broker_ca,
    )
