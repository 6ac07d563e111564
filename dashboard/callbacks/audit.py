"""The audit trail grid: one page of events per AG Grid block request, admins and managers only."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, callback, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from data.audit_trail import audit_page
from data.db import session_scope
from data.domain.errors import PermissionDenied
from data.domain.roles import Permission

EMPTY = {"rowData": [], "rowCount": 0}


@callback(
    Output(ids.AUDIT_GRID, "getRowsResponse"),
    Output(ids.AUDIT_ERROR, "children"),
    Output(ids.AUDIT_ERROR, "is_open"),
    Input(ids.AUDIT_GRID, "getRowsRequest"),
)
def audit_rows(request: dict[str, Any] | None) -> tuple[Any, str, bool]:
    """Newest first; the role is checked here, whatever the menu showed."""
    if not request:
        return no_update, "", False
    try:
        require_permission(Permission.VIEW_AUDIT)
    except PermissionDenied as exc:
        return EMPTY, f"Refused: {exc}. The audit trail is for admins and managers.", True
    try:
        start = int(request.get("startRow", 0))
        end = int(request.get("endRow", start + 50))
    except (TypeError, ValueError):
        return EMPTY, "Cannot read this page request.", True
    with session_scope(settings().database_url) as db:
        page = audit_page(db, start=start, end=end)
    return {"rowData": [r.to_grid() for r in page.rows], "rowCount": page.total}, "", False
