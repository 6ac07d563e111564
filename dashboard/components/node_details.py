"""The topology's side panel for one node: everything its short label leaves out.

The rows come from the node's own ``details`` (built by dashboard/graph.py), as the
browser hands them back on hover or tap. They are rendered as string children (text,
never HTML) and bounded, since a browser could send anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids

HINT = "Hover or tap a node for its details."
KIND_TITLES = {
    "certificate": "Certificate",
    "connector": "App connector",
    "endpoint": "Endpoint",
    "summary": "Endpoints",
    "group": "Endpoints",
}
MAX_ROWS = 40
MAX_TEXT = 2000


def _rows(details: Any) -> list[tuple[str, str]]:
    """(label, value) pairs from the node data; anything malformed is left out."""
    if not isinstance(details, list):
        return []
    rows = []
    for item in details[:MAX_ROWS]:
        if isinstance(item, list | tuple) and len(item) == 2:
            rows.append((str(item[0])[:MAX_TEXT], str(item[1])[:MAX_TEXT]))
    return rows


def node_details(node: Mapping[str, Any] | None) -> dbc.Card:
    """A card with the node's details as a definition list, or the hint when there is none."""
    if not node:
        body: Any = html.Span(HINT, className="text-muted small")
        title = "Node details"
    else:
        title = KIND_TITLES.get(str(node.get("kind")), "Node details")
        rows = _rows(node.get("details"))
        if not rows:
            body = html.Span(str(node.get("title") or HINT)[:MAX_TEXT], className="small")
        else:
            parts: list = []
            for label, value in rows:
                parts += [
                    html.Dt(label, className="col-sm-4"),
                    html.Dd(value, className="col-sm-8 text-break"),
                ]
            body = html.Dl(parts, className="row small mb-0")
    return dbc.Card(
        [dbc.CardHeader(title), dbc.CardBody(body)],
        id=ids.TOPOLOGY_NODE_DETAILS + "-card",
        className="mb-3",
    )
