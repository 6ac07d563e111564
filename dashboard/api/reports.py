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
from flask import Response
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.problems import NOT_FOUND, VALIDATION, Problem
from dashboard.api.schemas import Strict
from dashboard.auth import now, settings
from data import report_files, reports
from data.audit_chain import chain_head
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.periods import Granularity, Period, zone
from data.domain.roles import Permission
from reports import exports as report_exports

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


class ExportQuery(ReportQuery):
    format = F.String(required=True, validate=validate.OneOf(report_files.FORMATS))


class WeeklyOut(ma.Schema):
    id = F.Integer(required=True)
    kind = F.String(required=True)
    period_start = F.String(required=True)
    period_end = F.String(required=True)
    time_zone = F.String(required=True)
    produced_at = F.String(required=True)
    formats = F.List(F.String(), required=True)
    links = F.Dict(required=True)


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


def _period(args: dict) -> Period:
    try:
        tz = zone(args.get("tz") or settings().report_time_zone)
        return Period.choose(
            first=_iso(args.get("from_")),
            last=_iso(args.get("to")),
            days=args["days"],
            now=now(),
            tz=tz,
        )
    except CertpushError as exc:
        raise Problem(VALIDATION, str(exc)) from None


def _file(content: bytes, name: str, fmt: str) -> Response:
    return Response(
        content,
        mimetype=report_files.MEDIA_TYPES.get(fmt, "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


FILE_CONTENT = {
    report_files.MEDIA_TYPES[f]: {"schema": {"type": "string", "format": "binary"}}
    for f in report_files.FORMATS
}


@blp.route("/push-validation/export", methods=["GET"])
@blp.arguments(ExportQuery, location="query")
@blp.doc(
    responses={
        200: {
            "description": "The report of the period as CSV, XLSX or PDF",
            "content": FILE_CONTENT,
        }
    }
)
def export(args: dict):
    """The period's report as a file, the same as the Reports page's downloads."""
    caller(Permission.VIEW_REPORTS)
    period, fmt = _period(args), args["format"]
    with session_scope(settings().database_url) as db:
        content = report_exports.report_bytes(db, period, fmt, now=now())
    return _file(content, report_exports.file_name(period, fmt), fmt)


@blp.route("/weekly", methods=["GET"])
@blp.response(200, WeeklyOut(many=True))
def weekly():
    """The weekly reports the scheduler produced, newest first, with their files."""
    caller(Permission.VIEW_REPORTS)
    with session_scope(settings().database_url) as db:
        produced = report_files.list_reports(db)
    return [
        {**r.to_json(),
         "links": {f: f"/api/v1/reports/weekly/{r.id}/{f}" for f in r.formats}}
        for r in produced
    ]  # fmt: skip


@blp.route("/weekly/<int:report_id>/<fmt>", methods=["GET"])
@blp.doc(responses={200: {"description": "One file of a weekly report", "content": FILE_CONTENT}})
def weekly_file(report_id: int, fmt: str):
    """One file (csv, xlsx or pdf) of a produced weekly report."""
    caller(Permission.VIEW_REPORTS)
    try:
        path = report_files.report_file(settings(), report_id, fmt)
    except CertpushError as exc:
        raise Problem(NOT_FOUND, str(exc)) from None
    return _file(path.read_bytes(), path.name, fmt)


@blp.route("/push-validation", methods=["GET"])
@blp.arguments(ReportQuery, location="query")
@blp.response(200, ReportOut)
def push_validation(args: dict):
    """KPIs, trend and failure reasons of a period, with the audit chain head."""
    caller(Permission.VIEW_REPORTS)
    period = _period(args)
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
