"""Filling the topology page for one certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import Input, Output, State, callback, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.approval import attach_work_orders
from dashboard.components.certificate import certificate_details
from dashboard.components.connectors import connectors_panel
from dashboard.graph import topology_elements
from dashboard.timezones import browser_zone
from data.connectors import bound_connectors, list_connectors
from data.db import session_scope
from data.domain.errors import NotFound
from data.domain.roles import Permission, can
from data.queries import certificate_detail
from data.workorders import latest_for_certificate


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

    Each connector carries its newest work order (ID and status), shown beside it.
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
            bound = {v.name for v in views}
            others = [c for c in list_connectors(db) if c.name not in bound]
    except NotFound as exc:
        return [], "Topology", None, None, str(exc), True
    title = f"Topology of {detail.row.common_name or '(no common name)'}"
    panel = connectors_panel(
        views,
        others,
        can(user.role, Permission.MANAGE_CONNECTORS),
        can_request=can(user.role, Permission.REQUEST_PUSH),
        zone=browser_zone(browser_tz),
    )
    return (
        topology_elements(detail, views, expanded or ()),
        title,
        certificate_details(detail),
        panel,
        "",
        False,
    )


@callback(
    Output(ids.TOPOLOGY_EXPANDED, "data"),
    Output(ids.TOPOLOGY_NODE_INFO, "children"),
    Input(ids.TOPOLOGY_GRAPH, "tapNodeData"),
    State(ids.TOPOLOGY_EXPANDED, "data"),
    prevent_initial_call=True,
)
def tap_node(node: dict[str, Any] | None, expanded: list[int] | None) -> tuple[Any, str]:
    """A summary node expands its connector's endpoints; tapping the connector folds them."""
    require_permission(Permission.VIEW_INVENTORY)
    if not node:
        return no_update, no_update
    opened = list(expanded or [])
    info = str(node.get("title") or node.get("label") or "")
    kind = node.get("kind")
    connector_id = node.get("connector_id")
    if kind == "summary" and connector_id is not None and connector_id not in opened:
        return [*opened, connector_id], info
    if kind == "connector" and connector_id in opened:
        return [i for i in opened if i != connector_id], info
    return no_update, info
