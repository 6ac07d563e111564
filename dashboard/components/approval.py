"""Push to Device and the approval dialogs of the topology page, and what they show.

One confirmation dialog requests the push; one shared dialog serves Approve,
Implement, Reject, Cancel and Reschedule (DESIGN.md, "Work order states"). Which
buttons appear is worked out by asking the state machine itself (``decide``) whether
the logged-in user could take each action, so the page never keeps rules of its own;
the real check happens again, on the server, when the action is taken.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from dashboard.timezones import local_and_utc, zone_name
from data.domain.errors import WindowError
from data.domain.nodes import ConnectorView
from data.domain.windows import (
    describe_opening,
    describe_windows,
    next_opening,
    parse_windows,
    window_at,
)
from data.domain.workflow import (
    FINAL,
    UNSUCCESSFUL,
    Action,
    WorkOrderStatus,
)
from data.workorders import WorkOrderView

HIDDEN = "d-none"


@dataclass(frozen=True)
class ActionText:
    """How one action is named on its button and in the shared dialog."""

    button_id: str
    button: str
    colour: str
    title: str
    waiting: str  # "... work orders of this certificate <waiting>"


ACTIONS: dict[Action, ActionText] = {
    Action.APPROVE: ActionText(ids.APPROVE_BTN, "Approve", "primary", "Approve push",
                               "awaiting approval"),
    Action.IMPLEMENT: ActionText(ids.IMPLEMENT_BTN, "Implement", "success", "Implement push",
                                 "awaiting implementation"),
    Action.REJECT: ActionText(ids.REJECT_BTN, "Reject", "danger", "Reject push",
                              "that you may reject"),
    Action.CANCEL: ActionText(ids.CANCEL_WO_BTN, "Cancel work order", "outline-secondary",
                              "Cancel work order", "that can still be cancelled"),
    Action.RESCHEDULE: ActionText(ids.RESCHEDULE_BTN, "Reschedule", "outline-primary",
                                  "Reschedule push", "scheduled to run"),
}  # fmt: skip


def attach_work_orders(
    views: Sequence[ConnectorView], latest: Mapping[int, WorkOrderView]
) -> list[ConnectorView]:
    """Each connector with its newest work order's ID, status and schedule beside it."""
    attached = []
    for view in views:
        wo = latest.get(view.id)
        if wo is None:
            attached.append(view)
            continue
        attached.append(
            replace(
                view,
                work_order=wo.label,
                work_order_status=wo.status.value,
                run_at=wo.run_at if wo.status is WorkOrderStatus.SCHEDULED else None,
                work_order_final=wo.status in FINAL,
                work_order_reason=wo.reason if wo.status in UNSUCCESSFUL else "",
            )
        )
    return attached


def work_order_signature(views: Iterable[WorkOrderView]) -> list[list[int]]:
    """What changes whenever any work order changes: [id, version] pairs, by id."""
    return sorted([v.id, v.version] for v in views)


def button_classes(targets: Mapping[Action, Collection[WorkOrderView]]) -> list[str]:
    """className of each action button, in ACTIONS order: shown when it has targets."""
    return ["me-2 mb-2" if targets.get(action) else HIDDEN for action in ACTIONS]


def action_buttons() -> html.Div:
    """Approve, Implement, Reject, Cancel, Reschedule: always in the page, hidden when idle.

    They stay in the layout (never re-rendered by a refresh), so a click is never lost
    to a redraw and a re-render never fires their callbacks with n_clicks None.
    """
    return html.Div(
        [
            dbc.Button(text.button, id=text.button_id, color=text.colour, className=HIDDEN)
            for text in ACTIONS.values()
        ],
        id=ids.TOPOLOGY_WO_ACTIONS,
        className="mt-2",
    )


def action_message() -> dbc.Alert:
    """Where each request's and each action's outcome is said, success or refusal."""
    return dbc.Alert(
        id=ids.TOPOLOGY_ACTION_MESSAGE,
        is_open=False,
        dismissable=True,
        color="info",
        className="mt-2",
    )


