"""Agents: the zone agents that enrolled, their zones' state, and an admin's decisions."""

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids

dash.register_page(__name__, path="/agents", name="Agents", title="certpush - agents")


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Zone agents"),
            html.P(
                "Agents push and probe inside zones the central side cannot reach. A new "
                "agent is pending until an admin approves its key; a zone is offline while "
                "none of its approved agents is heard from.",
                className="text-muted",
            ),
            html.Div(id=ids.AGENTS_ZONES, className="mb-3"),
            dbc.Alert(id=ids.AGENTS_MESSAGE, is_open=False, dismissable=True),
            html.Div(id=ids.AGENTS_TABLE),
            dcc.Store(id=ids.AGENTS_REFRESH),
            dcc.Interval(id=ids.AGENTS_POLL, interval=5000),
        ]
    )
