"""The Push Validation Report as files: CSV (one row per push), XLSX and PDF.

Every number comes from ``data/reports.py``, so a file says what the page says.
Per-push rows are streamed (CSV and the XLSX "Pushes" sheet are written row by row),
so a period of 100,000 pushes never sits in memory. Only inventory facts and outcomes
are read: no private key or connector secret can reach a file.

PDF charts are PNG images drawn by Plotly through kaleido (one headless Chromium kept
per process). Where Chromium is missing or fails, or ``CERTPUSH_STATIC_CHARTS=native``
is set, the PDF draws the same charts natively with reportlab instead: an export never
fails because a browser is absent.
"""

from __future__ import annotations

import atexit
import csv
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.orm import Session

from data import reports
from data.audit_chain import chain_head
from data.domain.audit_chain import ChainHead
from data.domain.errors import CertpushError
from data.domain.periods import Granularity, Period
from data.domain.push_validation import STYLES, PushValidation, human_duration
from data.report_files import FORMATS
from reports import charts

log = logging.getLogger("certpush.reports")

TITLE = "Push Validation Report"
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row
STATES = list(PushValidation)
SUCCESS_LINE = "#222222"  # the success-rate line: black prints on any fill
PATTERN_INK = "#333333"  # hatching drawn over the gray failure fills

# Spreadsheet software runs a cell starting with one of these as a formula. A
# certificate's Common Name comes from outside, so CSV text cells are defused.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = {"certificate_cn", "device", "requested_by", "reason"}
_DATETIME_COLUMNS = {"requested_at", "pushed_at", "verified_at"}

COLUMN_TITLES = {
    "work_order": "Work order",
    "request": "Request",
    "certificate_cn": "Certificate CN",
    "certificate_fingerprint": "Certificate SHA-256",
    "device": "Device",
    "connector_type": "Connector type",
    "requested_by": "Requested by",
    "requested_at": "Requested at (UTC)",
    "pushed_at": "Pushed at (UTC)",
    "verified_at": "Verified at (UTC)",
    "state": "State",
    "endpoints_checked": "Endpoints checked",
    "endpoints_failed": "Endpoints failed",
    "failure_outcomes": "Failure outcomes",
    "reason": "Reason",
    "connector_type_": "Connector type",
    "pushes": "Pushes",
    "success_rate": "Success rate",
    "failed": "Failed",
    "label": "Reason",
    "work_orders": "Work orders",
    "endpoints": "Endpoints",
} | {s.value: STYLES[s].label for s in STATES}


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise CertpushError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def file_name(period: Period, fmt: str) -> str:
    """The file name a download or export gets: push-validation_<first>_<last>.<fmt>."""
    return f"push-validation_{period.first:%Y-%m-%d}_{period.last:%Y-%m-%d}.{_check_format(fmt)}"


def write_report(session: Session, period: Period, fmt: str, out: Path, *, now: datetime) -> None:
    """Write the report for ``period`` to ``out``; the file appears whole or not at all.

    ``now`` is the produced-at time printed in the report. Raises CertpushError for an
    unknown format and OSError when ``out`` cannot be written.
    """
    writer = _WRITERS[_check_format(fmt)]
    out = Path(out)
    handle, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        writer(session, period, temp, now)
        temp.chmod(0o644)
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)


def report_bytes(session: Session, period: Period, fmt: str, *, now: datetime) -> bytes:
    """The report as bytes (the web page's download); built in a temporary file."""
    _check_format(fmt)
    with tempfile.TemporaryDirectory(prefix="certpush-report-") as folder:
        path = Path(folder) / file_name(period, fmt)
        write_report(session, period, fmt, path, now=now)
        return path.read_bytes()


# ----------------------------------------------------------------------------- shared


