"""The audit trail: every recorded action, newest first, paged on the server.

Admins and managers only. The menu hides the entry from other roles, but the
refusal that matters is in the callback serving the rows.
"""

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.components.grids import server_side_grid_options

dash.register_page(__name__, path="/audit", name="Audit trail", title="certpush - audit trail")

PAGE_SIZE = 50
COLUMNS = [
    {"field": "at", "headerName": "At (UTC)", "width": 190},
    {"field": "actor", "headerName": "Actor", "width": 140},
    {"field": "action", "headerName": "Action", "width": 220},
    {"field": "target", "headerName": "Target", "width": 160},
    {"field": "detail", "headerName": "Detail", "flex": 1, "tooltipField": "detail"},
]


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Audit trail"),
            html.P(
                "Who did what, when, to what - newest first. Refused and lost actions are "
                "recorded too.",
                className="text-muted",
            ),
            dbc.Alert(id=ids.AUDIT_ERROR, color="danger", is_open=False),
            dag.AgGrid(
                id=ids.AUDIT_GRID,
                rowModelType="infinite",
                columnDefs=COLUMNS,
                defaultColDef={"resizable": True, "sortable": False},
                getRowId="String(params.data.id)",
                dashGridOptions=server_side_grid_options(PAGE_SIZE),
                style={"height": "calc(100vh - 230px)", "minHeight": "420px"},
            ),
        ]
    )
