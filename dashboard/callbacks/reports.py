"""The Push Validation Report's callbacks: read the period, open one session, ask
``data/reports.py``, hand the result to a builder. Every callback checks the role
itself (VIEW_REPORTS), whatever the menu showed; the page only reads.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dash import ALL, Input, Output, State, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.reports import (
    drilldown,
    drilldown_placeholder,
    kpi_cards,
    reason_rows,
    weekly_list,
)
from data import report_files, reports
from data.db import session_scope
from data.domain.errors import AuthError, CertpushError, PermissionDenied
from data.domain.periods import Granularity, Period, zone
from data.domain.push_validation import PushValidation
from data.domain.roles import Permission
from reports import exports as report_exports
from reports.charts import breakdown_figure, expiry_figure, trend_figure

PRESET_DAYS = {"7": 7, "30": 30, "90": 90}
CUSTOM = "custom"
DRILL_LIMIT = 200
STATES = {"failed", *(s.value for s in PushValidation)}  # what a bar's customdata may name


def _refusal(exc: Exception) -> str:
    return f"Refused: {exc}."


def report_zone():
    return zone(settings().report_time_zone)


def report_period(preset: str | None, start: str | None, end: str | None, now: datetime) -> Period:
    """The period the controls describe, in the report time zone."""
    if preset == CUSTOM:
        return Period.choose(first=start, last=end, days=None, now=now, tz=report_zone())
    if str(preset) not in PRESET_DAYS:
        raise CertpushError(f"unknown period {preset!r}")
    return Period.choose(first=None, last=None, days=PRESET_DAYS[str(preset)], now=now,
                         tz=report_zone())  # fmt: skip


def report_granularity(period: Period, value: str | None) -> Granularity:
    if value in (Granularity.DAY.value, Granularity.WEEK.value):
        return Granularity(value)
    return period.default_granularity()


# ----------------------------------------------------------------------------- controls


@callback(
    Output(ids.REPORT_RANGE_ROW, "className"),
    Output(ids.REPORT_RANGE, "start_date"),
    Output(ids.REPORT_RANGE, "end_date"),
    Input(ids.REPORT_PRESET, "value"),
    State(ids.REPORT_RANGE, "start_date"),
    State(ids.REPORT_RANGE, "end_date"),
)
def show_date_range(preset: str | None, start: str | None, end: str | None):
    """The date pickers appear for a custom period, starting from the last 30 days."""
    require_permission(Permission.VIEW_REPORTS)
    if preset != CUSTOM:
        return "d-none mt-2", no_update, no_update
    if start and end:
        return "mt-2", no_update, no_update
    period = Period.last_days(30, datetime.now(UTC), report_zone())
    return "mt-2", period.first.isoformat(), period.last.isoformat()


# ----------------------------------------------------------------------------- the report

EMPTY_FIGURE: dict = {"data": [], "layout": {"template": "plotly_white"}}


@callback(
    Output(ids.REPORT_PERIOD_LABEL, "children"),
    Output(ids.REPORT_ERROR, "children"),
    Output(ids.REPORT_ERROR, "is_open"),
    Output(ids.REPORT_KPIS, "children"),
    Output(ids.REPORT_TREND, "figure"),
    Output(ids.REPORT_BY_TYPE, "figure"),
    Output(ids.REPORT_BY_DEVICE, "figure"),
    Output(ids.REPORT_REASONS, "rowData"),
    Output(ids.REPORT_EXPIRY, "figure"),
    Input(ids.REPORT_PRESET, "value"),
    Input(ids.REPORT_RANGE, "start_date"),
    Input(ids.REPORT_RANGE, "end_date"),
    Input(ids.REPORT_GRANULARITY, "value"),
)
def render_report(
    preset: str | None, start: str | None, end: str | None, granularity: str | None
) -> tuple[Any, ...]:
    """KPIs, trend, breakdowns, failure reasons and expiry outlook for the chosen period."""
    blank = ("", "", False, [], EMPTY_FIGURE, EMPTY_FIGURE, EMPTY_FIGURE, [], EMPTY_FIGURE)
    try:
        require_permission(Permission.VIEW_REPORTS)
    except (AuthError, PermissionDenied) as exc:
        return ("", _refusal(exc), True, *blank[3:])
    now = datetime.now(UTC)
    try:
        period = report_period(preset, start, end, now)
    except CertpushError as exc:
        return ("", str(exc), True, *blank[3:])
    grain = report_granularity(period, granularity)
    with session_scope(settings().database_url) as db:
        k = reports.kpis(db, period)
        days = reports.trend(db, period, grain)
        types = reports.by_connector_type(db, period)
        devices = reports.by_device(db, period)
        reasons = reports.failure_reasons(db, period)
        outlook = reports.expiry_outlook(db, now)
    return (
        period.label(),
        "",
        False,
        kpi_cards(k),
        trend_figure(days, grain),
        breakdown_figure(types, "connector_type", "Pushes by connector type"),
        breakdown_figure(devices, "device", "Pushes by device"),
        reason_rows(reasons),
        expiry_figure(outlook),
    )


# ----------------------------------------------------------------------------- drill-down


def _customdata(click: dict | None) -> list:
    try:
        data = click["points"][0]["customdata"]
    except (KeyError, IndexError, TypeError):
        return []
    return data if isinstance(data, list) else [data]


def selection_from(trigger: str | None, click: Any) -> reports.Selection | None:
    """A Selection from a chart click or a reasons-grid cell click; None if unreadable."""
    if trigger == ids.REPORT_TREND:
        data = _customdata(click)
        if len(data) < 2 or not data[0]:
            return None
        state = data[2] if len(data) > 2 and data[2] in STATES else None
        return reports.Selection(bucket_first=str(data[0]), bucket_last=str(data[1]), state=state)
    if trigger in (ids.REPORT_BY_DEVICE, ids.REPORT_BY_TYPE):
        data = _customdata(click)
        if not data or not data[0]:
            return None
        if trigger == ids.REPORT_BY_DEVICE:
            return reports.Selection(device=str(data[0]))
        return reports.Selection(connector_type=str(data[0]))
    if trigger == ids.REPORT_REASONS and isinstance(click, dict):
        reason = click.get("rowId") or (click.get("data") or {}).get("reason")
        if reason and ":" in str(reason):
            return reports.Selection(reason=str(reason))
    return None


@callback(
    Output(ids.REPORT_DRILLDOWN, "children"),
    Input(ids.REPORT_TREND, "clickData"),
    Input(ids.REPORT_BY_TYPE, "clickData"),
    Input(ids.REPORT_BY_DEVICE, "clickData"),
    Input(ids.REPORT_REASONS, "cellClicked"),
    Input(ids.REPORT_PRESET, "value"),
    Input(ids.REPORT_RANGE, "start_date"),
    Input(ids.REPORT_RANGE, "end_date"),
    prevent_initial_call=True,
)
def drill_down(
    trend_click: dict | None,
    type_click: dict | None,
    device_click: dict | None,
    reason_click: dict | None,
    preset: str | None,
    start: str | None,
    end: str | None,
) -> Any:
    """The work orders behind the clicked bar, device or reason (newest first)."""
    clicks = {
        ids.REPORT_TREND: trend_click,
        ids.REPORT_BY_TYPE: type_click,
        ids.REPORT_BY_DEVICE: device_click,
        ids.REPORT_REASONS: reason_click,
    }
    trigger = ctx.triggered_id
    return drill_down_for(trigger, clicks.get(trigger), preset, start, end)


def drill_down_for(
    trigger: str | None, click: Any, preset: str | None, start: str | None, end: str | None
) -> Any:
    """``drill_down`` once the trigger is known (callable without a Dash context)."""
    try:
        require_permission(Permission.VIEW_REPORTS)
    except (AuthError, PermissionDenied) as exc:
        return _refusal(exc)
    selection = selection_from(trigger, click)
    if selection is None:
        return drilldown_placeholder()
    try:
        period = report_period(preset, start, end, datetime.now(UTC))
    except CertpushError as exc:
        return str(exc)
    with session_scope(settings().database_url) as db:
        frame, total = reports.work_orders_behind(db, period, selection, limit=DRILL_LIMIT)
    return drilldown(selection, frame, total, period.tz)


# ----------------------------------------------------------------------------- exports


def _download(content: bytes, filename: str, fmt: str) -> dict:
    return {
        "content": base64.b64encode(content).decode("ascii"),
        "filename": filename,
        "base64": True,
        "type": report_files.MEDIA_TYPES.get(fmt, "application/octet-stream"),
    }


@callback(
    Output(ids.REPORT_DOWNLOAD, "data"),
    Output(ids.REPORT_EXPORT_MESSAGE, "children"),
    Input(ids.REPORT_DOWNLOAD_CSV, "n_clicks"),
    Input(ids.REPORT_DOWNLOAD_XLSX, "n_clicks"),
    Input(ids.REPORT_DOWNLOAD_PDF, "n_clicks"),
    State(ids.REPORT_PRESET, "value"),
    State(ids.REPORT_RANGE, "start_date"),
    State(ids.REPORT_RANGE, "end_date"),
    prevent_initial_call=True,
)
def export_report(
    _csv: int | None,
    _xlsx: int | None,
    _pdf: int | None,
    preset: str | None,
    start: str | None,
    end: str | None,
) -> tuple[Any, str]:
    """The chosen period as a CSV, XLSX or PDF file, built by reports/exports.py."""
    fmt = {
        ids.REPORT_DOWNLOAD_CSV: "csv",
        ids.REPORT_DOWNLOAD_XLSX: "xlsx",
        ids.REPORT_DOWNLOAD_PDF: "pdf",
    }.get(ctx.triggered_id)
    return export_for(fmt, preset, start, end)


def export_for(
    fmt: str | None, preset: str | None, start: str | None, end: str | None
) -> tuple[Any, str]:
    """``export_report`` once the format is known (callable without a Dash context)."""
    try:
        require_permission(Permission.VIEW_REPORTS)
    except (AuthError, PermissionDenied) as exc:
        return no_update, _refusal(exc)
    if fmt not in report_files.FORMATS:
        return no_update, ""
    now = datetime.now(UTC)
    try:
        period = report_period(preset, start, end, now)
        with session_scope(settings().database_url) as db:
            content = report_exports.report_bytes(db, period, fmt, now=now)
    except CertpushError as exc:
        return no_update, str(exc)
    return _download(content, report_exports.file_name(period, fmt), fmt), ""


# ----------------------------------------------------------------------------- weekly reports


@callback(Output(ids.REPORT_WEEKLY, "children"), Input(ids.REPORT_WEEKLY, "id"))
def show_weekly_reports(_id: str) -> Any:
    """The weekly reports the scheduler produced, newest first, each with its files."""
    try:
        require_permission(Permission.VIEW_REPORTS)
    except (AuthError, PermissionDenied) as exc:
        return _refusal(exc)
    with session_scope(settings().database_url) as db:
        produced = report_files.list_reports(db)
    return weekly_list(produced)


def weekly_file(report_id: Any, fmt: Any) -> Path:
    """The file of one produced report. Only the id is read from the browser;
    report_files.report_file checks the format, the report and that the stored name
    stays inside the reports folder."""
    if isinstance(report_id, bool):
        raise CertpushError("unknown report file")
    try:
        report_id = int(report_id)
    except (TypeError, ValueError):
        raise CertpushError("unknown report file") from None
    return report_files.report_file(settings(), report_id, str(fmt))


@callback(
    Output(ids.REPORT_WEEKLY_DOWNLOAD, "data"),
    Output(ids.REPORT_EXPORT_MESSAGE, "children", allow_duplicate=True),
    Input(ids.report_weekly_file(ALL, ALL), "n_clicks"),
    prevent_initial_call=True,
)
def download_weekly(_clicks: list[int | None]) -> tuple[Any, str]:
    """One produced weekly report file, for a logged-in user allowed to view reports."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update, ""
    return weekly_download_for(trigger.get("report"), trigger.get("fmt"))


def weekly_download_for(report_id: Any, fmt: Any) -> tuple[Any, str]:
    """``download_weekly`` once the clicked file is known (callable without a Dash context)."""
    try:
        require_permission(Permission.VIEW_REPORTS)
    except (AuthError, PermissionDenied) as exc:
        return no_update, _refusal(exc)
    try:
        path = weekly_file(report_id, fmt)
    except CertpushError as exc:
        return no_update, str(exc)
    return _download(path.read_bytes(), path.name, str(fmt)), ""


__all__ = [
    "download_weekly",
    "drill_down",
    "drill_down_for",
    "export_for",
    "export_report",
    "render_report",
    "report_period",
    "selection_from",
    "show_date_range",
    "show_weekly_reports",
    "weekly_download_for",
    "weekly_file",
]