@dataclass(frozen=True)
class _Summary:
    """What the XLSX summary and the PDF both show, queried once."""

    kpis: reports.Kpis
    granularity: Granularity
    trend: pd.DataFrame
    reasons: pd.DataFrame
    by_type: pd.DataFrame
    by_device: pd.DataFrame
    evidence: ChainHead  # the audit chain's head at the end of the period


def _summary(session: Session, period: Period) -> _Summary:
    granularity = period.default_granularity()
    return _Summary(
        kpis=reports.kpis(session, period),
        granularity=granularity,
        trend=reports.trend(session, period, granularity),
        reasons=reports.failure_reasons(session, period),
        by_type=reports.by_connector_type(session, period),
        by_device=reports.by_device(session, period),
        evidence=chain_head(session, period.end),
    )


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None or pd.isna(rate) else f"{rate:.1%}"


def _produced(now: datetime, period: Period) -> str:
    local = now.astimezone(period.tz)
    return (
        f"Produced {local:%Y-%m-%d %H:%M} ({period.tz.key}), "
        f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )


def kpi_lines(k: reports.Kpis) -> list[tuple[str, str]]:
    """The key figures as (label, text), in the order every format shows them."""
    return [
        ("Pushes", str(k.pushes)),
        ("Verified", str(k.verified)),
        ("Failed verification", str(k.failed_verification)),
        ("Push failed", str(k.push_failed)),
        ("Pending", str(k.pending)),
        ("Success rate (verified / decided)", _percent(k.success_rate)),
        ("Median time from request to verified", human_duration(k.median_to_verified_s, "n/a")),
    ]


def evidence_lines(head: ChainHead, period: Period) -> list[tuple[str, str]]:
    """The audit chain head a report carries, as (label, text): a copy kept outside the
    database, against which ``certpush audit verify --expect`` proves the trail unchanged."""
    end = period.end
    return [
        (
            "Audit chain head at the end of the period",
            f"the last audit event before {end.astimezone(period.tz):%Y-%m-%d %H:%M}"
            f" ({period.tz.key}), {end:%Y-%m-%d %H:%M} UTC",
        ),
        ("Event seq", str(head.seq)),
        ("Event SHA-256", head.hash),
        ("Check", f"certpush audit verify --expect {head}"),
    ]


def kpi_summary(k: reports.Kpis) -> str:
    """One line of key figures (the CLI prints it)."""
    median = human_duration(k.median_to_verified_s, "n/a")
    return (
        f"{k.pushes} pushes: {k.verified} verified, {k.failed_verification} failed verification,"
        f" {k.push_failed} push failed, {k.pending} pending; success rate"
        f" {_percent(k.success_rate)}; median to verified {median}"
    )


def _bucket_label(first: date, last: date, granularity: Granularity) -> str:
    if granularity is Granularity.DAY:
        return f"{first:%a %d %b}"
    return f"{first:%d %b}" if first == last else f"{first:%d %b}–{last:%d %b}"


# ----------------------------------------------------------------------------- CSV


def _csv_value(column: str, value) -> str | int:
    if value is None:
        return ""
    if column in _DATETIME_COLUMNS:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if column in _TEXT_COLUMNS and isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write_csv(session: Session, period: Period, path: Path, now: datetime) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(reports.PUSH_COLUMNS)
        for row in reports.push_rows(session, period):
            writer.writerow([_csv_value(c, row[c]) for c in reports.PUSH_COLUMNS])


# ----------------------------------------------------------------------------- XLSX

# Plotly bar pattern → the nearest Excel fill pattern, so print in gray stays readable.
_XLSX_PATTERNS = {"/": "wide_upward_diagonal", "x": "outlined_diamond", ".": "percent_50"}


def _xlsx_fill(state: PushValidation) -> dict:
    style = STYLES[state]
    if not style.pattern:
        return {"fill": {"color": style.colour}}
    if style.pattern == ".":  # a light dotted fill of the colour itself
        fg, bg = style.colour, "#FFFFFF"
    else:
        fg, bg = PATTERN_INK, style.colour
    return {
        "pattern": {"pattern": _XLSX_PATTERNS[style.pattern], "fg_color": fg, "bg_color": bg},
        "border": {"color": style.colour},
    }


