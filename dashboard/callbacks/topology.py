"""Filling the topology page for one certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import Input, Output, callback

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.certificate import certificate_details
from dashboard.components.connectors import connectors_panel
from dashboard.graph import topology_elements
from data.connectors import bound_connectors, list_connectors
from data.db import session_scope
from data.domain.errors import NotFound
from data.domain.roles import Permission, can
from data.queries import certificate_detail


@callback(
    Output(ids.TOPOLOGY_GRAPH, "elements"),
    Output(ids.TOPOLOGY_TITLE, "children"),
    Output(ids.TOPOLOGY_DETAILS, "children"),
    Output(ids.TOPOLOGY_CONNECTORS, "children"),
    Output(ids.TOPOLOGY_ERROR, "children"),
    Output(ids.TOPOLOGY_ERROR, "is_open"),
    Input(ids.TOPOLOGY_FINGERPRINT, "data"),
    Input(ids.TOPOLOGY_REFRESH, "data"),
)
def load_topology(fingerprint: str | None, _refresh: Any = None) -> tuple[Any, ...]:
    """The graph, details and connector panel of one certificate, read in one transaction."""
    user = require_permission(Permission.VIEW_INVENTORY)
    if not fingerprint:
        return [], "Topology", None, None, "No certificate was chosen.", True
    try:
        with session_scope(settings().database_url) as db:
            detail = certificate_detail(db, fingerprint, datetime.now(UTC))
            views = bound_connectors(db, detail.row.id)
            bound = {v.name for v in views}
            others = [c for c in list_connectors(db) if c.name not in bound]
    except NotFound as exc:
        return [], "Topology", None, None, str(exc), True
    title = f"Topology of {detail.row.common_name or '(no common name)'}"
    return (
        topology_elements(detail, views),
        title,
        certificate_details(detail),
        connectors_panel(views, others, can(user.role, Permission.MANAGE_CONNECTORS)),
        "",
        False,
    )
