"""The work orders page's pieces: grid rows and one work order's history timeline.

Every value is a string child or grid cell text, never HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.graph import verdict_counts
from dashboard.timezones import local_and_utc
from data.domain.push_validation import STYLES, PushValidation, PushVerdict
from data.domain.workflow import UNSUCCESSFUL, WorkOrderStatus
from data.workorders import PAST_TENSE, EventView, WorkOrderView

MINE_OPTIONS = [
    {"label": "All", "value": "all"},
    {"label": "Mine to approve", "value": "approve"},
    {"label": "Mine to implement", "value": "implement"},
]
# How each history action reads in the timeline ("ravi approved").
VERBS = {**PAST_TENSE, "claim": "claimed"}
ANY_STATUS = "any"
STATUS_OPTIONS = [{"label": "Any status", "value": ANY_STATUS}] + [
    {"label": s.value, "value": s.value} for s in WorkOrderStatus
]


def topology_href(fingerprint: str) -> str:
    return f"/certificates/{quote(fingerprint, safe='')}/topology"


def work_order_row(view: WorkOrderView, zone: tzinfo) -> dict[str, Any]:
    """One grid row; times in the browser's zone and in UTC."""
    scheduled = ""
    if view.status is WorkOrderStatus.SCHEDULED and view.run_at:
        scheduled = local_and_utc(view.run_at, zone)
    return {
        "id": view.id,
        "work_order": view.label,
        # Simulated history made by `certpush demo` says so wherever it is listed.
        "request": view.request_label
        + (" (demo)" if view.demo else "")
        + (" (emergency change)" if view.emergency else ""),
        "status": view.status.value,
        "certificate": view.common_name or view.certificate[:16],
        "topology_href": topology_href(view.certificate),
        "connector": view.connector,
        "requester": view.requester,
        "created": local_and_utc(view.created_at, zone),
        "updated": local_and_utc(view.updated_at, zone),
        "scheduled": scheduled,
        "proposed": local_and_utc(view.proposed_at, zone) if view.proposed_at else "",
        "reason": view.reason,
    }


def _event_item(event: EventView, zone: tzinfo) -> html.Li:
    verb = VERBS.get(event.action, event.action)
    change = f"{event.from_status or '—'} → {event.to_status}"
    parts: list = [
        html.Div(
            [
                html.Strong(event.actor),
                f" {verb}",
                html.Span(f" · {local_and_utc(event.at, zone)}", className="text-muted small"),
            ]
        ),
        html.Div(change, className="small"),
    ]
    if event.comment:
        parts.append(html.Div(event.comment, className="small fst-italic text-break"))
    return html.Li(parts, className="list-group-item workorder-event")


def _sweep_item(verdict: PushVerdict, zone: tzinfo) -> html.Li:
    """The verification that decided the push (right after it, or for pushes recorded
    without one the first sweep after it), or that one is awaited."""
    style = STYLES[verdict.state]
    if verdict.decided_at is None:
        parts: list = [
            html.Div([html.Strong("Verification"), " pending"]),
            html.Div(
                "The verification after the push decides whether the certificate is served.",
                className="small text-muted",
            ),
        ]
    else:
        parts = [
            html.Div(
                [
                    html.Strong("Verification"),
                    f" decided: {style.label}",
                    html.Span(
                        f" · {local_and_utc(verdict.decided_at, zone)}",
                        className="text-muted small",
                    ),
                ]
            ),
            html.Div(verdict_counts(verdict), className="small"),
            html.Div(style.meaning, className="small text-muted"),
        ]
    return html.Li(
        parts,
        className="list-group-item workorder-event workorder-sweep",
        **{"data-verdict": verdict.state.value},
    )


def timeline(
    view: WorkOrderView,
    events: Sequence[EventView],
    zone: tzinfo,
    verdict: PushVerdict | None = None,
) -> dbc.Card:
    """Who did what to one work order, when, from which status to which, with comments;
    after the push, the verification sweep that decided it (or that it is awaited)."""
    name = view.common_name or view.certificate[:16]
    head = [
        html.Strong(f"{view.label} · {view.request_label} · {view.status.value}"),
        html.Div(
            [
                f"{view.connector} ← ",
                dcc.Link(name, href=topology_href(view.certificate)),
                f" · requested by {view.requester}",
            ],
            className="small",
        ),
    ]
    if view.reason:
        failed = view.status in UNSUCCESSFUL
        head.append(
            html.Div(view.reason, className="small " + ("text-danger" if failed else "text-muted"))
        )
    items = [(e.at, _event_item(e, zone)) for e in events]
    if verdict is not None and verdict.state is not PushValidation.PUSH_FAILED:
        when = verdict.decided_at
        position = len(items) if when is None else sum(1 for at, _ in items if at <= when)
        items.insert(position, (when, _sweep_item(verdict, zone)))
    return dbc.Card(
        [
            dbc.CardHeader(head),
            html.Ol([item for _, item in items], className="list-group list-group-flush"),
        ]
    )
