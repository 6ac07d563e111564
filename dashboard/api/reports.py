"""Read-only JSON API, ``/api/v1``: the report's numbers for other tools (SIEM, tickets).

Session-authenticated like the pages (the request guard answers an anonymous call
with 401); every route checks the caller's role itself. The numbers come from the
same functions and the same push-validation rule as the Reports page and exports.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
from flask import Blueprint, Response, jsonify, request

from dashboard.auth import require_permission, settings
from data import reports
from data.audit_chain import chain_head
from data.db import session_scope
from data.domain.errors import AuthError, CertpushError, PermissionDenied
from data.domain.periods import Granularity, Period, zone
from data.domain.roles import Permission

api = Blueprint("api", __name__, url_prefix="/api/v1")


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message), status


def _number(value):
    """JSON has no NaN: a rate with nothing decided is null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _period(now: datetime) -> Period:
    tz = zone(request.args.get("tz") or settings().report_time_zone)
    try:
        days = int(request.args.get("days", 30))
    except ValueError:
        raise CertpushError("'days' must be a whole number") from None
    return Period.choose(
        first=request.args.get("from"), last=request.args.get("to"), days=days, now=now, tz=tz
    )


@api.get("/reports/push-validation")
def push_validation() -> Response | tuple[Response, int]:
    """KPIs, trend and failure reasons of a period.

    Query: ``from`` and ``to`` (YYYY-MM-DD, inclusive) or ``days`` (default 30),
    ``tz`` (IANA name; default CERTPUSH_REPORT_TZ), ``granularity`` (day | week).
    """
    try:
        require_permission(Permission.VIEW_REPORTS)
    except (AuthError, PermissionDenied) as exc:
        return _error(str(exc), 403)
    try:
        period = _period(datetime.now(UTC))
        grain = request.args.get("granularity")
        granularity = Granularity(grain) if grain else period.default_granularity()
    except ValueError:
        return _error("'granularity' must be 'day' or 'week'", 400)
    except CertpushError as exc:
        return _error(str(exc), 400)
    with session_scope(settings().database_url) as db:
        k = reports.kpis(db, period)
        trend = reports.trend(db, period, granularity)
        reasons = reports.failure_reasons(db, period)
        head = chain_head(db, period.end)
    return jsonify(
        period={
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "time_zone": period.tz.key,
            "granularity": granularity.value,
        },
        kpis={key: _number(value) for key, value in k.to_json().items()},
        trend=[
            {
                "from": row.bucket.isoformat(),
                "to": row.bucket_last.isoformat(),
                "verified": int(row.verified),
                "failed_verification": int(row.failed_verification),
                "push_failed": int(row.push_failed),
                "pending": int(row.pending),
                "success_rate": _number(float(row.success_rate)),
            }
            for row in trend.itertuples()
        ],
        failure_reasons=[
            {
                "reason": row.reason,
                "label": row.label,
                "work_orders": int(row.work_orders),
                "endpoints": None if pd.isna(row.endpoints) else int(row.endpoints),
            }
            for row in reasons.astype(object).itertuples()
        ],
        evidence={
            "audit_chain_head": {"seq": head.seq, "hash": head.hash},
            "before": period.end.isoformat().replace("+00:00", "Z"),
        },
    )
