"""The Push Validation Report page's pieces: KPI cards, the drill-down list, the list of
produced weekly reports. Pure builders from data-layer values; every value is a string
child (escaped by React), never HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboard import ids
from dashboard.components.workorders import topology_href
from data.domain.push_validation import STYLES, PushValidation, human_duration
from data.report_files import ReportInfo
from data.reports import Kpis, Selection, failure_label


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


@dataclass(frozen=True)
class KpiCard:
    key: str
    label: str
    value: str
    hint: str


def kpi_values(k: Kpis) -> list[KpiCard]:
    """The seven numbers of the report header, in reading order."""
    s = STYLES
    return [
        KpiCard("pushes", "Pushes", f"{k.pushes:,}", "Pushes that ended in the period."),
        KpiCard("verified", "Verified", f"{k.verified:,}", s[PushValidation.VERIFIED].meaning),
        KpiCard(
            "failed_verification",
            "Failed verification",
            f"{k.failed_verification:,}",
            s[PushValidation.FAILED_VERIFICATION].meaning,
        ),
        KpiCard(
            "push_failed",
            "Push failed",
            f"{k.push_failed:,}",
            s[PushValidation.PUSH_FAILED].meaning,
        ),
        KpiCard("pending", "Pending", f"{k.pending:,}", s[PushValidation.PENDING].meaning),
        KpiCard(
            "success_rate",
            "Success rate",
            _percent(k.success_rate),
            "Verified share of the decided pushes (pending ones are not decided).",
        ),
        KpiCard(
            "median",
            "Median request → verified",
            human_duration(k.median_to_verified_s),
            "From the push request to the sweep that verified it, over verified pushes.",
        ),
    ]


def kpi_cards(k: Kpis) -> list[dbc.Col]:
    return [
        dbc.Col(
            html.Div(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.Div(card.label, className="small text-muted text-uppercase"),
                            html.H3(card.value, className="mb-0 mt-1 report-kpi-value"),
                        ]
                    ),
                    className="h-100 text-center",
                ),
                className="h-100 report-kpi",
                title=card.hint,
                **{"data-kpi": card.key},
            ),
            xs=6,
            md=3,
            xl=True,
            className="mb-2",
        )
        for card in kpi_values(k)
    ]


def reason_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Grid rows of the failure reasons table; ``reason`` is the key a click drills into."""
    return [
        {
            "reason": r.reason,
            "label": r.label,
            "work_orders": int(r.work_orders),
            "endpoints": None if pd.isna(r.endpoints) else int(r.endpoints),
        }
        for r in frame.itertuples()
    ]


REASON_COLUMNS = [
    {"field": "label", "headerName": "Reason", "flex": 1, "tooltipField": "reason"},
    {"field": "work_orders", "headerName": "Pushes", "width": 110, "type": "numericColumn"},
    {"field": "endpoints", "headerName": "Endpoints", "width": 120, "type": "numericColumn"},
]


def describe_selection(sel: Selection) -> str:
    """What was clicked, in words: 'Failed verification, 2026-05-04'."""
    parts = []
    if sel.state == "failed":
        parts.append("Failed (both kinds)")
    elif sel.state:
        parts.append(STYLES[PushValidation(sel.state)].label)
    if sel.bucket_first:
        if sel.bucket_last and sel.bucket_last != sel.bucket_first:
            parts.append(f"{sel.bucket_first} to {sel.bucket_last}")
        else:
            parts.append(sel.bucket_first)
    if sel.reason:
        parts.append(failure_label(sel.reason))
    if sel.device:
        parts.append(f"device {sel.device}")
    if sel.connector_type:
        parts.append(f"connector type {sel.connector_type}")
    return ", ".join(parts) or "All pushes"


def _when(moment: datetime | None, zone: tzinfo) -> str:
    if moment is None or pd.isna(moment):
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def drilldown_placeholder() -> html.Div:
    return html.Div(
        "Click a bar of the trend or breakdown charts, or a failure reason, to list the "
        "pushes behind it.",
        className="text-muted small",
    )


def drilldown(selection: Selection, frame: pd.DataFrame, total: int, zone: tzinfo) -> list[Any]:
    """The work orders behind a click: 'N of total' and one linked row per push."""
    heading = html.Div(
        [
            html.Strong(describe_selection(selection)),
            html.Span(
                f" — {len(frame):,} of {total:,} push{'es' if total != 1 else ''}",
                className="text-muted report-drilldown-count",
            ),
        ],
        className="mb-2",
    )
    if not total:
        return [heading, html.Div("No pushes match.", className="text-muted small")]
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in (
                    "Work order",
                    "Request",
                    "Certificate",
                    "Device",
                    "Type",
                    "Pushed at",
                    "State",
                    "Reason",
                )
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(r.work_order),
                    html.Td(r.request),
                    html.Td(
                        dcc.Link(
                            r.certificate or r.fingerprint[:16],
                            href=topology_href(r.fingerprint),
                            title="Open this certificate's topology",
                        )
                    ),
                    html.Td(r.device),
                    html.Td(r.connector_type),
                    html.Td(_when(r.pushed_at, zone)),
                    html.Td(r.state),
                    html.Td(r.reason, className="small"),
                ],
                className="report-drilldown-row",
            )
            for r in frame.itertuples()
        ]
    )
    table = dbc.Table(
        [head, body], size="sm", striped=True, hover=True, responsive=True, className="mb-0"
    )
    return [heading, html.Div(table, style={"maxHeight": "420px", "overflowY": "auto"})]


def weekly_list(reports: Sequence[ReportInfo]) -> Any:
    if not reports:
        return html.Div("No weekly report has been produced yet.", className="text-muted small")
    items = []
    for r in reports:
        buttons = [
            dbc.Button(
                fmt.upper(),
                id=ids.report_weekly_file(r.id, fmt),
                size="sm",
                color="link",
                className="py-0 px-1",
            )
            for fmt in r.formats
        ]
        produced = f", produced {r.produced_at:%Y-%m-%d %H:%M} UTC" if r.produced_at else ""
        items.append(
            html.Li(
                [
                    html.Span(f"{r.label}{produced}"),
                    html.Span(buttons, className="ms-2"),
                ],
                className="report-weekly-item",
            )
        )
    return html.Ul(items, className="list-unstyled mb-0")
