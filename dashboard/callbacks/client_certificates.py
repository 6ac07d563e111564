"""The Client Certificate grid: server-side rows, and double-click to the topology."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from dash import Input, Output, callback, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.roles import Permission
from data.queries import certificate_page


@callback(
    Output(ids.CLIENT_GRID, "getRowsResponse"),
    Output(ids.CLIENT_ERROR, "children"),
    Output(ids.CLIENT_ERROR, "is_open"),
    Input(ids.CLIENT_GRID, "getRowsRequest"),
)
def grid_rows(request: dict[str, Any] | None) -> tuple[Any, str, bool]:
    """Answer one AG Grid block request with rows decided by SQL."""
    if not request:
        return no_update, "", False
    require_permission(Permission.VIEW_INVENTORY)
    try:
        with session_scope(settings().database_url) as db:
            page = certificate_page(
                db,
                start=int(request.get("startRow", 0)),
                end=int(request.get("endRow", 50)),
                sort_model=request.get("sortModel"),
                filter_model=request.get("filterModel"),
                now=datetime.now(UTC),
            )
    except (ValueError, CertpushError) as exc:
        return {"rowData": [], "rowCount": 0}, f"Cannot apply this filter: {exc}", True
    return {"rowData": [r.to_grid() for r in page.rows], "rowCount": page.total}, "", False


@callback(
    Output(ids.CLIENT_NAV, "href"),
    Input(ids.CLIENT_GRID, "cellDoubleClicked"),
    prevent_initial_call=True,
)
def open_topology(cell: dict[str, Any] | None) -> str:
    """Double-clicking any cell of a row opens that certificate's topology."""
    fingerprint = (cell or {}).get("rowId")
    if not fingerprint:
        return no_update
    return f"/certificates/{quote(str(fingerprint), safe='')}/topology"