def message_lines(messages: Sequence[str]) -> list[html.Div]:
    """One line per message, each a plain-text child."""
    return [html.Div(str(m)) for m in messages]


def outcome_colour(oks: Sequence[bool]) -> str:
    if oks and all(oks):
        return "success"
    return "warning" if any(oks) else "danger"


def push_confirm_dialog() -> dbc.Modal:
    """The Confirmation dialog of Push to Device: an optional comment, then OK."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Push to Device: confirmation")),
            dbc.ModalBody(
                [
                    html.Div(id=ids.PUSH_CONFIRM_TARGETS, className="mb-2"),
                    dbc.Label("Comment (optional)", html_for=ids.PUSH_COMMENT),
                    dbc.Textarea(id=ids.PUSH_COMMENT, rows=3, maxLength=2000),
                    html.Div(id=ids.PUSH_CONFIRM_ERROR, className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("OK", id=ids.PUSH_CONFIRM_OK, color="success"),
                    dbc.Button("Cancel", id=ids.PUSH_CONFIRM_CANCEL, color="link"),
                ]
            ),
        ],
        id=ids.PUSH_CONFIRM_MODAL,
        is_open=False,
    )


def push_targets(connector_names: Sequence[str]) -> list:
    """What OK will do, named before it is done."""
    if not connector_names:
        return [dbc.Alert("No app connector is bound to this certificate.", color="warning")]
    return [
        html.P(
            "A push request will be created, with one work order per bound app connector, "
            "each needing approval and then implementation by two other people:"
        ),
        html.Ul([html.Li(name) for name in connector_names], className="mb-0"),
    ]


def approval_dialog() -> dbc.Modal:
    """The one dialog behind Approve, Implement, Reject, Cancel and Reschedule."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Confirmation", id=ids.APPROVAL_TITLE)),
            dbc.ModalBody(
                [
                    dcc.Store(id=ids.APPROVAL_PENDING),
                    html.Div(id=ids.APPROVAL_SUMMARY, className="mb-3"),
                    html.Div(
                        [
                            dbc.Switch(
                                id=ids.MANUAL_SWITCH,
                                label="Manual Implementation",
                                value=True,
                            ),
                            dbc.FormText(
                                "On: Implement pushes now (Approve proposes no time). "
                                "Off: choose the date and time of the push."
                            ),
                        ],
                        id=ids.MANUAL_SWITCH_ROW,
                        className="mb-3",
                    ),
                    html.Div(
                        [
                            dbc.Label("Date and time of the push", html_for=ids.SCHEDULE_DATETIME),
                            dcc.Input(
                                id=ids.SCHEDULE_DATETIME,
                                type="datetime-local",
                                className="form-control",
                            ),
                            dbc.FormText(id=ids.SCHEDULE_ZONE),
                        ],
                        id=ids.SCHEDULE_ROW,
                        className=HIDDEN,
                    ),
                    html.Div(id=ids.APPROVAL_WINDOWS, className="mb-3"),
                    dbc.Label(
                        "Comment", id=ids.APPROVAL_COMMENT_LABEL, html_for=ids.APPROVAL_COMMENT
                    ),
                    dbc.Textarea(id=ids.APPROVAL_COMMENT, rows=3, maxLength=2000),
                    html.Div(id=ids.APPROVAL_ERROR, className="mt-2"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Yes", id=ids.APPROVAL_YES, color="primary"),
                    dbc.Button("No", id=ids.APPROVAL_NO, color="link"),
                ]
            ),
        ],
        id=ids.APPROVAL_MODAL,
        is_open=False,
    )


def form_visibility(action: Action | None, manual: bool | None) -> tuple[str, str, str]:
    """classNames of the toggle row and the date-time row, and the comment's label."""
    with_toggle = action in (Action.APPROVE, Action.IMPLEMENT)
    with_time = action is Action.RESCHEDULE or (with_toggle and not manual)
    label = "Reason (required)" if action is Action.REJECT else "Comment"
    return ("mb-3" if with_toggle else HIDDEN, "mb-3" if with_time else HIDDEN, label)


