"""Callbacks of the page shell: who is logged in, the browser's time zone, the menu
entries a role may use, the missing master key banner (admins) and the overview counts."""

from __future__ import annotations

from datetime import UTC, datetime

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, html

from dashboard import ids
from dashboard.auth import acting_user, require_permission, settings
from dashboard.components.key_banner import master_key_banner
from dashboard.components.status import status_badge
from data.crypto import master_key_problem
from data.db import session_scope
from data.domain.errors import AuthError, MasterKeyMissing
from data.domain.roles import Permission, Role, can
from data.queries import status_counts


@callback(Output(ids.NAVBAR_USER, "children"), Input(ids.URL, "pathname"))
def show_user(_pathname: str | None) -> str:
    try:
        user = acting_user()
    except AuthError:
        return ""
    return f"{user.username} ({user.role.value})"


# The browser's IANA zone and UTC offset, read once per page load (assets/certpush.js).
clientside_callback(
    ClientsideFunction(namespace="certpush", function_name="browserTimeZone"),
    Output(ids.BROWSER_TZ, "data"),
    Input(ids.URL, "pathname"),
    State(ids.BROWSER_TZ, "data"),
)


@callback(Output(ids.NAV_AUDIT_ITEM, "className"), Input(ids.URL, "pathname"))
def show_audit_link(_pathname: str | None) -> str:
    """A convenience only: the audit page refuses other roles in its own callback."""
    try:
        user = acting_user()
    except AuthError:
        return "d-none"
    return "" if can(user.role, Permission.VIEW_AUDIT) else "d-none"


@callback(Output(ids.NAV_USERS_ITEM, "className"), Input(ids.URL, "pathname"))
def show_users_link(_pathname: str | None) -> str:
    """A convenience only: every action of the Users page checks the role itself."""
    try:
        user = acting_user()
    except AuthError:
        return "d-none"
    return "" if can(user.role, Permission.MANAGE_USERS) else "d-none"


@callback(Output(ids.NAV_REPORTS, "class_name"), Input(ids.URL, "pathname"))
def show_reports_menu(_pathname: str | None) -> str:
    """A convenience only: every report callback checks VIEW_REPORTS itself."""
    try:
        user = acting_user()
    except AuthError:
        return "d-none"
    return "" if can(user.role, Permission.VIEW_REPORTS) else "d-none"


@callback(Output(ids.MASTER_KEY_BANNER, "children"), Input(ids.URL, "pathname"))
def show_master_key_banner(_pathname: str | None) -> dbc.Alert | None:
    """Admins, and only they, are told on every page when the server has no usable master
    key; the key is looked for here, on the server, at each page load."""
    try:
        user = acting_user()
    except AuthError:
        return None
    if user.role != Role.ADMIN:
        return None
    problem = master_key_problem(settings())
    if problem is None:
        return None
    return master_key_banner(isinstance(problem, MasterKeyMissing), str(problem))


@callback(Output(ids.OVERVIEW_COUNTS, "children"), Input(ids.URL, "pathname"))
def overview_counts(_pathname: str | None) -> list:
    require_permission(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        counts = status_counts(db, datetime.now(UTC))
    return [
        dbc.Col(
            html.Div(
                dbc.Card(
                    dbc.CardBody([status_badge(status), html.H3(f"{n:,}", className="mt-2 mb-0")]),
                    className="text-center",
                ),
                **{"data-status": status.value},
            ),
            xs=6,
            md=3,
            xl=True,
        )
        for status, n in counts.items()
    ]
