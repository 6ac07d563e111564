"""Work orders: every push request's work orders, filtered, each with its history.

Select a row for its timeline; the certificate cell opens that certificate's topology.
"""

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.components.workorders import ANY_STATUS, MINE_OPTIONS, STATUS_OPTIONS

dash.register_page(__name__, path="/workorders", name="Work orders", title="certpush - work orders")

COLUMNS = [
    {"field": "work_order", "headerName": "Work order", "width": 125},
    {"field": "request", "headerName": "Request", "width": 125},
    {"field": "status", "headerName": "Status", "width": 200},
    {
        "field": "certificate",
        "headerName": "Certificate",
        "flex": 2,
        "minWidth": 220,
        "cellRenderer": "TopologyLink",
        "tooltipField": "certificate",
    },
    {"field": "connector", "headerName": "Connector", "flex": 1, "minWidth": 170},
    {"field": "requester", "headerName": "Requester", "width": 120},
    {"field": "created", "headerName": "Requested", "width": 240},
    {"field": "scheduled", "headerName": "Scheduled push", "width": 240},
    {
        "field": "reason",
        "headerName": "Reason",
        "flex": 1,
        "minWidth": 200,
        "tooltipField": "reason",
    },
]


DATE_STYLE = {"width": "11rem"}


def _filters() -> dbc.Row:
    def labelled(label: str, control) -> dbc.Col:
        return dbc.Col([dbc.Label(label, className="small mb-0"), control], md="auto")

    return dbc.Row(
        [
            labelled(
                "Status",
                dbc.Select(id=ids.WORKORDERS_STATUS, options=STATUS_OPTIONS, value=ANY_STATUS),
            ),
            labelled(
                "Show",
                dbc.RadioItems(
                    id=ids.WORKORDERS_MINE, options=MINE_OPTIONS, value="all", inline=True
                ),
            ),
            labelled(
                "Requester",
                dbc.Input(id=ids.WORKORDERS_REQUESTER, placeholder="user name", debounce=True),
            ),
            labelled("Requested from", dcc.Input(id=ids.WORKORDERS_FROM, type="date",
                                                 className="form-control", style=DATE_STYLE)),
            labelled("to", dcc.Input(id=ids.WORKORDERS_TO, type="date", className="form-control",
                                     style=DATE_STYLE)),
            dbc.Col(
                dbc.Button("Refresh", id=ids.WORKORDERS_REFRESH, color="secondary"),
                md="auto",
                className="align-self-end",
            ),
        ],
        className="g-3 mb-2 align-items-end",
    )  # fmt: skip


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Work orders"),
            _filters(),
            dbc.Alert(id=ids.WORKORDERS_ERROR, color="danger", is_open=False),
            html.Div(id=ids.WORKORDERS_COUNT, className="small text-muted mb-1"),
            dag.AgGrid(
                id=ids.WORKORDERS_GRID,
                columnDefs=COLUMNS,
                rowData=[],
                defaultColDef={"resizable": True, "sortable": True},
                getRowId="params.data.work_order",
                dashGridOptions={
                    "pagination": True,
                    "paginationPageSize": 20,
                    "paginationPageSizeSelector": False,
                    "rowSelection": {
                        "mode": "singleRow",
                        "checkboxes": False,
                        "enableClickSelection": True,
                    },
                    "tooltipShowDelay": 300,
                },
                style={"height": "480px"},
            ),
            html.Div(
                [
                    dbc.Button(
                        "Download evidence (ZIP: JSON + PDF)",
                        id=ids.WORKORDERS_EVIDENCE,
                        color="outline-secondary",
                        size="sm",
                        title="The plan and its digest, approvals, push attempts, "
                        "verification and the audit events with their chain links",
                    ),
                    dcc.Download(id=ids.WORKORDERS_EVIDENCE_FILE),
                    html.Span(id=ids.WORKORDERS_EVIDENCE_ERROR, className="ms-2 small"),
                ],
                className="mt-2",
            ),
            html.Div(
                "Select a work order to see its history.",
                id=ids.WORKORDERS_TIMELINE,
                className="text-muted mt-3",
                style={"maxWidth": "60rem"},
            ),
        ]
    )