def _target_line(view: WorkOrderView, zone: tzinfo) -> html.Li:
    text = f"{view.label} ({view.connector}): {view.status.value}"
    if view.status is WorkOrderStatus.SCHEDULED and view.run_at:
        text += f", push at {local_and_utc(view.run_at, zone)}"
    if view.proposed_at and view.status is WorkOrderStatus.REVIEW_IN_PROGRESS:
        text += f", proposed for {local_and_utc(view.proposed_at, zone)}"
    return html.Li(text)


def approval_summary(action: Action, targets: Sequence[WorkOrderView], zone: tzinfo) -> list:
    """What Yes will apply to: every listed work order, named by ID and connector."""
    text = ACTIONS[action]
    if not targets:
        return [
            dbc.Alert(
                f"No work order of this certificate is {text.waiting} for you any more: "
                "someone may have acted first. The topology has been refreshed.",
                color="warning",
            )
        ]
    if len(targets) == 1:
        head = f"{text.button} {targets[0].label} ({targets[0].connector})."
    else:
        labels = ", ".join(v.label for v in targets)
        head = (
            f"{text.button} applies to all {len(targets)} work orders of this certificate "
            f"{text.waiting}: {labels}."
        )
    return [html.P(head), html.Ul([_target_line(v, zone) for v in targets], className="small")]


def proposed_time(action: Action, targets: Sequence[WorkOrderView]) -> datetime | None:
    """The time to pre-fill: the reviewer's proposal (Implement) or the current one
    (Reschedule); the earliest when several work orders differ."""
    if action is Action.IMPLEMENT:
        times = [v.proposed_at for v in targets if v.proposed_at]
    elif action is Action.RESCHEDULE:
        times = [v.run_at for v in targets if v.run_at]
    else:
        times = []
    return min(times) if times else None


def zone_hint(zone: tzinfo, now: datetime) -> str:
    return f"In your time zone ({zone_name(zone, now)}); stored and shown in UTC as well."


# Actions whose push time must lie in the connector's maintenance windows.
WINDOW_ACTIONS = (Action.IMPLEMENT, Action.RESCHEDULE)


def _window_line(label: str, connector: str, text: str, at: datetime | None, now_push: bool):
    head = f"{label} ({connector}): "
    try:
        windows = parse_windows(text)
    except WindowError as exc:
        unreadable = head + f"its maintenance windows cannot be read: {exc}"
        return html.Li(unreadable, className="text-danger")
    said = f"maintenance windows {describe_windows(windows)}" if windows else "any time"
    parts: list = [head + said]
    if windows and at is not None and window_at(windows, at) is None:
        opening = next_opening(windows, at)
        when = describe_opening(windows, opening) if opening else "none in the next two weeks"
        said = (
            f"outside them now: Yes schedules the push at the next opening, {when}"
            if now_push
            else f"the chosen time is outside them; the next opening is {when}"
        )
        parts += [html.Br(), html.Span(said, className="fw-semibold window-outside")]
    elif windows and at is not None:
        inside = html.Span("the push time is inside a window", className="window-inside")
        parts += [html.Br(), inside]
    return html.Li(parts)


def windows_panel(
    rows: Sequence[tuple[str, str, str]], at: datetime | None, *, now_push: bool
) -> list:
    """Each work order's connector windows ("any time" without any) and, when the push
    time ``at`` (now, with Manual Implementation on) is outside them, the next opening.
    ``rows`` are (work order label, connector, windows text). Only said here: ``act``
    applies the windows again when Yes is clicked."""
    if not rows:
        return []
    lines = [_window_line(label, name, text, at, now_push) for label, name, text in rows]
    title = html.Div("Maintenance windows", className="small fw-semibold")
    return [title, html.Ul(lines, className="small mb-0")]
