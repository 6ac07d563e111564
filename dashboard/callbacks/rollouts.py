"""The topology's rollout panel: show the newest request's rollout; Resume and Abort.

Thin: read the inputs, call data/rollouts.py, hand the view to the component builders.
Who may resume or abort is decided there, on the server: a forged POST is refused with
the reason and leaves its refusal in the audit trail.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import now, require_permission, settings
from dashboard.components.rollout import HIDDEN, control_classes, rollout_summary
from data.connectors import certificate_by_fingerprint
from data.db import session_scope
from data.domain.errors import NotFound
from data.domain.roles import Permission
from data.domain.rollout import RolloutAction
from data.domain.workflow import Actor
from data.rollouts import abort, available_decisions, latest_rollout, resume

BUTTONS = {ids.ROLLOUT_RESUME: RolloutAction.RESUME, ids.ROLLOUT_ABORT: RolloutAction.ABORT}


@callback(
    Output(ids.ROLLOUT_PANEL, "className"),
    Output(ids.ROLLOUT_SUMMARY, "children"),
    Output(ids.ROLLOUT_CONTROLS, "className"),
    Output(ids.ROLLOUT_RESUME, "className"),
    Output(ids.ROLLOUT_ABORT, "className"),
    Output(ids.ROLLOUT_REQUEST, "data"),
    Input(ids.TOPOLOGY_FINGERPRINT, "data"),
    Input(ids.TOPOLOGY_REFRESH, "data"),
)
def show_rollout(fingerprint: str | None, _refresh: Any = None) -> tuple[Any, ...]:
    """The panel, when the certificate's newest request is a rollout; the buttons to those
    who may press them while it is halted."""
    user = require_permission(Permission.VIEW_INVENTORY)
    hidden = (HIDDEN, None, HIDDEN, HIDDEN, HIDDEN, None)
    if not fingerprint:
        return hidden
    try:
        with session_scope(settings().database_url) as db:
            cert = certificate_by_fingerprint(db, fingerprint)
            view = latest_rollout(db, cert.id)
            decisions = (
                available_decisions(db, view, Actor(user.username, user.role.value))
                if view
                else frozenset()
            )
    except NotFound:
        return hidden
    if view is None:
        return hidden
    return ("mb-3", rollout_summary(view), *control_classes(view, decisions), view.label)


@callback(
    Output(ids.ROLLOUT_MESSAGE, "children"),
    Output(ids.ROLLOUT_MESSAGE, "color"),
    Output(ids.ROLLOUT_MESSAGE, "is_open"),
    Output(ids.ROLLOUT_COMMENT, "value"),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Input(ids.ROLLOUT_RESUME, "n_clicks"),
    Input(ids.ROLLOUT_ABORT, "n_clicks"),
    State(ids.ROLLOUT_COMMENT, "value"),
    State(ids.ROLLOUT_REQUEST, "data"),
    prevent_initial_call=True,
    running=[
        (Output(ids.ROLLOUT_RESUME, "disabled"), True, False),
        (Output(ids.ROLLOUT_ABORT, "disabled"), True, False),
    ],
)
def decide_rollout(
    resumed: int | None, aborted: int | None, comment: str | None, request: str | None
) -> tuple[Any, ...]:
    """Resume or Abort the rollout shown, as the logged-in user; say what happened."""
    trigger = ctx.triggered_id
    clicks = resumed if trigger == ids.ROLLOUT_RESUME else aborted
    if trigger not in BUTTONS or not clicks or not request:
        return (no_update,) * 5
    return rollout_decision(BUTTONS[trigger], comment, str(request))


def rollout_decision(action: RolloutAction, comment: str | None, request: str) -> tuple[Any, ...]:
    """Apply ``action`` to the rollout of ``request`` as the logged-in user (the rule is
    data/rollouts.py's): the message, its colour, shown, the comment field, a refresh."""
    user = require_permission(Permission.VIEW_INVENTORY)
    decide = resume if action is RolloutAction.RESUME else abort
    at = now()
    with session_scope(settings().database_url) as db:
        result = decide(db, request, actor=Actor(user.username, user.role.value),
                        comment=(comment or "").strip(), now=at)  # fmt: skip
    refresh = {"changed": at.isoformat()}
    if result.ok:
        return result.message, "success", True, "", refresh
    return result.message, "danger", True, no_update, refresh
