"""A verification sweep as a whole: when, why, its tally and what each endpoint served."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.domain.errors import NotFound
from data.domain.workflow import work_order_id
from data.models import Certificate, Connector, Endpoint, VerificationResult, VerificationSweep


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def sweep_detail(
    session: Session, sweep_id: int, *, limit: int = 1000, offset: int = 0
) -> dict[str, Any]:
    """The sweep's summary and one page of its per-endpoint results (by endpoint)."""
    sweep = session.get(VerificationSweep, sweep_id)
    if sweep is None:
        raise NotFound(f"no verification sweep {sweep_id}")
    total = session.scalar(
        select(func.count())
        .select_from(VerificationResult)
        .where(VerificationResult.sweep_id == sweep_id)
    )
    rows = session.execute(
        select(
            VerificationResult,
            Endpoint.host,
            Endpoint.port,
            Connector.name,
            Certificate.fingerprint_sha256,
            Certificate.common_name,
        )
        .join(Endpoint, Endpoint.id == VerificationResult.endpoint_id)
        .join(Connector, Connector.id == VerificationResult.connector_id)
        .join(Certificate, Certificate.id == VerificationResult.certificate_id)
        .where(VerificationResult.sweep_id == sweep_id)
        .order_by(VerificationResult.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return {
        "id": sweep.id,
        "trigger": sweep.trigger,
        "started_at": _iso(sweep.started_at),
        "finished_at": _iso(sweep.finished_at),
        "endpoints": sweep.endpoints,
        "summary": json.loads(sweep.summary or "{}"),
        "results_total": total or 0,
        "results": [
            {
                "host": host,
                "port": port,
                "sni": r.sni,
                "connector": connector,
                "certificate": fingerprint,
                "common_name": common_name,
                "work_order": work_order_id(r.work_order_id) if r.work_order_id else None,
                "at": _iso(r.at),
                "outcome": r.outcome,
                "reason": r.reason,
                "expected_fingerprint": r.expected_fingerprint,
                "served_fingerprint": r.served_fingerprint,
                "served_subject": r.served_subject,
                "latency_ms": r.latency_ms,
                "drift": r.drift,
                "chain_valid": r.chain_valid,
            }
            for r, host, port, connector, fingerprint, common_name in rows
        ],
    }
