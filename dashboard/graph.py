"""Domain objects to cytoscape elements, and the one fixed stylesheet that colours them.

Elements are plain dicts whose ``classes`` name a status or a state; colours come only
from STATUS_TABLE, CONNECTOR_STATES and ENDPOINT_STATES, through the stylesheet built
once at import. Element data never carries a colour.

The graph is a tree: certificate -> connectors -> endpoints. Cytoscape in a browser
without a GPU draws a few hundred nodes comfortably and stutters at a few thousand
(STACK.md, "Measured UI limits"), so a connector with more than FAN_LIMIT endpoints is
drawn as one summary node with counts per state, and even an expanded connector draws
at most MAX_EXPANDED endpoints plus a "+N more" node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from data.domain.nodes import (
    CONNECTOR_STATES,
    ENDPOINT_STATES,
    ConnectorView,
    EndpointState,
    EndpointView,
)
from data.domain.status import STATUS_TABLE
from data.queries import CertificateDetail

# Above this many endpoints a connector collapses into one summary node (STACK.md: ~25).
FAN_LIMIT = 25
# An expanded connector draws at most this many endpoint nodes: 20 connectors of 1,000
# endpoints must never turn one tap into a 1,000-node redraw.
MAX_EXPANDED = 200
# Longer connector details (e.g. a push failure reason) go to the hover title only.
DETAIL_IN_LABEL = 40
# Labels are drawn on a canvas; cut runaway names so one node cannot cover the graph.
LABEL_CHARS = 48

# breadthfirst draws a certificate -> connectors -> endpoints tree of a few hundred nodes
# in well under a second and keeps the levels readable; cose freezes the tab (STACK.md),
# and concentric's default rings (by degree) mix the levels up. Measured with
# bench/topology_fan.py.
LAYOUT: dict[str, Any] = {"name": "breadthfirst", "directed": True, "roots": "#certificate"}

Element = dict[str, Any]


def _pie_share_field(state: EndpointState) -> str:
    """The data field holding a summary's percentage of endpoints in ``state``."""
    return f"share_{state.value.replace('-', '_')}"


def _stylesheet() -> list[dict[str, Any]]:
    sheet: list[dict[str, Any]] = [
        {
            "selector": "node",
            "style": {
                "label": "data(label)",
                "font-size": "11px",
                "text-valign": "bottom",
                "text-margin-y": "6px",
                "text-wrap": "ellipsis",
                "text-max-width": "180px",
                "border-width": 2,
                "border-color": "#444",
            },
        },
        {
            "selector": ".certificate",
            "style": {"shape": "round-rectangle", "width": 64, "height": 44, "font-size": "13px"},
        },
        {
            # name / state / short detail, one per line; wrapped, not ellipsised, so the
            # state line is never cut off by a long name.
            "selector": ".connector",
            "style": {
                "shape": "hexagon",
                "width": 40,
                "height": 40,
                "text-wrap": "wrap",
                "text-max-width": "110px",
            },
        },
        {"selector": ".endpoint", "style": {"shape": "ellipse", "width": 24, "height": 24}},
        {
            # A stand-in for many endpoints: a box (not a circle, so it never reads as one
            # endpoint) holding a pie of the states, with the counts as a stacked label.
            "selector": ".endpoint-summary",
            "style": {
                "shape": "round-rectangle",
                "width": 48,
                "height": 40,
                "background-color": "#ffffff",
                "border-style": "dashed",
                "text-wrap": "wrap",
                "text-max-width": "110px",
                "pie-size": "80%",
                **{
                    key: value
                    for i, (state, style) in enumerate(ENDPOINT_STATES.items(), start=1)
                    for key, value in (
                        (f"pie-{i}-background-color", style.hex),
                        (f"pie-{i}-background-size", f"data({_pie_share_field(state)})"),
                    )
                },
            },
        },
        {"selector": ".endpoint-more", "style": {"border-style": "dotted"}},
        # A work order still in flight: a double border, so the eye finds what is moving.
        {"selector": ".workorder-open", "style": {"border-style": "double", "border-width": 6}},
        {"selector": "edge", "style": {"width": 2, "line-color": "#9aa", "curve-style": "bezier"}},
        {"selector": ":selected", "style": {"border-width": 4, "border-color": "#0d6efd"}},
    ]
    for status, style in STATUS_TABLE.items():
        sheet.append(
            {"selector": f".status-{status.value}", "style": {"background-color": style.hex}}
        )
    for connector_state, node_style in CONNECTOR_STATES.items():
        sheet.append(
            {
                "selector": f".connector-{connector_state.value}",
                "style": {"background-color": node_style.hex},
            }
        )
    for endpoint_state, node_style in ENDPOINT_STATES.items():
        sheet.append(
            {
                "selector": f".endpoint-{endpoint_state.value}",
                "style": {"background-color": node_style.hex},
            }
        )
    return sheet


