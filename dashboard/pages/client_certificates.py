"""CERT+ › CERTIFICATE ACTION › Push to Device › Client: the certificate list.

The grid pages, sorts and filters on the server (AG Grid's infinite row model),
so it stays instant with a million certificates. Double-click opens the topology.
"""

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.components.grids import server_side_grid_options
from dashboard.components.import_dialog import import_dialog
from data.config import MAX_UPLOAD_BYTES

dash.register_page(
    __name__,
    path="/certificates/client",
    name="Client Certificate",
    title="certpush - Client Certificate",
)

PAGE_SIZE = 50
TEXT_FILTER = {
    "filter": "agTextColumnFilter",
    "filterParams": {
        "filterOptions": ["contains", "equals", "startsWith", "endsWith", "notContains"],
        "maxNumConditions": 1,
        "debounceMs": 400,
    },
}

COLUMNS = [
    {
        "field": "common_name",
        "headerName": "Common Name",
        "flex": 2,
        "sortable": True,
        **TEXT_FILTER,
    },
    {"field": "sans", "headerName": "SANs", "flex": 2, "sortable": False, **TEXT_FILTER},
    {"field": "issuer", "headerName": "Issuer", "flex": 2, "sortable": True, **TEXT_FILTER},
    {"field": "serial", "headerName": "Serial", "flex": 1, "sortable": True, **TEXT_FILTER},
    {"field": "not_after", "headerName": "Expiry (UTC)", "flex": 1, "sortable": True},
    {
        "field": "days_left",
        "headerName": "Days left",
        "width": 120,
        "sortable": True,
        "filter": "agNumberColumnFilter",
        "filterParams": {"maxNumConditions": 1, "debounceMs": 400},
    },
    {
        "field": "status",
        "headerName": "Status",
        "width": 140,
        "sortable": False,
        "cellRenderer": "StatusBadge",
        "filter": "agTextColumnFilter",
        "filterParams": {"filterOptions": ["equals"], "maxNumConditions": 1},
    },
]


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            dcc.Location(id=ids.CLIENT_NAV, refresh="callback-nav"),
            dcc.Store(id=ids.IMPORT_DONE),
            html.Div(
                [
                    html.H2("Client Certificate", className="me-auto"),
                    dbc.Button("Import certificates", id=ids.IMPORT_OPEN, color="primary"),
                ],
                className="d-flex align-items-center",
            ),
            import_dialog(MAX_UPLOAD_BYTES),
            html.P(
                "Double-click a certificate to open its topology. Filter any column from its "
                "header menu; sorting and filtering run on the server.",
                className="text-muted",
            ),
            dbc.Alert(id=ids.CLIENT_ERROR, color="danger", is_open=False),
            dag.AgGrid(
                id=ids.CLIENT_GRID,
                rowModelType="infinite",
                columnDefs=COLUMNS,
                defaultColDef={"resizable": True, "suppressHeaderMenuButton": False},
                getRowId="params.data.fingerprint_sha256",
                dashGridOptions=server_side_grid_options(
                    PAGE_SIZE, rowSelection={"mode": "singleRow", "checkboxes": False}
                ),
                style={"height": "calc(100vh - 230px)", "minHeight": "420px"},
            ),
        ]
    )
