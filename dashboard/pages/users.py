"""Users: who may do what, for admins. Disable, enable, change a role, reset a password,
sign out everywhere: the same service as ``certpush users`` (data/user_admin.py).

The menu shows the page to admins only; each callback refuses other roles itself.
"""

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from data.domain.roles import Role

dash.register_page(__name__, path="/users", name="Users", title="certpush - users")

COLUMNS = [
    {"field": "username", "headerName": "User", "checkboxSelection": True, "width": 220},
    {"field": "role", "headerName": "Role", "width": 150},
    {"field": "enabled", "headerName": "Enabled", "width": 120},
    {"field": "service", "headerName": "Service user", "width": 130},
    {"field": "created_at", "headerName": "Created (UTC)", "flex": 1},
]


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Users"),
            html.P(
                "Select a user, then act. Disabling, a role change, a password reset and "
                "Sign out end their web sessions at once; the last enabled admin stays.",
                className="text-muted",
            ),
            dbc.Alert(id=ids.USERS_MESSAGE, is_open=False),
            dag.AgGrid(
                id=ids.USERS_GRID,
                columnDefs=COLUMNS,
                rowData=[],
                getRowId="params.data.username",
                dashGridOptions={"rowSelection": "single"},
                style={"height": "360px"},
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.ButtonGroup(
                            [
                                dbc.Button("Disable", id=ids.USERS_DISABLE, color="danger"),
                                dbc.Button("Enable", id=ids.USERS_ENABLE, color="secondary"),
                                dbc.Button(
                                    "Sign out everywhere",
                                    id=ids.USERS_SIGN_OUT,
                                    color="outline-secondary",
                                ),
                            ]
                        ),
                        md="auto",
                    ),
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.Select(
                                    id=ids.USERS_ROLE,
                                    options=[{"label": r.value, "value": r.value} for r in Role],
                                    value=Role.OPERATOR.value,
                                ),
                                dbc.Button("Set role", id=ids.USERS_SET_ROLE),
                            ]
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.Input(
                                    id=ids.USERS_PASSWORD,
                                    type="password",
                                    placeholder="new password (12+ characters)",
                                    autocomplete="new-password",
                                ),
                                dbc.Button("Reset password", id=ids.USERS_RESET),
                            ]
                        ),
                        md=4,
                    ),
                ],
                className="mt-3 g-2",
            ),
            dcc.Store(id=ids.USERS_REFRESH),
        ]
    )