STYLESHEET: list[dict[str, Any]] = _stylesheet()


def _one_line(text: str, limit: int = LABEL_CHARS) -> str:
    """Collapse newlines and runs of spaces, and cut long text, so a label keeps its lines."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _edge(source: str, target: str) -> Element:
    return {"data": {"id": f"edge-{source}-{target}", "source": source, "target": target}}


def certificate_node(detail: CertificateDetail) -> Element:
    """The root of the tree, coloured by the certificate's status."""
    row = detail.row
    status = STATUS_TABLE[row.status]
    name = row.common_name or "(no common name)"
    return {
        "data": {
            "id": "certificate",
            "label": _one_line(name),
            "kind": "certificate",
            "fingerprint": row.fingerprint_sha256,
            "status": status.label,
            "title": (
                f"Certificate {name}\n"
                f"{status.label}: {status.meaning}\n"
                f"Not after {row.not_after:%Y-%m-%d %H:%M} UTC\n"
                f"SHA-256 {row.fingerprint_sha256}"
            ),
        },
        "classes": f"certificate status-{row.status.value}",
    }


def work_order_line(connector: ConnectorView) -> str:
    """ "WO-000123 · Push-Review In Progress": the work order beside the connector, or ""."""
    if not connector.work_order:
        return ""
    return f"{connector.work_order} · {connector.work_order_status or ''}".strip()


def connector_node(connector: ConnectorView) -> Element:
    """A connector: name, its work order, push state and (when short) its detail.

    Coloured by the push state; a work order still in flight adds a double border.
    """
    style = CONNECTOR_STATES[connector.state]
    name = _one_line(connector.name) or "(unnamed connector)"
    lines = [name]
    work_order = work_order_line(connector)
    if work_order:
        lines.append(work_order)
    lines.append(style.label)
    detail = " ".join(connector.detail.split())
    if detail and len(detail) <= DETAIL_IN_LABEL:
        lines.append(detail)
    title = f"Connector {connector.name} ({connector.type})\n{style.label}: {style.meaning}"
    if detail:
        title += f"\n{connector.detail}"
    if work_order:
        title += f"\nWork order {work_order}"
        if connector.run_at is not None:
            title += f" (push at {connector.run_at:%Y-%m-%d %H:%M} UTC)"
        if connector.work_order_reason:
            title += f"\n{connector.work_order_reason}"
    classes = f"connector connector-{connector.state.value}"
    if work_order and not connector.work_order_final:
        classes += " workorder-open"
    return {
        "data": {
            "id": f"connector-{connector.id}",
            "label": "\n".join(lines),
            "kind": "connector",
            "connector_id": connector.id,
            "connector_type": connector.type,
            "state": connector.state.value,
            "work_order": connector.work_order,
            "work_order_status": connector.work_order_status,
            "endpoint_count": len(connector.endpoints),
            "title": f"{title}\n{_count_phrase(len(connector.endpoints))}",
        },
        "classes": classes,
    }


def endpoint_node(endpoint: EndpointView, connector_id: int) -> Element:
    """One IP:port (with SNI name), coloured by its latest verification outcome."""
    style = ENDPOINT_STATES[endpoint.state]
    return {
        "data": {
            "id": f"endpoint-{endpoint.id}",
            "label": _one_line(endpoint.address),
            "kind": "endpoint",
            "endpoint_id": endpoint.id,
            "connector_id": connector_id,
            "state": endpoint.state.value,
            "title": f"{endpoint.address}\n{style.label}: {style.meaning}"
            + (f"\n{endpoint.detail}" if endpoint.detail else ""),
        },
        "classes": f"endpoint endpoint-{endpoint.state.value}",
    }


