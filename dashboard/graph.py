"""Domain objects to cytoscape elements, and the one fixed stylesheet that colours them.

Elements are plain dicts whose ``classes`` name a status or a state; colours come only
from STATUS_TABLE, CONNECTOR_STATES and ENDPOINT_STATES, through the stylesheet built
once at import. Element data never carries a colour.

The graph is a tree: certificate -> connectors -> endpoints. Cytoscape in a browser
without a GPU draws a few hundred nodes comfortably and stutters at a few thousand
(STACK.md, "Measured UI limits"), so a connector with more than FAN_LIMIT endpoints is
drawn as one summary node with counts per state, and even an expanded connector draws
at most MAX_EXPANDED endpoints plus a "+N more" node.

Every node gets its position here (graph_layout.py: rows, framed grids, two rows of
connectors at most, one above the certificate and one below it), so the
page uses cytoscape's ``preset`` layout. Labels are short - a name and a state, wrapped
at word ends and never cut inside a word; everything else about a node is in its
``details`` (label, value pairs), which the page shows on hover and tap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from dashboard.graph_layout import (
    COLUMN_GAP,
    FRAME_FONT_PX,
    FRAME_HEAD,
    FRAME_PAD,
    LABEL_MARGIN,
    LEVEL_GAP,
    LINE_CHARS,
    LINE_HEIGHT,
    MAX_LABEL_PX,
    ROW_LIMIT,
    SHAPES,
    Box,
    fan_clearance,
    grid,
    node_box,
    row,
    split_row,
    wrap,
)
from dashboard.timezones import local_and_utc
from data.domain.nodes import (
    CONNECTOR_STATES,
    ENDPOINT_STATES,
    ConnectorView,
    EndpointState,
    EndpointView,
)
from data.domain.push_validation import STYLES, PushValidation, PushVerdict
from data.domain.status import STATUS_TABLE
from data.queries import CertificateDetail

# Above this many endpoints a connector collapses into one summary node (STACK.md: ~25).
FAN_LIMIT = 25
# An expanded connector draws at most this many endpoint nodes: 20 connectors of 1,000
# endpoints must never turn one tap into a 1,000-node redraw.
MAX_EXPANDED = 200

# Positions come with the elements (graph_layout.py); preset only places and fits them,
# in linear time, so a few hundred nodes never freeze the tab (cose does, STACK.md).
LAYOUT: dict[str, Any] = {"name": "preset", "fit": True, "padding": 24, "animate": False}
# Endpoint labels wrap sooner: a long SNI name takes two lines, not one wide column.
ENDPOINT_LINE_CHARS = 28
# Labels smaller than this on screen are not drawn: a fitted 200-endpoint grid shows its
# coloured dots, and zooming in brings the names back.
MIN_ZOOMED_FONT_PX = 6

Element = dict[str, Any]
Details = list[list[str]]


def _pie_share_field(state: EndpointState) -> str:
    """The data field holding a summary's percentage of endpoints in ``state``."""
    return f"share_{state.value.replace('-', '_')}"


def _shape_style(kind: str) -> dict[str, Any]:
    shape = SHAPES[kind]
    return {"width": shape.width, "height": shape.height, "font-size": f"{shape.font_px}px"}