class _Formats:
    def __init__(self, workbook) -> None:
        self.title = workbook.add_format({"bold": True, "font_size": 16})
        self.bold = workbook.add_format({"bold": True})
        self.header = workbook.add_format(
            {"bold": True, "bg_color": "#E8E8E8", "bottom": 1, "text_wrap": True}
        )
        self.percent = workbook.add_format({"num_format": "0.0%"})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.note = workbook.add_format({"italic": True, "font_color": "#555555"})


def _write_frame(ws, f: _Formats, frame: pd.DataFrame, first_row: int = 0) -> int:
    """A small table with a bold header; returns the row after it."""
    columns = list(frame.columns)
    for c, column in enumerate(columns):
        ws.write_string(first_row, c, COLUMN_TITLES.get(column, column), f.header)
        ws.set_column(c, c, max(12, len(COLUMN_TITLES.get(column, column)) + 2))
    for r, values in enumerate(frame.itertuples(index=False), start=first_row + 1):
        for c, (column, value) in enumerate(zip(columns, values, strict=True)):
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                continue
            if isinstance(value, str):
                ws.write_string(r, c, value)
            elif column == "success_rate":
                ws.write_number(r, c, float(value), f.percent)
            elif isinstance(value, date):
                ws.write_datetime(r, c, value, f.date)
            else:
                ws.write_number(r, c, float(value))
    return first_row + 1 + len(frame)


def _write_summary_sheet(workbook, f: _Formats, period: Period, now: datetime, s: _Summary):
    ws = workbook.add_worksheet("Summary")
    ws.set_column(0, 0, 38)
    ws.set_column(1, 8, 14)
    ws.write_string(0, 0, TITLE, f.title)
    ws.write_string(1, 0, f"Period: {period.label()}")
    ws.write_string(2, 0, _produced(now, period))
    ws.write_string(4, 0, "Key figures", f.bold)
    k = s.kpis
    figures: list[tuple[str, float | None, object]] = [
        ("Pushes", k.pushes, None),
        ("Verified", k.verified, None),
        ("Failed verification", k.failed_verification, None),
        ("Push failed", k.push_failed, None),
        ("Pending", k.pending, None),
        ("Success rate (verified / decided)", k.success_rate, f.percent),
        (
            "Median hours from request to verified",
            None if k.median_to_verified_s is None else round(k.median_to_verified_s / 3600, 2),
            None,
        ),
    ]
    row = 5
    for label, value, fmt in figures:
        ws.write_string(row, 0, label)
        if value is None:
            ws.write_string(row, 1, "n/a")
        else:
            ws.write_number(row, 1, value, fmt)
        row += 1
    if k.pushes > XLSX_MAX_ROWS:
        ws.write_string(
            row,
            0,
            f"The Pushes sheet holds the first {XLSX_MAX_ROWS:,} pushes; see the CSV.",
            f.note,
        )
    row += 1
    unit = "day" if s.granularity is Granularity.DAY else "week"
    ws.write_string(
        row, 0, f"Pushes per {unit} (by the day the push ended, {period.tz.key})", f.bold
    )
    table = s.trend.rename(columns={"bucket": "From", "bucket_last": "To"})
    table = table[["From", "To", *[st.value for st in STATES], "pushes", "success_rate"]]
    header = row + 1
    end = _write_frame(ws, f, table, header)
    ws.set_column(0, 0, 38)
    _add_trend_chart(workbook, ws, header, end - 1, unit)


