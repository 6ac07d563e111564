"""Probe batches through zone agents: the sweep sends a zone's endpoints to its queue,
an agent probes them with the same engine as the scheduler (jobs/probe.py) and returns
signed results, the central worker stores them, the sweep collects them.

An endpoint whose zone has no live agent, or whose batch is not answered before the
sweep's deadline, gets the outcome ``zone_offline``: nothing was learnt about the device,
so it is never a mismatch and decides no push.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from data.domain.verification import ProbeOutcome
from jobs.probe import ProbeResult

PROBE_TASK = "certpush.agent.probe_batch"
RESULTS_TASK = "certpush.central.probe_results"
BATCH_SIZE = 500
POLL_SECONDS = 0.2


def result_json(result: ProbeResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome.value,
        "reason": result.reason[:500],
        "served_fingerprint": result.served_fingerprint,
        "served_subject": result.served_subject,
        "served_not_after": result.served_not_after.isoformat()
        if result.served_not_after
        else None,
        "latency_ms": int(result.latency_ms or 0),
        "chain_valid": result.chain_valid,
    }


def result_from_json(data: dict[str, Any]) -> ProbeResult:
    """An agent's answer as a ProbeResult; anything malformed raises ValueError."""
    outcome = ProbeOutcome(str(data["outcome"]))
    if outcome is ProbeOutcome.ZONE_OFFLINE:
        raise ValueError("an agent cannot answer zone_offline")
    served = data.get("served_fingerprint")
    if served is not None and (not isinstance(served, str) or len(served) != 64):
        raise ValueError("served_fingerprint must be 64 hex digits")
    not_after = data.get("served_not_after")
    chain_valid = data.get("chain_valid")
    return ProbeResult(
        outcome=outcome,
        reason=str(data.get("reason", ""))[:500],
        served_fingerprint=served,
        served_subject=(
            str(data["served_subject"])[:1024] if data.get("served_subject") is not None else None
        ),
        served_not_after=datetime.fromisoformat(not_after) if not_after else None,
        latency_ms=int(data.get("latency_ms") or 0),
        chain_valid=chain_valid if isinstance(chain_valid, bool) else None,
    )


def offline(zone: str, why: str) -> ProbeResult:
    return ProbeResult(ProbeOutcome.ZONE_OFFLINE, f"zone {zone}: {why}")