def _stylesheet() -> list[dict[str, Any]]:
    sheet: list[dict[str, Any]] = [
        {
            # Labels under the node, on the lines made here (never re-wrapped or cut by
            # cytoscape: text-max-width is wider than any line).
            "selector": "node",
            "style": {
                "label": "data(label)",
                "text-valign": "bottom",
                "text-margin-y": f"{LABEL_MARGIN}px",
                "text-wrap": "wrap",
                "text-max-width": f"{MAX_LABEL_PX}px",
                "line-height": LINE_HEIGHT,
                "min-zoomed-font-size": MIN_ZOOMED_FONT_PX,
                # Edges run under the labels of the nodes they leave: keep the text clear.
                "text-background-color": "#ffffff",
                "text-background-opacity": 0.85,
                "text-background-shape": "round-rectangle",
                "border-width": 2,
                "border-color": "#444",
            },
        },
        {
            "selector": ".certificate",
            "style": {"shape": "round-rectangle", **_shape_style("certificate")},
        },
        {"selector": ".connector", "style": {"shape": "hexagon", **_shape_style("connector")}},
        {"selector": ".endpoint", "style": {"shape": "ellipse", **_shape_style("endpoint")}},
        {
            # A stand-in for many endpoints: a box (not a circle, so it never reads as one
            # endpoint) holding a pie of the states, with the counts as a stacked label.
            "selector": ".endpoint-summary",
            "style": {
                "shape": "round-rectangle",
                **_shape_style("summary"),
                "background-color": "#ffffff",
                "border-style": "dashed",
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
        {
            # The frame around an expanded connector's grid of endpoints: drawn under them,
            # its label inside its top edge; dragging it pans the view.
            "selector": ".endpoint-group",
            "style": {
                "shape": "round-rectangle",
                "width": "data(width)",
                "height": "data(height)",
                "background-color": "#f8f9fa",
                "border-width": 1,
                "border-style": "dashed",
                "border-color": "#adb5bd",
                "text-valign": "top",
                "font-size": f"{FRAME_FONT_PX}px",
                "text-margin-y": f"{FRAME_HEAD - 2}px",
                "color": "#555",
                "z-index": 0,
            },
        },
        # A work order still in flight: a double border, so the eye finds what is moving.
        {"selector": ".workorder-open", "style": {"border-style": "double", "border-width": 6}},
        # A zone with no live agent: nothing reaches the device now (dashed red border).
        {
            "selector": ".zone-offline",
            "style": {"border-style": "dashed", "border-color": "#c0392b", "border-width": 4},
        },
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


def _edge(source: str, target: str) -> Element:
    return {"data": {"id": f"edge-{source}-{target}", "source": source, "target": target}}


def _when(moment: datetime | None, zone: tzinfo, missing: str = "—") -> str:
    return local_and_utc(moment, zone) if moment is not None else missing


# ----------------------------------------------------------------------------- phrases


def work_order_line(connector: ConnectorView) -> str:
    """ "WO-000123 · Push-Review In Progress": the work order beside the connector, or ""."""
    if not connector.work_order:
        return ""
    return f"{connector.work_order} · {connector.work_order_status or ''}".strip()


def _verdict_parts(push: PushVerdict, zone: tzinfo) -> tuple[str, str]:
    """(what, when) of the verdict: ("Verified", "2026-03-01 12:04 UTC"), ("Verifying…", "")."""
    if push.state is PushValidation.PENDING:
        return "Verifying…", ""
    if push.decided_at is None:
        return push.label, ""
    return push.label, local_and_utc(push.decided_at, zone)


def verdict_phrase(push: PushVerdict, zone: tzinfo = UTC) -> str:
    """What the last push came to: "Verified 2026-03-01 12:04 UTC", "Failed verification …",
    "Verifying…" until the deciding sweep, "Push failed" when nothing was installed."""
    return " ".join(part for part in _verdict_parts(push, zone) if part)


def last_push_line(push: PushVerdict, zone: tzinfo = UTC) -> str:
    """ "WO-000123 · Completed · Verified 2026-03-01 12:04 UTC"; a failed push: "… · Failed"."""
    line = f"{push.work_order} · {push.status}"
    if push.state is PushValidation.PUSH_FAILED:
        return line
    return f"{line} · {verdict_phrase(push, zone)}"


def verdict_counts(push: PushVerdict) -> str:
    """The deciding sweep's endpoints: "3 endpoints matched, 0 failed", or ""."""
    if push.decided_at is None:
        return ""
    return f"{push.endpoints_checked:,} endpoint{'s' if push.endpoints_checked != 1 else ''}: " + (
        f"{push.endpoints_matched:,} matched, {push.endpoints_failed:,} failed"
    )


def connector_state_lines(connector: ConnectorView) -> list[str]:
    """The connector's state for its label: its last push's verdict (the time on a line of
    its own when both do not fit one), else its push state."""
    push = connector.last_push
    if push is None:
        return [CONNECTOR_STATES[connector.state].label]
    what, when = _verdict_parts(push, UTC)
    if connector.work_order and connector.work_order != push.work_order:
        what = f"Last push: {what}"
    joined = f"{what} {when}".strip()
    if len(joined) <= LINE_CHARS:
        return [joined]
    return [*wrap(what), *wrap(when)]


def _count_phrase(count: int) -> str:
    return f"{count:,} endpoint" + ("" if count == 1 else "s")


def state_counts(endpoints: Iterable[EndpointView]) -> list[tuple[EndpointState, int]]:
    """Endpoints per state in ENDPOINT_STATES order, states with none left out."""
    counts = Counter(e.state for e in endpoints)
    return [(state, counts[state]) for state in ENDPOINT_STATES if counts[state]]


def _counts_line(counts: list[tuple[EndpointState, int]]) -> str:
    return " · ".join(f"{n:,} {ENDPOINT_STATES[state].label.lower()}" for state, n in counts)


# ----------------------------------------------------------------------------- details


def _push_details(push: PushVerdict | None, zone: tzinfo) -> Details:
    if push is None:
        return [["Last push", "none yet"]]
    rows = [["Last push", f"{push.work_order} · {push.status} · {_when(push.pushed_at, zone)}"]]
    style = STYLES[push.state]
    verdict = verdict_phrase(push, zone)
    counts = verdict_counts(push)
    rows.append(["Verification", f"{verdict} ({counts})" if counts else verdict])
    rows.append(["Rule", style.meaning])
    if push.reason:
        rows.append(["Push failure", push.reason])
    return rows


def certificate_detail_rows(detail: CertificateDetail, zone: tzinfo = UTC) -> Details:
    row = detail.row
    status = STATUS_TABLE[row.status]
    return [
        ["Certificate", row.common_name or "(no common name)"],
        ["Status", f"{status.label}: {status.meaning}"],
        ["Subject", detail.subject],
        ["Not after", f"{_when(row.not_after, zone)} ({row.days_left} days left)"],
        ["SHA-256", row.fingerprint_sha256],
    ]


def connector_detail_rows(connector: ConnectorView, zone: tzinfo = UTC) -> Details:
    style = CONNECTOR_STATES[connector.state]
    rows = [
        ["Connector", f"{connector.name} ({connector.type})"],
        ["Push state", f"{style.label}: {style.meaning}"],
    ]
    if connector.detail:
        rows.append(["Latest attempt", connector.detail])
    work_order = work_order_line(connector)
    if work_order:
        rows.append(["Work order", work_order])
        if connector.run_at is not None:
            rows.append(["Push at", _when(connector.run_at, zone)])
        if connector.work_order_reason:
            rows.append(["Reason", connector.work_order_reason])
    rows += _push_details(connector.last_push, zone)
    counts = state_counts(connector.endpoints)
    total = _count_phrase(len(connector.endpoints))
    rows.append(["Endpoints", f"{total}: {_counts_line(counts)}" if counts else total])
    rows.append(["Maintenance windows", windows_line(connector)])
    if connector.zone != "local":
        rows.append(["Zone", connector.zone + (" (offline)" if connector.zone_offline else "")])
    return rows


def windows_line(connector: ConnectorView) -> str:
    """A connector's maintenance windows on one line, or "any time" when it has none."""
    return "; ".join(connector.windows.splitlines()) or "any time"


def endpoint_detail_rows(
    endpoint: EndpointView, connector: ConnectorView, zone: tzinfo = UTC
) -> Details:
    style = ENDPOINT_STATES[endpoint.state]
    rows = [
        ["Endpoint", _host_port(endpoint)],
        ["SNI", endpoint.sni or "— (none sent)"],
        ["State", f"{style.label}: {style.meaning}"],
        ["Last checked", _when(endpoint.checked_at, zone, "never")],
    ]
    if endpoint.checked_at is not None:
        if endpoint.reason:
            rows.append(["Result", endpoint.reason])
        rows.append(["Expected", endpoint.expected_fingerprint or "—"])
        rows.append(["Served", endpoint.served_fingerprint or "— (no certificate)"])
        if endpoint.served_fingerprint:
            same = endpoint.served_fingerprint == endpoint.expected_fingerprint
            verdict = "the same certificate" if same else "a different certificate"
            rows.append(["Served vs expected", verdict])
            rows.append(["Served subject", endpoint.served_subject or "—"])
            rows.append(["Served expiry", _when(endpoint.served_not_after, zone)])
    rows.append(["Connector", f"{connector.name} ({connector.type})"])
    work_order = work_order_line(connector)
    if work_order:
        rows.append(["Work order", work_order])
    return rows + _push_details(connector.last_push, zone)


# ----------------------------------------------------------------------------- nodes


def certificate_node(detail: CertificateDetail, zone: tzinfo = UTC) -> Element:
    """The root of the tree, coloured by the certificate's status."""
    row = detail.row
    status = STATUS_TABLE[row.status]
    name = row.common_name or "(no common name)"
    return {
        "data": {
            "id": "certificate",
            "label": "\n".join([*wrap(name), status.label]),
            "kind": "certificate",
            "fingerprint": row.fingerprint_sha256,
            "status": status.label,
            "title": (
                f"Certificate {name}\n"
                f"{status.label}: {status.meaning}\n"
                f"Not after {row.not_after:%Y-%m-%d %H:%M} UTC\n"
                f"SHA-256 {row.fingerprint_sha256}"
            ),
            "details": certificate_detail_rows(detail, zone),
        },
        "classes": f"certificate status-{row.status.value}",
    }


def connector_node(connector: ConnectorView, zone: tzinfo = UTC) -> Element:
    """A connector: its name, its newest work order and the verdict of its last push.

    Coloured by the push state; a work order still in flight adds a double border.
    """
    style = CONNECTOR_STATES[connector.state]
    lines = wrap(connector.name) or ["(unnamed connector)"]
    work_order = work_order_line(connector)
    if work_order:
        lines.append(work_order)
    lines += connector_state_lines(connector)
    title = f"Connector {connector.name} ({connector.type})\n{style.label}: {style.meaning}"
    if connector.detail:
        title += f"\n{connector.detail}"
    if work_order:
        title += f"\nWork order {work_order}"
        if connector.run_at is not None:
            title += f" (push at {connector.run_at:%Y-%m-%d %H:%M} UTC)"
        if connector.work_order_reason:
            title += f"\n{connector.work_order_reason}"
    if connector.last_push is not None:
        title += f"\nLast push {last_push_line(connector.last_push)}"
    title += f"\nMaintenance windows: {windows_line(connector)}"
    classes = f"connector connector-{connector.state.value}"
    if work_order and not connector.work_order_final:
        classes += " workorder-open"
    if connector.zone != "local":
        lines.append(f"zone {connector.zone}" + (" · offline" if connector.zone_offline else ""))
        title += f"\nZone {connector.zone}: " + (
            "offline, no live agent: its pushes and probes wait"
            if connector.zone_offline
            else "reached through its agents"
        )
    if connector.zone_offline:
        classes += " zone-offline"
    push = connector.last_push
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
            "verdict": push.state.value if push else None,
            "endpoint_count": len(connector.endpoints),
            "title": f"{title}\n{_count_phrase(len(connector.endpoints))}",
            "details": connector_detail_rows(connector, zone),
        },
        "classes": classes,
    }


def _host_port(endpoint: EndpointView) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{host}:{endpoint.port}"


def endpoint_node(endpoint: EndpointView, connector: ConnectorView, zone: tzinfo = UTC) -> Element:
    """One IP:port (and its SNI name), coloured by its latest verification outcome."""
    style = ENDPOINT_STATES[endpoint.state]
    lines = wrap(_host_port(endpoint), width=ENDPOINT_LINE_CHARS)
    if endpoint.sni:
        lines += wrap(endpoint.sni, width=ENDPOINT_LINE_CHARS)
    lines.append(style.label)
    return {
        "data": {
            "id": f"endpoint-{endpoint.id}",
            "label": "\n".join(lines),
            "kind": "endpoint",
            "endpoint_id": endpoint.id,
            "connector_id": connector.id,
            "state": endpoint.state.value,
            "title": f"{endpoint.address}\n{style.label}: {style.meaning}"
            + (f"\n{endpoint.detail}" if endpoint.detail else ""),
            "details": endpoint_detail_rows(endpoint, connector, zone),
        },
        "classes": f"endpoint endpoint-{endpoint.state.value}",
    }


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
        "Tap its connector to fold them again."
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
            "details": [
                ["Connector", f"{connector.name} ({connector.type})"],
                ["Endpoints", f"{head}: {_counts_line(counts)}" if counts else head],
                ["", action],
            ],
        },
        "classes": "endpoint-summary endpoint-more" if expanded else "endpoint-summary",
    }