def _add_trend_chart(workbook, ws, header: int, last: int, unit: str) -> None:
    """Stacked columns per state, success rate as a line on a secondary 0–100 % axis."""
    columns = workbook.add_chart({"type": "column", "subtype": "stacked"})
    categories = ["Summary", header + 1, 0, last, 0]
    for i, state in enumerate(STATES, start=2):
        columns.add_series(
            {
                "name": ["Summary", header, i],
                "categories": categories,
                "values": ["Summary", header + 1, i, last, i],
                "gap": 60,
                **_xlsx_fill(state),
            }
        )
    line = workbook.add_chart({"type": "line"})
    rate = 2 + len(STATES) + 1
    line.add_series(
        {
            "name": ["Summary", header, rate],
            "categories": categories,
            "values": ["Summary", header + 1, rate, last, rate],
            "y2_axis": True,
            "line": {"color": SUCCESS_LINE, "width": 2},
            "marker": {"type": "circle", "size": 5, "fill": {"color": SUCCESS_LINE}},
        }
    )
    columns.combine(line)
    columns.set_title({"name": f"Pushes per {unit} and success rate"})
    columns.set_x_axis({"text_axis": True, "num_format": "dd mmm", "num_font": {"rotation": -45}})
    columns.set_y_axis({"name": "Pushes", "min": 0, "major_gridlines": {"visible": True}})
    line.set_y2_axis({"name": "Success rate", "min": 0, "max": 1, "num_format": "0%"})
    columns.set_legend({"position": "bottom"})
    columns.set_size({"width": 820, "height": 420})
    ws.insert_chart(4, 3, columns)


def _write_pushes_sheet(workbook, f: _Formats, session: Session, period: Period) -> None:
    ws = workbook.add_worksheet("Pushes")
    columns = reports.PUSH_COLUMNS
    widths = {"certificate_fingerprint": 66, "certificate_cn": 32, "device": 24, "reason": 40}
    for c, column in enumerate(columns):
        ws.write_string(0, c, COLUMN_TITLES[column], f.header)
        ws.set_column(c, c, widths.get(column, 20 if column in _DATETIME_COLUMNS else 14))
    ws.freeze_panes(1, 0)
    row = 0
    for record in reports.push_rows(session, period):
        if row >= XLSX_MAX_ROWS:
            break
        row += 1
        for c, column in enumerate(columns):
            value = record[column]
            if value is None or value == "":
                continue
            if column in _DATETIME_COLUMNS:
                ws.write_datetime(row, c, value.astimezone(UTC).replace(tzinfo=None), f.datetime)
            elif isinstance(value, int):
                ws.write_number(row, c, value)
            else:
                ws.write_string(row, c, str(value))
    ws.autofilter(0, 0, max(row, 1), len(columns) - 1)


def _write_xlsx(session: Session, period: Period, path: Path, now: datetime) -> None:
    import xlsxwriter

    s = _summary(session, period)
    # constant_memory writes each row to disk as soon as the next one starts (every
    # sheet is written top to bottom); strings never turn into formulas or links.
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "default_date_format": "yyyy-mm-dd",
        },
    )
    workbook.set_properties({"title": f"{TITLE} {period.label()}", "author": "certpush"})
    f = _Formats(workbook)
    _write_summary_sheet(workbook, f, period, now, s)
    _write_pushes_sheet(workbook, f, session, period)
    reasons = s.reasons[["label", "reason", "work_orders", "endpoints"]]
    _freeze(_write_table_sheet(workbook, f, "Failure reasons", reasons))
    type_columns = ["connector_type", *[st.value for st in STATES], "pushes", "success_rate"]
    _freeze(_write_table_sheet(workbook, f, "By connector type", s.by_type[type_columns]))
    device_columns = ["device", *[st.value for st in STATES], "failed", "pushes", "success_rate"]
    _freeze(_write_table_sheet(workbook, f, "By device", s.by_device[device_columns]))
    _write_evidence_sheet(workbook, f, period, s.evidence)
    workbook.close()


def _write_evidence_sheet(workbook, f: _Formats, period: Period, head: ChainHead) -> None:
    ws = workbook.add_worksheet("Evidence")
    ws.set_column(0, 0, 42)
    ws.set_column(1, 1, 70)
    for row, (label, value) in enumerate(evidence_lines(head, period)):
        ws.write_string(row, 0, label, f.bold)
        ws.write_string(row, 1, value)


