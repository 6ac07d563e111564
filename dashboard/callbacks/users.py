"""The Users page: list and administer users. Admins only, checked in every callback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import Input, Output, State, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from data.db import session_scope
from data.domain.errors import CertpushError, PermissionDenied
from data.domain.roles import Permission
from data.user_admin import list_users, reset_password, set_enabled, set_role, sign_out


@callback(
    Output(ids.USERS_GRID, "rowData"),
    Input(ids.USERS_REFRESH, "data"),
    Input(ids.URL, "pathname"),
)
def user_rows(_refresh: Any, _path: str | None) -> list[dict[str, Any]]:
    """Every user (never a password hash), for admins only."""
    try:
        require_permission(Permission.MANAGE_USERS)
    except PermissionDenied:
        return []
    with session_scope(settings().database_url) as db:
        rows = list_users(db)
    return [{**r.to_json(), "created_at": f"{r.created_at:%Y-%m-%d %H:%M}"} for r in rows]


@callback(
    Output(ids.USERS_MESSAGE, "children"),
    Output(ids.USERS_MESSAGE, "color"),
    Output(ids.USERS_MESSAGE, "is_open"),
    Output(ids.USERS_REFRESH, "data"),
    Output(ids.USERS_PASSWORD, "value"),
    Input(ids.USERS_DISABLE, "n_clicks"),
    Input(ids.USERS_ENABLE, "n_clicks"),
    Input(ids.USERS_SET_ROLE, "n_clicks"),
    Input(ids.USERS_RESET, "n_clicks"),
    Input(ids.USERS_SIGN_OUT, "n_clicks"),
    State(ids.USERS_GRID, "selectedRows"),
    State(ids.USERS_ROLE, "value"),
    State(ids.USERS_PASSWORD, "value"),
    prevent_initial_call=True,
)
def administer(*args: Any) -> tuple[Any, ...]:
    """Apply the clicked action to the selected user through data/user_admin.py."""
    *_clicks, selected, role, password = args
    trigger = ctx.triggered_id
    try:
        admin = require_permission(Permission.MANAGE_USERS)
    except PermissionDenied as exc:
        return f"Refused: {exc}.", "danger", True, no_update, ""
    if not selected:
        return "Select a user first.", "warning", True, no_update, no_update
    name = str(selected[0].get("username", ""))
    now = datetime.now(UTC)
    who = {"actor": admin.username, "role": admin.role.value, "now": now}
    actions = {
        ids.USERS_DISABLE: lambda db: set_enabled(db, name, False, **who),
        ids.USERS_ENABLE: lambda db: set_enabled(db, name, True, **who),
        ids.USERS_SET_ROLE: lambda db: set_role(db, name, role or "", **who),
        ids.USERS_RESET: lambda db: reset_password(db, name, password or "", **who),
        ids.USERS_SIGN_OUT: lambda db: sign_out(db, name, **who),
    }
    if trigger not in actions:
        return no_update, no_update, no_update, no_update, no_update
    try:
        with session_scope(settings().database_url) as db:
            said = actions[trigger](db)
    except (CertpushError, ValueError) as exc:
        return str(exc), "danger", True, no_update, ""
    return said, "success", True, {"changed": now.isoformat()}, ""
