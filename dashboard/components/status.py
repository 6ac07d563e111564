"""Status badge and colour legend, both drawn from the one STATUS_TABLE."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from data.domain.status import STATUS_TABLE, Status


def status_badge(status: Status) -> html.Span:
    """A coloured pill with the status name (the name is there for colour-blind readers)."""
    style = STATUS_TABLE[status]
    return html.Span(
        style.label,
        className="badge status-badge",
        style={"backgroundColor": style.hex, "color": style.text_hex},
        title=style.meaning,
    )


def status_legend() -> dbc.Card:
    """All eight colours, highest precedence first, with what each means."""
    rows = [
        html.Li(
            [
                html.Span(
                    className="legend-swatch",
                    style={"backgroundColor": style.hex},
                ),
                html.Strong(style.label, className="me-2"),
                html.Span(style.meaning, className="text-muted small"),
            ],
            className="legend-row",
            **{"data-status": style.status.value},
        )
        for style in STATUS_TABLE.values()
    ]
    return dbc.Card(
        [
            dbc.CardHeader("Status colours (highest precedence first)"),
            dbc.CardBody(html.Ul(rows, className="list-unstyled mb-0")),
        ],
        id=ids.STATUS_LEGEND,
        className="mt-3",
    )
