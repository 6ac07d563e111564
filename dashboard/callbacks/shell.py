"""Callbacks of the page shell: who is logged in, and the overview counts."""

from __future__ import annotations

from datetime import UTC, datetime

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, html

from dashboard import ids
from dashboard.auth import acting_user, require_permission, settings
from dashboard.components.status import status_badge
from data.db import session_scope
from data.domain.errors import AuthError
from data.domain.roles import Permission
from data.queries import status_counts


@callback(Output(ids.NAVBAR_USER, "children"), Input(ids.URL, "pathname"))
def show_user(_pathname: str | None) -> str:
    try:
        user = acting_user()
    except AuthError:
        return ""
    return f"{user.username} ({user.role.value})"


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
