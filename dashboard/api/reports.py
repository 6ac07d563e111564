"""``/api/v1/reports/push-validation``: the report's numbers for other tools (SIEM, tickets).

The numbers come from the same functions and the same push-validation rule as the
Reports page and its exports. The path is the one the first, session-only API had; it
now takes tokens and answers errors as problems like every route.
"""

from __future__ import annotations

import math
from datetime import date

import marshmallow as ma
import pandas as pd
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.problems import VALIDATION, Problem
from dashboard.api.schemas import Strict
from dashboard.auth import now, settings
from data import reports
from data.audit_chain import chain_head
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.periods import Granularity, Period, zone
from data.domain.roles import Permission

PREFIX = "/reports"
blp = Blueprint("reports", __name__, description="The Push Validation Report")
F = ma.fields


class ReportQuery(Strict):
    from_ = F.Date(data_key="from", metadata={"description": "First day (YYYY-MM-DD)"})
    to = F.Date(metadata={"description": "Last day, inclusive"})
    days = F.Integer(
        load_default=30,
        validate=validate.Range(1, 3660),
        metadata={"description": "The last N days (without from/to)"},
    )
    tz = F.String(
        validate=validate.Length(1, 64),
        metadata={"description": "IANA zone (default CERTPUSH_REPORT_TZ)"},
    )
    granularity = F.String(validate=validate.OneOf([g.value for g in Granularity]))


class ReportOut(ma.Schema):
    period = F.Dict(required=True)
    kpis = F.Dict(required=True)
    trend = F.List(F.Dict(), required=True)
    failure_reasons = F.List(F.Dict(), required=True)
    evidence = F.Dict(required=True)


def _number(value):
    """JSON has no NaN: a rate with nothing decided is null."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@blp.route("/push-validation", methods=["GET"])
@blp.arguments(ReportQuery, location="query")
@blp.response(200, ReportOut)
def push_validation(args: dict):
    """KPIs, trend and failure reasons of a period, with the audit chain head."""
    caller(Permission.VIEW_REPORTS)
    try:
        tz = zone(args.get("tz") or settings().report_time_zone)
        period = Period.choose(
            first=_iso(args.get("from_")),
            last=_iso(args.get("to")),
            days=args["days"],
            now=now(),
            tz=tz,
        )
    except CertpushError as exc:
        raise Problem(VALIDATION, str(exc)) from None
    grain = args.get("granularity")
    granularity = Granularity(grain) if grain else period.default_granularity()
    with session_scope(settings().database_url) as db:
        k = reports.kpis(db, period)
        trend = reports.trend(db, period, granularity)
        reasons = reports.failure_reasons(db, period)
        head = chain_head(db, period.end)
    return dict(
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
