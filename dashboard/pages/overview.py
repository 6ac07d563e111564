"""Overview: how many certificates have each colour, at a glance."""

import dash
import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.components.status import status_legend

dash.register_page(__name__, path="/", name="Overview", title="certpush - overview")


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Certificate inventory"),
            html.P(
                [
                    "Open ",
                    dbc.Button(
                        "CERT+ › Push to Device › Client",
                        href="/certificates/client",
                        color="link",
                        className="p-0 align-baseline",
                    ),
                    " to pick a certificate and see its topology.",
                ]
            ),
            dbc.Row(id=ids.OVERVIEW_COUNTS, className="g-2"),
            status_legend(),
        ]
    )
