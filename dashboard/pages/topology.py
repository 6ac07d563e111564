"""A certificate's topology: certificate -> app connectors -> devices -> IP:port endpoints.

The layout is a skeleton; a login-checked callback fills it from the database. Push to
Device and the approval buttons act on the certificate's work orders; while one of them
is in flight the page polls and redraws when something changed, without a reload.
"""

import dash
import dash_bootstrap_components as dbc
import dash_cytoscape as cyto
from dash import dcc, html

from dashboard import ids
from dashboard.components.approval import (
    action_buttons,
    action_message,
    approval_dialog,
    push_confirm_dialog,
)
from dashboard.components.connectors import connector_dialog, endpoints_dialog
from dashboard.components.node_details import node_details
from dashboard.components.rollout import rollout_panel
from dashboard.components.status import status_legend
from dashboard.graph import LAYOUT, STYLESHEET
from data.connectors import known_specs

# How often the page asks whether a work order changed, while one is in flight.
WORK_ORDER_POLL_MS = 3000
# The graph takes most of a laptop screen's height (a 200-endpoint grid needs room) and
# stays whole in view with the page's header above it.
GRAPH_HEIGHT = "max(420px, min(70vh, 760px))"

dash.register_page(
    __name__,
    path_template="/certificates/<fingerprint>/topology",
    name="Topology",
    title="certpush - topology",
)


def layout(fingerprint: str | None = None, **_kwargs) -> html.Div:
    return html.Div(
        [
            dcc.Store(id=ids.TOPOLOGY_FINGERPRINT, data=fingerprint),
            dcc.Store(id=ids.TOPOLOGY_REFRESH),
            dcc.Store(id=ids.TOPOLOGY_EXPANDED, data=[]),
            dcc.Store(id=ids.TOPOLOGY_WO_STATE),
            dcc.Interval(id=ids.TOPOLOGY_WO_POLL, interval=WORK_ORDER_POLL_MS, disabled=True),
            connector_dialog(known_specs()),
            endpoints_dialog(),
            push_confirm_dialog(),
            approval_dialog(),
            html.Div(
                [
                    dcc.Link("← Client Certificate", href="/certificates/client"),
                    html.Span(" · ", className="text-muted"),
                    dcc.Link("Work orders", href="/workorders"),
                    html.H2(id=ids.TOPOLOGY_TITLE, className="mt-2"),
                ]
            ),
            dbc.Alert(id=ids.TOPOLOGY_ERROR, color="danger", is_open=False),
            action_message(),
            html.Div(
                [
                    action_buttons(),
                    dbc.Button(
                        "Verify now",
                        id=ids.VERIFY_NOW,
                        color="outline-secondary",
                        size="sm",
                        className="ms-2",
                        title="Handshake with this certificate's endpoints now",
                    ),
                    html.Span(id=ids.VERIFY_STATUS, className="ms-2 small"),
                    dcc.Store(id=ids.VERIFY_TASK),
                    dcc.Interval(
                        id=ids.VERIFY_POLL, interval=500, disabled=True, max_intervals=240
                    ),
                ],
                className="d-flex align-items-center flex-wrap mb-2",
            ),
            rollout_panel(),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Div(
                                [
                                    cyto.Cytoscape(
                                        id=ids.TOPOLOGY_GRAPH,
                                        elements=[],
                                        layout=LAYOUT,
                                        stylesheet=STYLESHEET,
                                        style={"width": "100%", "height": GRAPH_HEIGHT},
                                        className="border rounded bg-white",
                                        minZoom=0.02,
                                        maxZoom=1.25,
                                    ),
                                    dbc.Button(
                                        "Fit",
                                        id=ids.TOPOLOGY_FIT,
                                        size="sm",
                                        color="light",
                                        className="border topology-fit",
                                        title="Show the whole graph",
                                    ),
                                    dcc.Store(id=ids.TOPOLOGY_FIT_DONE),
                                ],
                                className="position-relative",
                            ),
                            html.Div(
                                "Hover or tap a node for its details (beside the graph); tap "
                                "an endpoint summary to expand it, its connector to fold it "
                                "again; scroll to zoom.",
                                id=ids.TOPOLOGY_NODE_INFO,
                                className="small text-muted mt-1",
                            ),
                            html.Div(id=ids.TOPOLOGY_CONNECTORS, className="mt-3"),
                        ],
                        lg=8,
                    ),
                    dbc.Col(
                        [
                            html.Div(node_details(None), id=ids.TOPOLOGY_NODE_DETAILS),
                            html.Div(id=ids.TOPOLOGY_DETAILS),
                            status_legend(),
                        ],
                        lg=4,
                    ),
                ]
            ),
        ]
    )