def group_node(
    connector: ConnectorView, drawn: Sequence[EndpointView], width: float, height: float
) -> Element:
    """The frame around a connector's grid of endpoints (its size comes from the layout)."""
    counts = state_counts(drawn)
    head = _count_phrase(len(drawn))
    return {
        "data": {
            "id": f"group-{connector.id}",
            "label": head if len(drawn) == len(connector.endpoints) else f"{head} drawn",
            "kind": "group",
            "connector_id": connector.id,
            "width": round(width, 1),
            "height": round(height, 1),
            "title": f"{connector.name}: {head}\n{_counts_line(counts)}\n"
            "Tap its connector to fold them.",
            "details": [
                ["Connector", f"{connector.name} ({connector.type})"],
                ["Endpoints", f"{head}: {_counts_line(counts)}"],
                ["", "Tap the connector to fold them; hover one for its details."],
            ],
        },
        "classes": "endpoint-group",
        "grabbable": False,
        "selectable": False,
        "pannable": True,
    }


# ----------------------------------------------------------------------------- placing

Placed = list[tuple[Element, float, float]]  # a node and its centre, from a corner


def _box(node: Element) -> Box:
    return node_box(node["data"]["kind"], node["data"]["label"])


@dataclass
class _Column:
    """A connector and what hangs from it: a row of children (a few endpoints, or the
    summary), or a framed grid of endpoints ending with the "+N more" node."""

    connector: ConnectorView
    node: Element
    children: list[Element] = field(default_factory=list)
    grid_views: list[EndpointView] = field(default_factory=list)
    grid_nodes: list[Element] = field(default_factory=list)

    def place(self, upward: bool = False) -> tuple[Placed, float, float]:
        """Every node of the column with its centre from the column's top-left, and the
        column's width and height. Downward the connector is on top and its children
        hang under its label; ``upward`` the children stand above it (labels stay under
        their nodes). The gap between them grows as a wide row of children needs it, so
        that no edge crosses a child on its way to another."""
        top = _box(self.node)
        if self.grid_nodes:
            cells = grid([_box(n) for n in self.grid_nodes])
            width = cells.width + 2 * FRAME_PAD
            height = cells.height + 2 * FRAME_PAD + FRAME_HEAD
            frame = group_node(self.connector, self.grid_views, width, height)
            inside = [
                (n, FRAME_PAD + x, FRAME_PAD + FRAME_HEAD + y)
                for n, (x, y) in zip(self.grid_nodes, cells.centres, strict=True)
            ]
            block: Placed = [(frame, width / 2, height / 2), *inside]
            below_w, below_h, gap = width, height, LEVEL_GAP
        elif self.children:
            boxes = [_box(n) for n in self.children]
            line = row(boxes)
            block = [(n, x, y) for n, (x, y) in zip(self.children, line.centres, strict=True)]
            below_w, below_h = line.width, line.height
            # The edges' vertical run: from the connector's centre to the children's.
            child = max(boxes, key=lambda b: b.height)
            if upward:
                near, fixed = child.height - child.node_height / 2, top.node_height / 2
                fixed += child.height - child.node_height / 2
            else:
                near = child.node_height / 2
                fixed = top.height - top.node_height / 2 + child.node_height / 2
            offsets = [x - line.width / 2 for x, _ in line.centres]
            gap = max(LEVEL_GAP, fan_clearance(offsets, near) - fixed)
        else:
            return [(self.node, top.width / 2, top.node_height / 2)], top.width, top.height
        width = max(top.width, below_w)
        height = top.height + gap + below_h
        connector_top = below_h + gap if upward else 0.0
        block_top = 0.0 if upward else top.height + gap
        left = (width - below_w) / 2
        result: Placed = [(self.node, width / 2, connector_top + top.node_height / 2)]
        for n, dx, dy in block:
            # Upward, a row of children stands on one line: bottom-aligned to the block.
            shift = below_h - _box(n).height if upward and not self.grid_nodes else 0.0
            result.append((n, left + dx, block_top + shift + dy))
        return result, width, height