def probe_remote(
    database_url: str,
    broker_url: str,
    sweep_id: int,
    by_zone: dict[str, list[Any]],
    *,
    timeout: float,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    broker_ca: Path | None = None,
) -> tuple[dict[int, ProbeResult], dict[int, str]]:
    """Send each zone's targets to its agents and wait for their answers (or the deadline).

    Returns the results by endpoint id and, for those an agent probed, its name.
    """
    from sqlalchemy import select

    from data.agents import zone_online
    from data.db import session_scope
    from data.models import ZoneJob
    from jobs.zones.broker import BrokerUnavailable, celery_app, send, zone_queue

    results: dict[int, ProbeResult] = {}
    agents: dict[int, str] = {}
    batches: dict[str, tuple[str, list[Any]]] = {}
    started = now()
    with session_scope(database_url) as session:
        for zone, items in by_zone.items():
            if not zone_online(session, zone, started):
                for t in items:
                    results[t.endpoint_id] = offline(zone, "no live approved agent")
                continue
            for first in range(0, len(items), BATCH_SIZE):
                chunk = items[first : first + BATCH_SIZE]
                bound = timeout * (len(chunk) / 64 + 2) + 15  # generous: agents probe 128 at a time
                batch_id = uuid.uuid4().hex
                session.add(
                    ZoneJob(
                        id=batch_id,
                        kind="probe",
                        sweep_id=sweep_id,
                        zone=zone,
                        endpoints=len(chunk),
                        state="sent",
                        results="",
                        created_at=started,
                        deadline=started + timedelta(seconds=bound),
                    )
                )
                batches[batch_id] = (zone, chunk)
    if not batches:
        return results, agents
    app = celery_app(broker_url, "certpush-sweep", broker_ca)
    for batch_id, (zone, chunk) in list(batches.items()):
        targets = [
            {
                "key": t.endpoint_id,
                "host": t.endpoint.host,
                "port": t.endpoint.port,
                "sni": t.endpoint.sni,
                "expected": t.expected,
            }
            for t in chunk
        ]
        payload = {"batch_id": batch_id, "zone": zone, "timeout": timeout, "targets": targets}
        try:
            send(app, PROBE_TASK, payload, zone_queue(zone))
        except BrokerUnavailable as exc:
            for t in chunk:
                results[t.endpoint_id] = offline(zone, str(exc))
            del batches[batch_id]
    waiting = set(batches)
    while waiting:
        with session_scope(database_url) as session:
            rows = session.execute(
                select(
                    ZoneJob.id,
                    ZoneJob.state,
                    ZoneJob.agent,
                    ZoneJob.results,
                    ZoneJob.deadline,
                ).where(ZoneJob.id.in_(list(waiting)))
            ).all()
        at = now()
        for row in rows:
            zone, chunk = batches[row.id]
            if row.state == "done":
                answered = json.loads(row.results or "{}")
                for t in chunk:
                    found = answered.get(str(t.endpoint_id))
                    if found is None:
                        results[t.endpoint_id] = offline(zone, "the agent did not answer it")
                        continue
                    results[t.endpoint_id] = result_from_json(found)
                    agents[t.endpoint_id] = row.agent or ""
                waiting.discard(row.id)
            elif at >= row.deadline:
                for t in chunk:
                    results[t.endpoint_id] = offline(zone, "no answer before the deadline")
                waiting.discard(row.id)
        if waiting:
            time.sleep(POLL_SECONDS)
    return results, agents


def store_results(database_url: str, message: Any, now: datetime) -> str:
    """The central worker's side: an approved agent's signed answer to a batch of its zone.

    Anything not from an approved agent of the batch's zone is refused (and audited by
    the caller); a second answer to a finished batch is ignored.
    """
    from data.agents import accept
    from data.db import session_scope
    from data.domain.zones import ZoneError
    from data.models import ZoneJob

    with session_scope(database_url) as session:
        agent, body = accept(session, message, now=now)
        batch = session.get(ZoneJob, str(body.get("batch_id", "")), with_for_update=True)
        if batch is None:
            raise ZoneError(f"agent {agent.name}: no probe batch {body.get('batch_id')!r}")
        if batch.zone != agent.zone:
            raise ZoneError(
                f"agent {agent.name} of zone {agent.zone} answered a batch of "
                f"zone {batch.zone}: refused"
            )
        if batch.state == "done":
            return f"batch {batch.id} already answered"
        answers = body.get("results")
        if not isinstance(answers, dict):
            raise ZoneError(f"agent {agent.name}: results must be an object")
        if batch.kind == "probe":
            clean = {}
            for key, value in answers.items():
                try:
                    clean[str(int(key))] = result_json(result_from_json(value))
                except (KeyError, TypeError, ValueError) as exc:
                    raise ZoneError(
                        f"agent {agent.name}: result {key!r} is malformed ({exc})"
                    ) from None
        elif batch.kind == "preflight":
            from jobs.zones.preflight import preflight_answer_json

            try:
                clean = preflight_answer_json(answers)
            except (KeyError, TypeError, ValueError) as exc:
                raise ZoneError(
                    f"agent {agent.name}: a malformed preflight answer ({exc})"
                ) from None
        else:
            from jobs.zones.pushes import install_result_json

            try:
                clean = install_result_json(answers)
            except (KeyError, TypeError, ValueError) as exc:
                raise ZoneError(f"agent {agent.name}: a malformed push answer ({exc})") from None
        batch.results = json.dumps(clean)
        batch.agent, batch.state, batch.finished_at = agent.name, "done", now
        return f"batch {batch.id}: {len(clean)} result(s) from {agent.name}"
