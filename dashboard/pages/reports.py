"""The Push Validation Report: how pushes of a period came out, why they failed, and the
work orders behind any bar or reason. Read-only; every role may view reports, and each
callback checks that itself. The layout is a skeleton the callbacks fill.
"""

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.components.reports import REASON_COLUMNS, drilldown_placeholder

dash.register_page(
    __name__,
    path="/reports/push-validation",
    name="Push Validation",
    title="certpush - push validation report",
)

PRESETS = [
    {"label": "Last 7 days", "value": "7"},
    {"label": "Last 30 days", "value": "30"},
    {"label": "Last 90 days", "value": "90"},
    {"label": "Custom", "value": "custom"},
]
GRANULARITIES = [
    {"label": "Auto", "value": "auto"},
    {"label": "Day", "value": "day"},
    {"label": "Week", "value": "week"},
]
GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"scale": 2}}


def _controls() -> dbc.Card:
    return dbc.Card(
        dbc.CardBody(
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Period", className="fw-semibold me-2"),
                            dbc.RadioItems(
                                id=ids.REPORT_PRESET,
                                options=PRESETS,
                                value="30",
                                inline=True,
                            ),
                            html.Div(
                                dcc.DatePickerRange(
                                    id=ids.REPORT_RANGE,
                                    display_format="YYYY-MM-DD",
                                    first_day_of_week=1,
                                    clearable=False,
                                ),
                                id=ids.REPORT_RANGE_ROW,
                                className="d-none mt-2",
                            ),
                        ],
                        md=6,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Group by", className="fw-semibold me-2"),
                            dbc.RadioItems(
                                id=ids.REPORT_GRANULARITY,
                                options=GRANULARITIES,
                                value="auto",
                                inline=True,
                            ),
                            html.Div(
                                "Auto: days up to 31 days, weeks beyond.",
                                className="small text-muted",
                            ),
                        ],
                        md=3,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Export", className="fw-semibold d-block"),
                            dbc.ButtonGroup(
                                [
                                    dbc.Button(
                                        "CSV", id=ids.REPORT_DOWNLOAD_CSV, color="outline-primary"
                                    ),
                                    dbc.Button(
                                        "XLSX",
                                        id=ids.REPORT_DOWNLOAD_XLSX,
                                        color="outline-primary",
                                    ),
                                    dbc.Button(
                                        "PDF", id=ids.REPORT_DOWNLOAD_PDF, color="outline-primary"
                                    ),
                                ],
                                size="sm",
                            ),
                            dcc.Loading(
                                html.Div(id=ids.REPORT_EXPORT_MESSAGE, className="small mt-1"),
                                type="dot",
                            ),
                            dcc.Download(id=ids.REPORT_DOWNLOAD),
                        ],
                        md=3,
                    ),
                ],
                className="g-3",
            )
        ),
        className="mb-3",
    )


def _card(title: str, body, **kwargs) -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(body)],
        className="mb-3",
        **kwargs,
    )


def _graph(graph_id: str, height: int) -> dcc.Loading:
    return dcc.Loading(
        dcc.Graph(id=graph_id, config=GRAPH_CONFIG, style={"minHeight": f"{height}px"}),
        type="default",
        delay_show=300,
    )


def layout(**_kwargs) -> html.Div:
    return html.Div(
        [
            html.H2("Push Validation Report"),
            html.P(
                [
                    "How the pushes of a period came out: verified by the first sweep after "
                    "them, failed verification, failed to install, or still pending. ",
                    html.Span(id=ids.REPORT_PERIOD_LABEL, className="fw-semibold"),
                ],
                className="text-muted",
            ),
            dbc.Alert(id=ids.REPORT_ERROR, color="danger", is_open=False),
            _controls(),
            dbc.Row(id=ids.REPORT_KPIS, className="g-2 mb-3"),
            _card("Trend", _graph(ids.REPORT_TREND, 380)),
            dbc.Row(
                [
                    dbc.Col(_card("By connector type", _graph(ids.REPORT_BY_TYPE, 220)), lg=6),
                    dbc.Col(
                        _card("By device (most failures first)", _graph(ids.REPORT_BY_DEVICE, 220)),
                        lg=6,
                    ),
                ]
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _card(
                            "Failure reasons",
                            dag.AgGrid(
                                id=ids.REPORT_REASONS,
                                columnDefs=REASON_COLUMNS,
                                rowData=[],
                                defaultColDef={"resizable": True, "sortable": True},
                                getRowId="params.data.reason",
                                dashGridOptions={
                                    "domLayout": "autoHeight",
                                    "overlayNoRowsTemplate": "No failures in this period.",
                                    "tooltipShowDelay": 300,
                                },
                                className="report-reasons-grid",
                            ),
                        ),
                        lg=5,
                    ),
                    dbc.Col(
                        _card(
                            "Pushes behind the selection",
                            dcc.Loading(
                                html.Div(drilldown_placeholder(), id=ids.REPORT_DRILLDOWN),
                                type="default",
                                delay_show=300,
                            ),
                        ),
                        lg=7,
                    ),
                ]
            ),
            _card("Expiry outlook", _graph(ids.REPORT_EXPIRY, 330)),
            _card(
                "Produced weekly reports",
                [
                    html.Div(id=ids.REPORT_WEEKLY),
                    dcc.Download(id=ids.REPORT_WEEKLY_DOWNLOAD),
                ],
            ),
        ]
    )