def _positioned(node: Element, x: float, y: float) -> Element:
    return {**node, "position": {"x": round(x, 1), "y": round(y, 1)}}


def topology_elements(
    detail: CertificateDetail,
    connectors: Sequence[ConnectorView] = (),
    expanded: Collection[int] = (),
    zone: tzinfo = UTC,
) -> list[Element]:
    """Cytoscape elements for a certificate, its connectors and their endpoints, placed.

    ``expanded`` holds the ids of connectors the user opened: those draw their first
    MAX_EXPANDED endpoints one by one (plus a "+N more" node) even above FAN_LIMIT.
    20 connectors of 1,000 endpoints each, none expanded, make 41 nodes. Times in the
    nodes' details are shown in ``zone`` (and UTC); labels use UTC.
    """
    opened = frozenset(expanded)
    root = certificate_node(detail, zone)
    nodes: set[str] = {"certificate"}
    edges: list[Element] = []
    edge_ids: set[str] = set()
    columns: list[_Column] = []

    def link(source: str, target: str) -> None:
        edge = _edge(source, target)
        if edge["data"]["id"] not in edge_ids:
            edge_ids.add(edge["data"]["id"])
            edges.append(edge)

    for connector in connectors:
        parent = f"connector-{connector.id}"
        link("certificate", parent)
        if parent in nodes:  # listed twice: drawn once
            continue
        nodes.add(parent)
        column = _Column(connector, connector_node(connector, zone))
        columns.append(column)
        endpoints = connector.endpoints
        if len(endpoints) > FAN_LIMIT and connector.id not in opened:
            column.children.append(summary_node(connector, endpoints, expanded=False))
        else:
            # Cytoscape refuses a second element with the same id and then draws nothing:
            # an endpoint listed under two connectors is one node with two edges.
            fresh = [e for e in endpoints[:MAX_EXPANDED] if f"endpoint-{e.id}" not in nodes]
            for endpoint in endpoints[:MAX_EXPANDED]:
                if endpoint not in fresh:
                    link(parent, f"endpoint-{endpoint.id}")
            drawn = [endpoint_node(e, connector, zone) for e in fresh]
            nodes.update(n["data"]["id"] for n in drawn)
            if len(endpoints) > MAX_EXPANDED:  # the last cell of the grid: "+N more"
                drawn.append(summary_node(connector, endpoints[MAX_EXPANDED:], expanded=True))
            if len(drawn) > ROW_LIMIT:
                column.grid_views, column.grid_nodes = fresh, drawn
                link(parent, f"group-{connector.id}")
            else:
                column.children += drawn
        for child in column.children:
            link(parent, child["data"]["id"])

    root_box = _box(root)
    elements = [_positioned(root, 0.0, root_box.node_height / 2)]
    placed = [column.place() for column in columns]
    first, second = split_row([width for _, width, _ in placed])
    if second and max(placed[i][2] for i in first) < max(placed[i][2] for i in second):
        first, second = second, first  # the taller row hangs below, the other stands above
    centre_y = root_box.node_height / 2
    for indices, upward in ((first, False), (second, True)):
        if not indices:
            continue
        columns_here = [columns[i].place(upward) if upward else placed[i] for i in indices]
        widths = [width for _, width, _ in columns_here]
        row_width = sum(widths) + COLUMN_GAP * (len(widths) - 1)
        lefts = [-row_width / 2 + sum(widths[:k]) + COLUMN_GAP * k for k in range(len(widths))]
        offsets = [left + width / 2 for left, width in zip(lefts, widths, strict=True)]
        boxes = [_box(columns[i].node) for i in indices]
        # Connector centres on one line, far enough from the certificate for every edge
        # to pass clear of the connectors before its own.
        if upward:
            near = max(b.height - b.node_height / 2 for b in boxes)
            fixed = root_box.node_height / 2 + near
        else:
            near = max(b.node_height / 2 for b in boxes)
            fixed = root_box.height - root_box.node_height / 2 + near
        gap = max(LEVEL_GAP, fan_clearance(offsets, near) - fixed)
        line_y = centre_y - fixed - gap if upward else centre_y + fixed + gap
        for (nodes_at, _, _), left in zip(columns_here, lefts, strict=True):
            connector_y = nodes_at[0][2]  # the column's connector comes first
            elements += [_positioned(n, left + x, line_y - connector_y + y) for n, x, y in nodes_at]
    return elements + edges