def _write_table_sheet(workbook, f: _Formats, name: str, frame: pd.DataFrame):
    ws = workbook.add_worksheet(name)
    _write_frame(ws, f, frame)
    ws.set_column(0, 0, 44 if name == "Failure reasons" else 28)
    if len(frame):
        ws.autofilter(0, 0, len(frame), len(frame.columns) - 1)
    return ws


def _freeze(ws) -> None:
    ws.freeze_panes(1, 0)


# ----------------------------------------------------------------------------- charts


def _figures(s: _Summary) -> tuple[go.Figure, go.Figure]:
    """The trend and device breakdown figures, the page's own (reports/charts.py)."""
    return (
        charts.trend_figure(s.trend, s.granularity),
        charts.breakdown_figure(s.by_device, "device", "Devices with the most failures"),
    )


_KALEIDO_LOCK = threading.Lock()
_kaleido_state = {"started": False, "failed": False}


def _stop_kaleido() -> None:
    if _kaleido_state["started"]:
        import kaleido

        kaleido.stop_sync_server(silence_warnings=True)


def _png(fig: go.Figure, width: int, height: int) -> bytes | None:
    """The figure as a PNG through kaleido, or None when no browser can draw it.

    One Chromium is started on first use and kept for the process (a start costs
    seconds, an image a fraction of one). After a failure this process stops trying.
    """
    if os.environ.get("CERTPUSH_STATIC_CHARTS", "kaleido").lower() == "native":
        return None
    with _KALEIDO_LOCK:
        if _kaleido_state["failed"]:
            return None
        try:
            import kaleido

            if not _kaleido_state["started"]:
                kaleido.start_sync_server(mathjax=False, timeout=60, silence_warnings=True)
                _kaleido_state["started"] = True
                atexit.register(_stop_kaleido)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "kopts ignored when using a server"
                return fig.to_image(format="png", width=width, height=height, scale=2)
        except Exception as exc:  # no Chromium, a crash, a timeout: draw natively instead
            log.warning("cannot render charts with kaleido (%s); drawing them natively", exc)
            _kaleido_state["failed"] = True
            return None


# ----------------------------------------------------------------------------- PDF


def _native_stacked_chart(
    categories: list[str], frame: pd.DataFrame, width: float, height: float, horizontal: bool
):
    """The same stacked bars drawn by reportlab (no browser): colours from STYLES."""
    from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    drawing = Drawing(width, height)
    chart = HorizontalBarChart() if horizontal else VerticalBarChart()
    left = 130 if horizontal else 40
    chart.x, chart.y = left, 50
    chart.width, chart.height = width - left - 20, height - 70
    data = [[int(v) for v in frame[state.value]] for state in STATES]
    if horizontal:
        data = [list(reversed(series)) for series in data]
        categories = list(reversed(categories))
    chart.data = data or [[0]]
    chart.categoryAxis.categoryNames = categories
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    if not horizontal:
        chart.categoryAxis.labels.angle = 30
        chart.categoryAxis.labels.boxAnchor = "ne"
    for i, state in enumerate(STATES):
        chart.bars[i].fillColor = colors.HexColor(STYLES[state].colour)
        chart.bars[i].strokeColor = colors.white
    # The two gray failures differ in print by their outline.
    chart.bars[STATES.index(PushValidation.PUSH_FAILED)].strokeColor = colors.black
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = left, 12
    legend.fontSize = 7
    legend.columnMaximum = 1
    legend.alignment = "right"
    legend.deltax = 110
    legend.colorNamePairs = [(colors.HexColor(STYLES[s].colour), STYLES[s].label) for s in STATES]
    drawing.add(legend)
    return drawing


