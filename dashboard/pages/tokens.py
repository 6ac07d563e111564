"""API tokens: each user makes, lists and revokes their own tokens for the REST API.

The same service as ``certpush tokens`` (data/api_tokens.py). The secret is shown once,
right after it is made, and never again; every callback checks who is logged in itself.
"""

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.components.tokens import DEFAULT_LIFETIME, LIFETIMES, SCOPES

dash.register_page(__name__, path="/tokens", name="API tokens", title="certpush - API tokens")


def _new_token_form() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5("New token", className="card-title"),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Input(
                                id=ids.TOKENS_NAME,
                                placeholder="what it is for (e.g. ci pipeline)",
                                maxLength=64,
                            ),
                            md=4,
                        ),
                        dbc.Col(
                            dbc.Select(id=ids.TOKENS_SCOPE, options=SCOPES, value="read"), md=3
                        ),
                        dbc.Col(
                            dbc.Select(
                                id=ids.TOKENS_EXPIRES, options=LIFETIMES, value=DEFAULT_LIFETIME
                            ),
                            md=3,
                        ),
                        dbc.Col(dbc.Button("Create token", id=ids.TOKENS_CREATE), md="auto"),
                    ],
                    className="g-2",
                ),
                dbc.Alert(
                    id=ids.TOKENS_CREATE_MESSAGE,
                    color="danger",
                    is_open=False,
                    className="mt-3 mb-0",
                ),
                dbc.Alert(
                    [
                        html.Strong("Copy your new token now: it will not be shown again. "),
                        "certpush keeps only a hash of it; if it is lost, revoke it and make "
                        "another.",
                        dbc.InputGroup(
                            [
                                dbc.Input(
                                    id=ids.TOKENS_SECRET,
                                    readonly=True,
                                    value="",
                                    className="font-monospace",
                                ),
                                dbc.InputGroupText(
                                    dcc.Clipboard(
                                        id=ids.TOKENS_SECRET_COPY,
                                        target_id=ids.TOKENS_SECRET,
                                        title="copy",
                                    )
                                ),
                            ],
                            className="mt-2",
                        ),
                    ],
                    id=ids.TOKENS_SECRET_PANEL,
                    color="warning",
                    is_open=False,
                    className="mt-3 mb-0",
                ),
            ]
        ),
        className="mb-3",
    )


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("API tokens"),
            html.P(
                [
                    "Personal tokens for the REST API (",
                    html.Code("Authorization: Bearer <token>"),
                    "). A token acts as you, with your role; a read token never changes "
                    "anything. Revoke a token you no longer use.",
                ],
                className="text-muted",
            ),
            _new_token_form(),
            dbc.Alert(id=ids.TOKENS_MESSAGE, is_open=False),
            html.Div(id=ids.TOKENS_TABLE),
            dcc.Store(id=ids.TOKENS_REFRESH),
        ]
    )
