"""The topology's rollout panel: the canary and the waves of the certificate's newest request,
each connector's work order status, why it halted, and Resume / Abort.

The panel's frame, the comment field and both buttons stay in the page layout (hidden
until needed), so a refresh never re-renders a button under a click; a callback fills
the summary. Whether the buttons show is asked of data/rollouts.py, which applies the
same rule again when one is pressed.
"""

from __future__ import annotations

from collections.abc import Collection

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from data.domain.rollout import RolloutAction, RolloutState, WaveState
from data.domain.workflow import WorkOrderStatus
from data.rollouts import RolloutView

HIDDEN = "d-none"

# Bootstrap colour names: the panel's only colours.
STATE_COLOURS: dict[RolloutState, str] = {
    RolloutState.RUNNING: "primary",
    RolloutState.HALTED: "danger",
    RolloutState.ABORTED: "secondary",
    RolloutState.DONE: "success",
}
WAVE_COLOURS: dict[WaveState, str] = {
    WaveState.WAITING: "light",
    WaveState.RUNNING: "primary",
    WaveState.VERIFIED: "success",
    WaveState.FAILED: "danger",
}


def rollout_panel() -> dbc.Card:
    """The frame: summary (filled by a callback), then the comment and both buttons."""
    controls = html.Div(
        [
            dbc.Input(
                id=ids.ROLLOUT_COMMENT,
                placeholder="Why resume or abort (required)",
                maxLength=2000,
                size="sm",
                className="me-2",
                style={"maxWidth": "28rem"},
            ),
            dbc.Button(
                "Resume",
                id=ids.ROLLOUT_RESUME,
                color="success",
                size="sm",
                className=HIDDEN,
                title="Accept the failures so far and go on",
            ),
            dbc.Button(
                "Abort",
                id=ids.ROLLOUT_ABORT,
                color="outline-danger",
                size="sm",
                className=HIDDEN,
                title="Cancel the work orders not yet pushed",
            ),
        ],
        id=ids.ROLLOUT_CONTROLS,
        className=HIDDEN,
    )
    return dbc.Card(
        dbc.CardBody(
            [
                dcc.Store(id=ids.ROLLOUT_REQUEST),
                html.Div(id=ids.ROLLOUT_SUMMARY),
                controls,
                dbc.Alert(
                    id=ids.ROLLOUT_MESSAGE,
                    is_open=False,
                    dismissable=True,
                    className="mt-2 mb-0 py-2",
                ),
            ]
        ),
        id=ids.ROLLOUT_PANEL,
        className=HIDDEN,
    )


def rollout_summary(view: RolloutView) -> list:
    """The heading (Rollout REQ-…: wave k of n), why it halted, and one row per connector
    with its wave and its work order's status."""
    heading = html.H5(
        [
            html.Span(view.title, className="me-2"),
            dbc.Badge(view.state.value, color=STATE_COLOURS[view.state]),
        ],
        className="rollout-title",
        **{"data-state": view.state.value, "data-progress": view.progress},
    )
    parts: list = [heading]
    if view.reason and view.state is not RolloutState.RUNNING:
        parts.append(html.Div(view.reason, className="rollout-reason small text-danger mb-2"))
    rows = []
    for wave in view.waves:
        for position, member in enumerate(wave.work_orders):
            first = position == 0
            wave_cell = (
                [
                    html.Span(wave.name, className="me-1"),
                    dbc.Badge(
                        wave.state.value,
                        color=WAVE_COLOURS[wave.state],
                        text_color="dark" if wave.state is WaveState.WAITING else None,
                    ),
                ]
                if first
                else ""
            )
            rows.append(
                html.Tr(
                    [
                        html.Td(wave_cell),
                        html.Td(member.connector),
                        html.Td(member.label, className="text-nowrap"),
                        html.Td(member.status.value, className="rollout-status"),
                        # a Halted one's reason is the halt reason, said once above
                        html.Td(
                            "" if member.status is WorkOrderStatus.HALTED else member.reason,
                            className="small text-muted",
                        ),
                    ],
                    **{
                        "data-connector": member.connector,
                        "data-wave": str(wave.index),
                        "data-status": member.status.value,
                    },
                )
            )
    header = html.Thead(
        html.Tr([html.Th(h) for h in ("Wave", "Connector", "Work order", "Status", "")])
    )
    parts.append(dbc.Table([header, html.Tbody(rows)], size="sm", className="mb-2 rollout-table"))
    return parts


def control_classes(
    view: RolloutView | None, decisions: Collection[RolloutAction]
) -> tuple[str, str, str]:
    """className of the controls row, Resume and Abort: shown while the rollout is halted,
    each button to those who may press it."""
    if view is None or view.state is not RolloutState.HALTED or not decisions:
        return HIDDEN, HIDDEN, HIDDEN
    shown = "d-flex align-items-center flex-wrap"
    return (
        shown,
        "me-2" if RolloutAction.RESUME in decisions else HIDDEN,
        "" if RolloutAction.ABORT in decisions else HIDDEN,
    )
