"""Filling the topology page for one certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import (
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    no_update,
)

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.approval import attach_work_orders
from dashboard.components.certificate import certificate_details
from dashboard.components.connectors import connectors_panel
from dashboard.components.node_details import node_details
from dashboard.graph import topology_elements
from dashboard.timezones import browser_zone
from data.connectors import bound_connectors, list_connectors
from data.db import session_scope
from data.domain.errors import NotFound
from data.domain.roles import Permission, can
from data.queries import certificate_detail
from data.workorders import latest_for_certificate


def mark_offline_zones(db, views, broker_url: str | None, now: datetime):
    """With a broker, connectors of a zone with no live agent are shown offline (without
    one, every zone is served by the scheduler itself)."""
    if not broker_url:
        return views
    from dataclasses import replace

    from data.agents import online_zones

    zones = {v.zone for v in views if v.zone != "local"}
    down = zones - online_zones(db, zones, now)
    return [replace(v, zone_offline=v.zone in down) for v in views]


@callback(
    Output(ids.TOPOLOGY_GRAPH, "elements"),
    Output(ids.TOPOLOGY_TITLE, "children"),
    Output(ids.TOPOLOGY_DETAILS, "children"),
    Output(ids.TOPOLOGY_CONNECTORS, "children"),
    Output(ids.TOPOLOGY_ERROR, "children"),
    Output(ids.TOPOLOGY_ERROR, "is_open"),
    Input(ids.TOPOLOGY_FINGERPRINT, "data"),
    Input(ids.TOPOLOGY_REFRESH, "data"),
    Input(ids.TOPOLOGY_EXPANDED, "data"),
    Input(ids.BROWSER_TZ, "data"),
)
def load_topology(
    fingerprint: str | None,
    _refresh: Any = None,
    expanded: list[int] | None = None,
    browser_tz: dict | None = None,
) -> tuple[Any, ...]:
    """The graph, details and connector panel of one certificate, read in one transaction.

    Each connector carries its newest work order (ID and status) and its last push with
    the verdict of the sweep that decided it, shown beside it.
    """
    user = require_permission(Permission.VIEW_INVENTORY)
    if not fingerprint:
        return [], "Topology", None, None, "No certificate was chosen.", True
    try:
        with session_scope(settings().database_url) as db:
            detail = certificate_detail(db, fingerprint, datetime.now(UTC))
            views = attach_work_orders(
                bound_connectors(db, detail.row.id), latest_for_certificate(db, detail.row.id)
            )
            views = mark_offline_zones(db, views, settings().broker_url, datetime.now(UTC))
            bound = {v.name for v in views}
            others = [c for c in list_connectors(db) if c.name not in bound]
    except NotFound as exc:
        return [], "Topology", None, None, str(exc), True
    title = f"Topology of {detail.row.common_name or '(no common name)'}"
    zone = browser_zone(browser_tz)
    panel = connectors_panel(
        views,
        others,
        can(user.role, Permission.MANAGE_CONNECTORS),
        can_request=can(user.role, Permission.REQUEST_PUSH),
        zone=zone,
    )
    return (
        topology_elements(detail, views, expanded or (), zone),
        title,
        certificate_details(detail),
        panel,
        "",
        False,
    )


@callback(
    Output(ids.TOPOLOGY_EXPANDED, "data"),
    Input(ids.TOPOLOGY_GRAPH, "tapNodeData"),
    State(ids.TOPOLOGY_EXPANDED, "data"),
    prevent_initial_call=True,
)
def tap_node(node: dict[str, Any] | None, expanded: list[int] | None) -> Any:
    """A summary node expands its connector's endpoints; tapping the connector folds them."""
    require_permission(Permission.VIEW_INVENTORY)
    if not node:
        return no_update
    opened = list(expanded or [])
    kind = node.get("kind")
    connector_id = node.get("connector_id")
    if kind == "summary" and connector_id is not None and connector_id not in opened:
        return [*opened, connector_id]
    if kind == "connector" and connector_id in opened:
        return [i for i in opened if i != connector_id]
    return no_update


@callback(
    Output(ids.TOPOLOGY_NODE_DETAILS, "children"),
    Input(ids.TOPOLOGY_GRAPH, "mouseoverNodeData"),
    Input(ids.TOPOLOGY_GRAPH, "tapNodeData"),
    prevent_initial_call=True,
)
def show_node_details(hovered: dict[str, Any] | None, tapped: dict[str, Any] | None) -> Any:
    """The side panel follows the node under the pointer, or the one tapped (touch)."""
    require_permission(Permission.VIEW_INVENTORY)
    tap = f"{ids.TOPOLOGY_GRAPH}.tapNodeData" in ctx.triggered_prop_ids
    node = tapped if tap else hovered
    if not node:
        return no_update
    return node_details(node)


clientside_callback(
    ClientsideFunction(namespace="certpush", function_name="fitGraph"),
    Output(ids.TOPOLOGY_FIT_DONE, "data"),
    Input(ids.TOPOLOGY_FIT, "n_clicks"),
    State(ids.TOPOLOGY_GRAPH, "id"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="certpush", function_name="alignGraph"),
    Output(ids.TOPOLOGY_FIT_DONE, "data", allow_duplicate=True),
    Input(ids.TOPOLOGY_GRAPH, "elements"),
    State(ids.TOPOLOGY_GRAPH, "id"),
    prevent_initial_call=True,
)
