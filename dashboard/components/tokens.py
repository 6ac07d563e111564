"""The API tokens page's pieces: the table of a user's tokens and the choices of the form.

Built from ``TokenInfo`` values only, which carry neither the secret nor its digest: the
table cannot show what it was never given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from data.api_tokens import TokenInfo

SCOPES = [
    {"label": "read: look, never change", "value": "read"},
    {"label": "write: act with my role", "value": "write"},
]
LIFETIMES = [
    {"label": "30 days", "value": "30d"},
    {"label": "90 days", "value": "90d"},
    {"label": "1 year", "value": "365d"},
    {"label": "never expires", "value": "never"},
]
DEFAULT_LIFETIME = "90d"
HEADERS = [
    "Name",
    "Token",
    "Scope",
    "State",
    "Created (UTC)",
    "Expires (UTC)",
    "Last used (UTC)",
    "",
]
STATE_COLOURS = {"active": "success", "expired": "secondary", "revoked": "dark"}


def _when(value: datetime | None, empty: str = "-") -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else empty


def _revoke_button(token: TokenInfo, state: str) -> html.Td:
    """Revoke asks first: a program using the token stops working at once."""
    if state != "active":
        return html.Td()
    return html.Td(
        dcc.ConfirmDialogProvider(
            dbc.Button("Revoke", size="sm", color="outline-danger"),
            id=ids.token_revoke(token.id),
            message=f"Revoke {token.prefix} ({token.name})? Anything using it is refused "
            "from its next call on. This cannot be undone.",
        )
    )


def token_table(tokens: Sequence[TokenInfo], now: datetime) -> html.Div | dbc.Table:
    """One row per token, newest first, with Revoke on the active ones."""
    if not tokens:
        return html.P("You have no API tokens yet.", className="text-muted", id="tokens-none")
    rows = []
    for token in tokens:
        state = token.state(now)
        rows.append(
            html.Tr(
                [
                    html.Td(token.name),
                    html.Td(html.Code(token.prefix)),
                    html.Td(token.scope.value),
                    html.Td(dbc.Badge(state, color=STATE_COLOURS[state])),
                    html.Td(_when(token.created_at)),
                    html.Td(_when(token.expires_at, "never")),
                    html.Td(_when(token.last_used_at)),
                    _revoke_button(token, state),
                ]
            )
        )
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in HEADERS])), html.Tbody(rows)],
        size="sm",
        hover=True,
    )