def _count_phrase(count: int) -> str:
    return f"{count:,} endpoint" + ("" if count == 1 else "s")


def state_counts(endpoints: Iterable[EndpointView]) -> list[tuple[EndpointState, int]]:
    """Endpoints per state in ENDPOINT_STATES order, states with none left out."""
    counts = Counter(e.state for e in endpoints)
    return [(state, counts[state]) for state in ENDPOINT_STATES if counts[state]]


def summary_node(
    connector: ConnectorView, endpoints: Sequence[EndpointView], *, expanded: bool
) -> Element:
    """One node standing for many endpoints, with counts per state.

    Collapsed (``expanded`` false) it stands for all of the connector's endpoints and a
    tap should expand the connector; expanded it is the "+N more" node for the endpoints
    beyond MAX_EXPANDED and a tap may collapse the connector again. Either way the data
    carries ``connector_id`` and ``expanded`` so the tap callback needs nothing else.
    """
    counts = state_counts(endpoints)
    total = len(endpoints)
    head = f"+{total:,} more" if expanded else _count_phrase(total)
    # One state per line: a row of twenty summaries stays narrow enough not to overlap.
    lines = [head, *(f"{n:,} {ENDPOINT_STATES[state].label.lower()}" for state, n in counts)]
    shares = {_pie_share_field(state): 0.0 for state in ENDPOINT_STATES}
    for state, n in counts:
        shares[_pie_share_field(state)] = round(100 * n / total, 2)
    action = (
        "Tap to collapse them."
        if expanded
        else f"Tap to show them (at most {MAX_EXPANDED:,} are drawn)."
    )
    title = f"{connector.name}: {head}\n{' · '.join(lines[1:])}\n{action}"
    return {
        "data": {
            "id": f"{'more' if expanded else 'summary'}-{connector.id}",
            "label": "\n".join(lines),
            "kind": "summary",
            "connector_id": connector.id,
            "expanded": expanded,
            "endpoint_count": total,
            "counts": {state.value: n for state, n in counts},
            **shares,
            "title": title,
        },
        "classes": "endpoint-summary endpoint-more" if expanded else "endpoint-summary",
    }


def topology_elements(
    detail: CertificateDetail,
    connectors: Sequence[ConnectorView] = (),
    expanded: Collection[int] = (),
) -> list[Element]:
    """Cytoscape elements for a certificate, its connectors and their endpoints.

    ``expanded`` holds the ids of connectors the user opened: those draw their first
    MAX_EXPANDED endpoints one by one (plus a "+N more" node) even above FAN_LIMIT.
    20 connectors of 1,000 endpoints each, none expanded, make 41 nodes.
    """
    opened = frozenset(expanded)
    elements: list[Element] = [certificate_node(detail)]
    seen: set[str] = {"certificate"}

    def add_node(node: Element, parent: str) -> None:
        # Cytoscape refuses a second element with the same id and then draws nothing:
        # an endpoint listed under two connectors is one node with two edges.
        edge = _edge(parent, node["data"]["id"])
        for element in (node, edge):
            if element["data"]["id"] not in seen:
                seen.add(element["data"]["id"])
                elements.append(element)

    for connector in connectors:
        parent = f"connector-{connector.id}"
        add_node(connector_node(connector), "certificate")
        endpoints = connector.endpoints
        if len(endpoints) > FAN_LIMIT and connector.id not in opened:
            add_node(summary_node(connector, endpoints, expanded=False), parent)
            continue
        for endpoint in endpoints[:MAX_EXPANDED]:
            add_node(endpoint_node(endpoint, connector.id), parent)
        if len(endpoints) > MAX_EXPANDED:
            rest = endpoints[MAX_EXPANDED:]
            add_node(summary_node(connector, rest, expanded=True), parent)
    return elements
