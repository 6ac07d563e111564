"""Push to Device and the approval dialogs of the topology page.

Thin: each callback reads its dialog, calls one service of data.workorders
(``request_push``, ``act``) and renders the answer. Who may do what - roles, the
four-eyes rule, the state of the work order - is decided there, on the server, so a
forged callback POST changes nothing and leaves its refusal in the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.approval import (
    ACTIONS,
    HIDDEN,
    WINDOW_ACTIONS,
    approval_summary,
    button_classes,
    form_visibility,
    message_lines,
    outcome_colour,
    proposed_time,
    push_targets,
    windows_panel,
    work_order_signature,
    zone_hint,
)
from dashboard.components.push_plan import plans_panel
from dashboard.timezones import LocalTimeError, browser_zone, parse_local, to_local_input
from data.connectors import bound_connectors, certificate_by_fingerprint, work_order_windows
from data.db import session_scope
from data.domain.errors import CertpushError, NotFound, PermissionDenied
from data.domain.roles import Permission
from data.domain.workflow import FINAL, Action, Actor
from data.push_plans import current_plan
from data.users import UserInfo
from data.workorders import (
    act,
    action_targets,
    list_work_orders,
    load_policy,
    request_push,
)

# One click acts on at most this many work orders (a forged request may list more).
MAX_TARGETS = 500
BUTTON_ACTIONS: dict[str, Action] = {text.button_id: action for action, text in ACTIONS.items()}


def _now() -> datetime:
    return datetime.now(UTC)


def _actor(user: UserInfo) -> Actor:
    return Actor(user.username, user.role.value)


def _horizon() -> timedelta:
    return timedelta(days=settings().schedule_horizon_days)


def _refresh(now: datetime) -> dict[str, str]:
    return {"changed": now.isoformat()}


def _problem(text: str | list) -> dbc.Alert:
    """A refusal shown inside the dialog; text only."""
    return dbc.Alert(text, color="danger", className="py-2 mb-0")


# ----- Push to Device


@callback(
    Output(ids.PUSH_CONFIRM_MODAL, "is_open"),
    Output(ids.PUSH_CONFIRM_TARGETS, "children"),
    Output(ids.PUSH_COMMENT, "value"),
    Output(ids.PUSH_CONFIRM_ERROR, "children"),
    Input(ids.PUSH_TO_DEVICE, "n_clicks"),
    Input(ids.PUSH_CONFIRM_CANCEL, "n_clicks"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    prevent_initial_call=True,
)
def toggle_push_dialog(
    opened: int | None, cancelled: int | None, fingerprint: str | None
) -> tuple[Any, ...]:
    """Open the confirmation naming the connectors that will get a work order; Cancel closes."""
    if ctx.triggered_id == ids.PUSH_CONFIRM_CANCEL and cancelled:
        return False, no_update, no_update, no_update
    # The button is re-rendered with the connector panel, which fires this with None.
    if ctx.triggered_id != ids.PUSH_TO_DEVICE or not opened or not fingerprint:
        return no_update, no_update, no_update, no_update
    return push_dialog_state(fingerprint)


def push_dialog_state(fingerprint: str) -> tuple[Any, ...]:
    """(is_open, targets, comment, error) of a freshly opened confirmation dialog."""
    require_permission(Permission.VIEW_INVENTORY)
    try:
        with session_scope(settings().database_url) as db:
            cert = certificate_by_fingerprint(db, fingerprint)
            names = [v.name for v in bound_connectors(db, cert.id)]
    except NotFound as exc:
        return True, None, "", _problem(str(exc))
    return True, push_targets(names), "", None


@callback(
    Output(ids.PUSH_CONFIRM_MODAL, "is_open", allow_duplicate=True),
    Output(ids.PUSH_CONFIRM_ERROR, "children", allow_duplicate=True),
    Output(ids.TOPOLOGY_ACTION_MESSAGE, "children", allow_duplicate=True),
    Output(ids.TOPOLOGY_ACTION_MESSAGE, "color", allow_duplicate=True),
    Output(ids.TOPOLOGY_ACTION_MESSAGE, "is_open", allow_duplicate=True),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Input(ids.PUSH_CONFIRM_OK, "n_clicks"),
    State(ids.PUSH_COMMENT, "value"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    prevent_initial_call=True,
    running=[(Output(ids.PUSH_CONFIRM_OK, "disabled"), True, False)],
)
def confirm_push(
    clicks: int | None, comment: str | None, fingerprint: str | None
) -> tuple[Any, ...]:
    """OK: one push request, one work order per bound connector; their IDs are shown."""
    unchanged = (no_update,) * 6
    if not clicks or not fingerprint:
        return unchanged
    try:
        user = require_permission(Permission.REQUEST_PUSH)
    except PermissionDenied as exc:
        return no_update, _problem(f"Refused: {exc}."), *unchanged[2:]
    now = _now()
    try:
        with session_scope(settings().database_url) as db:
            request_label, orders = request_push(
                db, fingerprint, actor=_actor(user), now=now, comment=(comment or "").strip()
            )
    except CertpushError as exc:
        return no_update, _problem(str(exc)), *unchanged[2:]
    created = ", ".join(f"{wo.label} ({wo.connector})" for wo in orders)
    text = f"{request_label} created: {created}. Each work order now awaits approval."
    return False, None, message_lines([text]), "success", True, _refresh(now)


# ----- which approval buttons show, and keeping the page current


@callback(
    *[Output(text.button_id, "className") for text in ACTIONS.values()],
    Output(ids.TOPOLOGY_WO_STATE, "data"),
    Output(ids.TOPOLOGY_WO_POLL, "disabled"),
    Input(ids.TOPOLOGY_FINGERPRINT, "data"),
    Input(ids.TOPOLOGY_REFRESH, "data"),
)
def work_order_actions(fingerprint: str | None, _refresh: Any = None) -> tuple[Any, ...]:
    """Show each action button when some work order of this certificate awaits it from
    this user; poll for changes while any work order is not final."""
    user = require_permission(Permission.VIEW_INVENTORY)
    idle = (*[HIDDEN] * len(ACTIONS), None, True)
    if not fingerprint:
        return idle
    now = _now()
    try:
        with session_scope(settings().database_url) as db:
            cert = certificate_by_fingerprint(db, fingerprint)
            views = list_work_orders(db, certificate_id=cert.id)
            policy = load_policy(db, _horizon())
    except NotFound:
        return idle
    targets = action_targets(views, _actor(user), policy, now)
    in_flight = any(v.status not in FINAL for v in views)
    return (
        *button_classes(targets),
        {"signature": work_order_signature(views)},
        not in_flight,
    )


@callback(
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Input(ids.TOPOLOGY_WO_POLL, "n_intervals"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    State(ids.TOPOLOGY_WO_STATE, "data"),
    prevent_initial_call=True,
)
def poll_work_orders(n: int | None, fingerprint: str | None, known: dict | None) -> Any:
    """Refresh the topology only when some work order of this certificate changed
    (someone approved, the scheduler finished a push), never just because time passed."""
    if not n or not fingerprint:
        return no_update
    require_permission(Permission.VIEW_INVENTORY)
    try:
        with session_scope(settings().database_url) as db:
            cert = certificate_by_fingerprint(db, fingerprint)
            signature = work_order_signature(list_work_orders(db, certificate_id=cert.id))
    except NotFound:
        return no_update
    if known and known.get("signature") == signature:
        return no_update
    return _refresh(_now())


# ----- the shared approval dialog


@callback(
    Output(ids.APPROVAL_MODAL, "is_open"),
    Output(ids.APPROVAL_TITLE, "children"),
    Output(ids.APPROVAL_SUMMARY, "children"),
    Output(ids.APPROVAL_PENDING, "data"),
    Output(ids.MANUAL_SWITCH, "value"),
    Output(ids.SCHEDULE_DATETIME, "value"),
    Output(ids.SCHEDULE_ZONE, "children"),
    Output(ids.APPROVAL_COMMENT, "value"),
    Output(ids.APPROVAL_ERROR, "children"),
    Output(ids.APPROVAL_YES, "disabled"),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    *[Input(text.button_id, "n_clicks") for text in ACTIONS.values()],
    Input(ids.APPROVAL_NO, "n_clicks"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    State(ids.BROWSER_TZ, "data"),
    prevent_initial_call=True,
)
def toggle_approval_dialog(*args: Any) -> tuple[Any, ...]:
    """Approve, Implement, Reject, Cancel or Reschedule opens the one dialog; No closes it."""
    *clicks, _no, fingerprint, browser_tz = args
    trigger = ctx.triggered_id
    if trigger == ids.APPROVAL_NO:
        return False, *(no_update,) * 10
    action = BUTTON_ACTIONS.get(trigger) if isinstance(trigger, str) else None
    if action is None or not any(clicks) or not fingerprint:
        return (no_update,) * 11
    return approval_dialog_state(action, fingerprint, browser_tz)


def approval_dialog_state(
    action: Action, fingerprint: str, browser_tz: dict | None = None
) -> tuple[Any, ...]:
    """The dialog for ``action`` over every work order of the certificate awaiting it from
    this user, read fresh: its 11 outputs (see toggle_approval_dialog)."""
    user = require_permission(Permission.VIEW_INVENTORY)
    zone = browser_zone(browser_tz)
    now = _now()
    try:
        with session_scope(settings().database_url) as db:
            cert = certificate_by_fingerprint(db, fingerprint)
            views = list_work_orders(db, certificate_id=cert.id)
            policy = load_policy(db, _horizon())
    except NotFound as exc:
        return (True, ACTIONS[action].title, None, None, True, None, "", "", _problem(str(exc)),
                True, no_update)  # fmt: skip
    targets = action_targets(views, _actor(user), policy, now)[action]
    plans: dict[int, dict | None] = {}
    if action in (Action.APPROVE, Action.IMPLEMENT):  # approvers see exactly what will run
        with session_scope(settings().database_url) as db:
            for view in targets:
                plan = current_plan(db, view.id)
                plans[view.id] = plan.to_json() if plan else None
    at = proposed_time(action, targets)
    # A reviewer's future proposal is shown, toggle off, ready to confirm or change.
    manual = not (action is Action.IMPLEMENT and at is not None and at > now)
    return (
        True,
        ACTIONS[action].title,
        [  # one flat list: Dash renders no list nested in a list
            *approval_summary(action, targets, zone),
            *([plans_panel([(v.label, plans[v.id]) for v in targets], zone)] if plans else []),
        ],
        {
            "action": action.value,
            "work_orders": [v.id for v in targets],
            # the plans shown: Yes applies to these, and is refused if one changed meanwhile
            "digests": {str(i): (p or {}).get("digest") for i, p in plans.items()},
        },
        manual,
        to_local_input(at, zone),
        zone_hint(zone, now),
        "",
        None,
        not targets,
        no_update if targets else _refresh(now),
    )


@callback(
    Output(ids.MANUAL_SWITCH_ROW, "className"),
    Output(ids.SCHEDULE_ROW, "className"),
    Output(ids.APPROVAL_COMMENT_LABEL, "children"),
    Input(ids.MANUAL_SWITCH, "value"),
    Input(ids.APPROVAL_PENDING, "data"),
)
def show_schedule_field(manual: bool | None, pending: dict | None) -> tuple[str, str, str]:
    """The date-time field appears when Manual Implementation is off (and for Reschedule)."""
    return form_visibility(_pending_action(pending), manual)


@callback(
    Output(ids.APPROVAL_WINDOWS, "children"),
    Input(ids.MANUAL_SWITCH, "value"),
    Input(ids.SCHEDULE_DATETIME, "value"),
    Input(ids.APPROVAL_PENDING, "data"),
    State(ids.BROWSER_TZ, "data"),
)
def show_windows(
    manual: bool | None, when: str | None, pending: dict | None, browser_tz: dict | None
) -> list:
    """Implement and Reschedule: each work order's maintenance windows, and the next
    opening when the push time (now, with Manual Implementation on) is outside them."""
    action = _pending_action(pending)
    if action not in WINDOW_ACTIONS or not isinstance(pending, dict):
        return []
    require_permission(Permission.VIEW_INVENTORY)
    try:
        wo_ids = [int(i) for i in pending.get("work_orders") or []][:MAX_TARGETS]
    except (TypeError, ValueError):
        return []
    now_push = action is Action.IMPLEMENT and manual is not False
    try:
        at = _now() if now_push else parse_local(when, browser_zone(browser_tz))
    except LocalTimeError:
        at = None
    with session_scope(settings().database_url) as db:
        rows = work_order_windows(db, wo_ids)
    return windows_panel(rows, at, now_push=now_push)


def _pending_action(pending: Any) -> Action | None:
    if not isinstance(pending, dict):
        return None
    try:
        return Action(pending.get("action"))
    except ValueError:
        return None


@callback(
    Output(ids.APPROVAL_MODAL, "is_open", allow_duplicate=True),
    Output(ids.APPROVAL_ERROR, "children", allow_duplicate=True),
    Output(ids.TOPOLOGY_ACTION_MESSAGE, "children", allow_duplicate=True),
    Output(ids.TOPOLOGY_ACTION_MESSAGE, "color", allow_duplicate=True),
    Output(ids.TOPOLOGY_ACTION_MESSAGE, "is_open", allow_duplicate=True),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Input(ids.APPROVAL_YES, "n_clicks"),
    State(ids.APPROVAL_PENDING, "data"),
    State(ids.MANUAL_SWITCH, "value"),
    State(ids.SCHEDULE_DATETIME, "value"),
    State(ids.APPROVAL_COMMENT, "value"),
    State(ids.BROWSER_TZ, "data"),
    prevent_initial_call=True,
    running=[(Output(ids.APPROVAL_YES, "disabled"), True, False)],
)
def confirm_approval(
    clicks: int | None,
    pending: dict | None,
    manual: bool | None,
    when: str | None,
    comment: str | None,
    browser_tz: dict | None,
) -> tuple[Any, ...]:
    """Yes: apply the action to each listed work order through ``act``, and say what
    happened to each. The dialog stays open only when nothing was applied."""
    unchanged = (no_update,) * 6
    if not clicks or not pending:
        return unchanged
    user = require_permission(Permission.VIEW_INVENTORY)
    action = _pending_action(pending)
    try:
        wo_ids = [int(i) for i in pending.get("work_orders") or []][:MAX_TARGETS]
    except (AttributeError, TypeError, ValueError):
        wo_ids = []
    if action is None or not wo_ids:
        refusal = _problem("Nothing to apply: close the dialog and try again.")
        return no_update, refusal, *unchanged[2:]
    text = (comment or "").strip()
    if action is Action.REJECT and not text:
        refusal = _problem("A rejection needs a reason: write it in the comment.")
        return no_update, refusal, *unchanged[2:]
    manual_flag = bool(manual) if action in (Action.APPROVE, Action.IMPLEMENT) else True
    at = None
    if action is Action.RESCHEDULE or not manual_flag:
        try:
            at = parse_local(when, browser_zone(browser_tz))
        except LocalTimeError as exc:
            return no_update, _problem(str(exc)), *unchanged[2:]
        if at is None:
            missing = (
                "Choose the new date and time of the push."
                if action is Action.RESCHEDULE
                else "Choose the date and time of the push, or turn Manual Implementation on."
            )
            return no_update, _problem(missing), *unchanged[2:]
    now = _now()
    actor = _actor(user)
    shown = pending.get("digests") if isinstance(pending.get("digests"), dict) else {}
    results = []
    for wo_id in wo_ids:  # one transaction each: one refusal never undoes another's success
        with session_scope(settings().database_url) as db:
            result = act(
                db,
                wo_id,
                action,
                actor=actor,
                now=now,
                manual=manual_flag,
                at=at,
                comment=text,
                horizon=_horizon(),
                plan_digest=shown.get(str(wo_id)),
            )
        results.append(result)
    oks = [r.ok for r in results]
    lines = message_lines([r.message for r in results])
    colour = outcome_colour(oks)
    if any(oks):
        return False, None, lines, colour, True, _refresh(now)
    return no_update, _problem(lines), lines, colour, True, _refresh(now)