def _pdf_table(rows: list[list[str]], widths: list[float] | None = None):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8E8E8")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F6F6F6")]),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _counts_rows(frame: pd.DataFrame, index_col: str, title: str) -> list[list[str]]:
    rows = [[title, *[STYLES[s].label for s in STATES], "Pushes", "Success rate"]]
    for record in frame.to_dict("records"):
        rows.append(
            [
                str(record[index_col]),
                *[str(int(record[s.value])) for s in STATES],
                str(int(record["pushes"])),
                _percent(record["success_rate"]),
            ]
        )
    return rows


def _chart_flowable(
    fig: go.Figure, native: Callable[[float, float], object], width: float, height: float
):
    from reportlab.platypus import Image

    png = _png(fig, int(width * 2), int(height * 2))
    if png is None:
        return native(width, height)
    return Image(BytesIO(png), width=width, height=height)


def _write_pdf(session: Session, period: Period, path: Path, now: datetime) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    s = _summary(session, period)
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{TITLE} {period.label()}",
        author="certpush",
    )
    width = doc.width
    unit = "day" if s.granularity is Granularity.DAY else "week"
    trend_fig, device_fig = _figures(s)
    labels = [
        _bucket_label(a, b, s.granularity)
        for a, b in zip(s.trend["bucket"], s.trend["bucket_last"], strict=True)
    ]
    devices = s.by_device[s.by_device["pushes"] > 0]
    story: list = [
        Paragraph(TITLE, styles["Title"]),
        Paragraph(escape(f"Period: {period.label()}"), styles["Normal"]),
        Paragraph(escape(_produced(now, period)), styles["Normal"]),
        Spacer(1, 4 * mm),
        Paragraph("Key figures", styles["Heading2"]),
        _pdf_table(
            [["Measure", "Value"], *[list(p) for p in kpi_lines(s.kpis)]], [90 * mm, 40 * mm]
        ),
        Spacer(1, 4 * mm),
        Paragraph(f"Pushes per {unit} and success rate", styles["Heading2"]),
        _chart_flowable(
            trend_fig,
            lambda w, h: _native_stacked_chart(labels, s.trend, w, h, horizontal=False),
            width,
            75 * mm,
        ),
        Paragraph(
            escape(
                "A push counts on the day it ended, in "
                f"{period.tz.key}. Success rate = verified / (pushes − pending)."
            ),
            styles["Italic"],
        ),
        Paragraph("Devices with the most failures", styles["Heading2"]),
    ]
    if len(devices):
        story.append(
            _chart_flowable(
                device_fig,
                lambda w, h: _native_stacked_chart(
                    [str(d) for d in devices["device"]], devices, w, h, horizontal=True
                ),
                width,
                min(150, 30 + 7 * len(devices)) * mm,
            )
        )
    else:
        story.append(Paragraph("No pushes in this period.", styles["Normal"]))
    story.append(Paragraph("Failure reasons", styles["Heading2"]))
    if len(s.reasons):
        rows = [["Reason", "Work orders", "Endpoints"]]
        for record in s.reasons.to_dict("records"):
            endpoints = record["endpoints"]
            rows.append(
                [
                    record["label"],
                    str(int(record["work_orders"])),
                    "" if pd.isna(endpoints) else str(int(endpoints)),
                ]
            )
        story.append(_pdf_table(rows, [120 * mm, 30 * mm, 30 * mm]))
    else:
        story.append(Paragraph("No failures in this period.", styles["Normal"]))
    story.append(Paragraph("By connector type", styles["Heading2"]))
    story.append(_pdf_table(_counts_rows(s.by_type, "connector_type", "Connector type")))
    story.append(Paragraph("Evidence", styles["Heading2"]))
    for label, value in evidence_lines(s.evidence, period):
        story.append(Paragraph(f"<b>{escape(label)}</b>: {escape(value)}", styles["Normal"]))
    doc.build(story)


_WRITERS = {"csv": _write_csv, "xlsx": _write_xlsx, "pdf": _write_pdf}
