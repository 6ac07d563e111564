"""Watching endpoints after an install or a rollback: is the expected certificate served?

The same probe engine as the scheduled sweep (jobs/probe.py), so the outcomes mean the
same. Services reload asynchronously (an nginx reload returns before its new workers
answer), so the first round waits a settle delay and further rounds follow until the
grace window ends or every endpoint serves what it should.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.config import Settings
from data.domain.connector_specs import EndpointSpec
from data.domain.profiles import ProfileBook
from data.domain.verification import ProbeOutcome
from data.models import Endpoint, VerificationResult
from jobs.probe import ProbeResult, probe_many

ROUND_INTERVAL = 1.0  # seconds between rounds while some endpoint does not match yet


@dataclass(frozen=True)
class Timing:
    settle: float
    grace: float


def timing_for(book: ProfileBook, profile: str | None, settings: Settings) -> Timing:
    """The device profile's verify_settle / verify_grace, else the host's defaults."""
    found = book.get(profile) if profile else None
    settle = found.verify_settle if found and found.verify_settle is not None else None
    grace = found.verify_grace if found and found.verify_grace is not None else None
    return Timing(
        settings.verify_settle_seconds if settle is None else settle,
        settings.verify_grace_seconds if grace is None else grace,
    )


@dataclass(frozen=True)
class Check:
    endpoint_id: int
    endpoint: EndpointSpec
    expected: str


def endpoints_of(session: Session, connector_id: int) -> list[tuple[int, EndpointSpec]]:
    return [
        (row.id, EndpointSpec(row.host, row.port, row.sni or None))
        for row in session.execute(
            select(Endpoint.id, Endpoint.host, Endpoint.port, Endpoint.sni)
            .where(Endpoint.connector_id == connector_id)
            .order_by(Endpoint.id)
        )
    ]


def probe_round(checks: list[Check], timeout: float) -> dict[int, ProbeResult]:
    if not checks:
        return {}
    return probe_many(
        [(c.endpoint_id, c.endpoint, c.expected) for c in checks],
        concurrency=len(checks),
        timeout=timeout,
    )


@dataclass(frozen=True)
class Watch:
    ok: bool
    results: dict[int, ProbeResult]
    rounds: int
    seconds: float


def watch(
    checks: list[Check],
    timing: Timing,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    prober: Callable[[list[Check], float], dict[int, ProbeResult]] | None = None,
) -> Watch:
    """Probe after ``timing.settle``, then every second until all match or ``timing.grace``
    (counted from the call) has passed; the last round's results are the answer.
    ``prober`` makes the rounds elsewhere (a zone's agents) instead of here."""
    start = clock()
    deadline = start + max(timing.grace, timing.settle)
    sleep(timing.settle)
    rounds = 0
    while True:
        remaining = deadline - clock()
        results = (prober or probe_round)(
            checks, max(0.5, min(timeout, remaining)) if rounds else timeout
        )
        rounds += 1
        if all(r.outcome is ProbeOutcome.MATCH for r in results.values()):
            return Watch(True, results, rounds, clock() - start)
        remaining = deadline - clock()
        if remaining <= 0:
            return Watch(False, results, rounds, clock() - start)
        sleep(min(ROUND_INTERVAL, remaining))


def describe(checks: list[Check], results: Mapping[int, ProbeResult]) -> str:
    """What each endpoint serves, as a work order's reason says it."""
    parts = []
    for c in checks:
        r = results.get(c.endpoint_id)
        if r is None:
            parts.append(f"{c.endpoint}: not probed")
        elif r.outcome is ProbeOutcome.MATCH:
            parts.append(f"{c.endpoint}: serves the expected certificate")
        elif r.served_fingerprint:
            who = f" ({r.served_subject})" if r.served_subject else ""
            parts.append(
                f"{c.endpoint}: serves {r.served_fingerprint[:16]}…{who}, not {c.expected[:16]}…"
            )
        else:
            parts.append(f"{c.endpoint}: {r.outcome.value}: {r.reason}")
    return "; ".join(parts)


def last_seen_before(session: Session, endpoint_ids: list[int], before) -> dict[int, ProbeOutcome]:
    """Each endpoint's latest recorded outcome before ``before`` (the baseline when the
    verification resumes after a scheduler restart and the pre-push probe is gone)."""
    if not endpoint_ids:
        return {}
    latest = (
        select(func.max(VerificationResult.id))
        .where(VerificationResult.endpoint_id.in_(endpoint_ids), VerificationResult.at < before)
        .group_by(VerificationResult.endpoint_id)
    )
    return {
        endpoint_id: ProbeOutcome(outcome)
        for endpoint_id, outcome in session.execute(
            select(VerificationResult.endpoint_id, VerificationResult.outcome).where(
                VerificationResult.id.in_(latest)
            )
        )
    }
