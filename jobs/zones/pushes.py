"""Installs, rollbacks and probe rounds of one work order, run by its zone's agents.

The central side keeps what it always did: the plan, the checks before and after, the
attempt records and the state machine (jobs/push.py, jobs/workorders.py). Only the
device work moves: the certificate, its key, its chain and the connector's credential go
to the zone's approved agents sealed in an envelope (data/envelopes.py), the agent runs
the same connector code as the scheduler would, and its signed answer comes back
through the central worker. A redelivered install is harmless: the connector finds the
certificate already installed.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from data.domain.errors import CertpushError
from jobs.connectors.base import FailureClass, InstallOutcome, InstallResult, Material

PUSH_TASK = "certpush.agent.push"
POLL_SECONDS = 0.2


class ZoneOffline(CertpushError):
    """The zone has no live approved agent: the work waits instead of failing."""


def install_result_json(data: dict[str, Any]) -> dict[str, Any]:
    """An agent's push answer, checked field by field (ValueError when malformed)."""
    outcome = InstallOutcome(str(data["outcome"]))
    failure = data.get("failure")
    restored = data.get("restored_fingerprint")
    if restored is not None and (not isinstance(restored, str) or len(restored) != 64):
        raise ValueError("restored_fingerprint must be 64 hex digits")
    return {
        "outcome": outcome.value,
        "failure": FailureClass(str(failure)).value if failure else None,
        "reason": str(data.get("reason", ""))[:2000],
        "restored_fingerprint": restored,
    }


def _install_result(data: dict[str, Any]) -> InstallResult:
    return InstallResult(
        InstallOutcome(data["outcome"]),
        data["reason"],
        FailureClass(data["failure"]) if data.get("failure") else None,
        restored_fingerprint=data.get("restored_fingerprint"),
    )


def zone_job(
    database_url: str,
    broker_url: str,
    zone: str,
    *,
    kind: str,
    task: str,
    payload: dict[str, Any],
    seconds: float,
    work_order_id: int | None = None,
    endpoints: int = 0,
    broker_ca: Path | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """Send one job to ``zone``'s queue and wait for its answer: (agent, answer), or None
    when no answer came within ``seconds``. ZoneOffline when no agent could take it."""
    from sqlalchemy import select

    from data.agents import zone_online
    from data.db import session_scope
    from data.models import ZoneJob
    from jobs.zones.broker import BrokerUnavailable, celery_app, send, zone_queue

    job_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        if not zone_online(session, zone, now):
            raise ZoneOffline(f"zone {zone} has no live approved agent")
        session.add(
            ZoneJob(
                id=job_id,
                kind=kind,
                work_order_id=work_order_id,
                zone=zone,
                endpoints=endpoints,
                state="sent",
                results="",
                created_at=now,
                deadline=now + timedelta(seconds=seconds),
            )
        )
    try:
        send(
            celery_app(broker_url, "certpush-jobs", broker_ca),
            task,
            {**payload, "job_id": job_id, "zone": zone, "kind": kind},
            zone_queue(zone),
        )
    except BrokerUnavailable as exc:
        raise ZoneOffline(f"zone {zone}: {exc}") from None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            row = session.execute(
                select(ZoneJob.state, ZoneJob.agent, ZoneJob.results).where(ZoneJob.id == job_id)
            ).one()
        if row.state == "done":
            return row.agent or "", json.loads(row.results or "{}")
        time.sleep(POLL_SECONDS)
    return None


def remote_install(
    database_url: str,
    broker_url: str,
    zone: str,
    *,
    body: dict[str, Any],
    connector: dict[str, Any],
    material: Material | None,
    secret: bytes | None,
    rollback: bool,
    work_order_id: int | None,
    seconds: float,
    broker_ca: Path | None = None,
) -> InstallResult:
    """Run an install (or a rollback) of ``body`` on ``zone``'s agents; the secrets travel
    sealed to that zone's approved agents only."""
    from data.agents import zone_recipients
    from data.db import session_scope
    from data.envelopes import b64, seal

    with session_scope(database_url) as session:
        recipients = zone_recipients(session, zone)
    secrets = {
        "cert_pem": b64(material.cert_pem) if material else None,
        "key_pem": b64(material.key_pem) if material else None,
        "chain_pem": b64(material.chain_pem) if material else None,
        "fingerprint": material.fingerprint if material else None,
        "secret": b64(secret) if secret is not None else None,
    }
    context = f"work order {work_order_id}: {'rollback' if rollback else 'install'}"
    payload = {
        "plan": body,
        "connector": connector,
        "context": context,
        "envelope": seal(json.dumps(secrets).encode(), recipients, context),
    }
    kind = "rollback" if rollback else "install"
    answer = zone_job(
        database_url,
        broker_url,
        zone,
        kind=kind,
        task=PUSH_TASK,
        payload=payload,
        seconds=seconds,
        work_order_id=work_order_id,
        broker_ca=broker_ca,
    )
    if answer is None:
        return InstallResult(
            InstallOutcome.FAILED,
            f"zone {zone}: no agent answered within {seconds:.0f} s",
            FailureClass.TIMEOUT,
        )
    agent, data = answer
    result = _install_result(data)
    return InstallResult(
        result.outcome,
        f"{result.reason} (by agent {agent})",
        result.failure,
        restored_fingerprint=result.restored_fingerprint,
    )


def remote_prober(database_url: str, broker_url: str, zone: str, broker_ca: Path | None = None):
    """A ``probe_round`` whose handshakes the zone's agents make (jobs/push_verification)."""
    from jobs.zones.probes import PROBE_TASK, offline, result_from_json

    def probe_round(checks, timeout: float):
        if not checks:
            return {}
        targets = [
            {
                "key": c.endpoint_id,
                "host": c.endpoint.host,
                "port": c.endpoint.port,
                "sni": c.endpoint.sni,
                "expected": c.expected,
            }
            for c in checks
        ]
        try:
            answer = zone_job(
                database_url,
                broker_url,
                zone,
                kind="probe",
                task=PROBE_TASK,
                payload={"targets": targets, "timeout": timeout},
                seconds=timeout * 2 + 15,
                endpoints=len(checks),
                broker_ca=broker_ca,
            )
        except ZoneOffline as exc:
            return {c.endpoint_id: offline(zone, str(exc)) for c in checks}
        if answer is None:
            return {c.endpoint_id: offline(zone, "no answer in time") for c in checks}
        _agent, data = answer
        return {
            c.endpoint_id: result_from_json(data[str(c.endpoint_id)])
            if str(c.endpoint_id) in data
            else offline(zone, "not answered")
            for c in checks
        }

    return probe_round
