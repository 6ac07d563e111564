"""The work orders page: filtered rows, and the history of the one selected."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dash import Input, Output, State, callback, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.push_plan import plan_panel
from dashboard.components.workorders import ANY_STATUS, timeline, work_order_row
from dashboard.timezones import browser_zone
from data.db import session_scope
from data.domain.errors import NotFound, PermissionDenied
from data.domain.roles import Permission, Role
from data.domain.workflow import Action, Actor, WorkOrderStatus
from data.push_plans import current_plan
from data.push_verdicts import verdict_of
from data.workorders import (
    action_targets,
    get_work_order,
    history,
    list_work_orders,
    load_policy,
)

LIMIT = 500
MINE = {"approve": Action.APPROVE, "implement": Action.IMPLEMENT}


def _day_start(text: str | None, zone: tzinfo, days_after: int = 0) -> datetime | None:
    """Midnight of a date field's day in the browser's zone, as UTC."""
    if not text:
        return None
    day = date.fromisoformat(text) + timedelta(days=days_after)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


@callback(
    Output(ids.WORKORDERS_GRID, "rowData"),
    Output(ids.WORKORDERS_COUNT, "children"),
    Output(ids.WORKORDERS_ERROR, "children"),
    Output(ids.WORKORDERS_ERROR, "is_open"),
    Input(ids.WORKORDERS_STATUS, "value"),
    Input(ids.WORKORDERS_MINE, "value"),
    Input(ids.WORKORDERS_REQUESTER, "value"),
    Input(ids.WORKORDERS_FROM, "value"),
    Input(ids.WORKORDERS_TO, "value"),
    Input(ids.WORKORDERS_REFRESH, "n_clicks"),
    Input(ids.BROWSER_TZ, "data"),
)
def work_order_rows(
    status: str | None,
    mine: str | None,
    requester: str | None,
    since: str | None,
    until: str | None,
    _refresh: int | None = None,
    browser_tz: dict | None = None,
) -> tuple[Any, ...]:
    """Newest first, filtered in data.workorders; "mine" keeps what this user could act on."""
    user = require_permission(Permission.VIEW_INVENTORY)
    zone = browser_zone(browser_tz)
    try:
        chosen = WorkOrderStatus(status) if status and status != ANY_STATUS else None
        start = _day_start(since, zone)
        end = _day_start(until, zone, days_after=1)
    except ValueError as exc:
        return [], "", f"Cannot apply this filter: {exc}", True
    mine_action = MINE.get(mine or "")
    actor = Actor(user.username, user.role.value)
    with session_scope(settings().database_url) as db:
        views = list_work_orders(
            db,
            status=chosen,
            requester=(requester or "").strip() or None,
            since=start,
            until=end,
            # Admins act at every level: they are not a level's role.
            awaiting_role=user.role.value if mine_action and user.role is not Role.ADMIN else None,
            limit=LIMIT,
        )
        policy = load_policy(db) if mine_action else None
    full = len(views) >= LIMIT
    if mine_action and policy is not None:
        views = action_targets(views, actor, policy, datetime.now(UTC))[mine_action]
        views.sort(key=lambda v: v.id, reverse=True)
    count = f"{len(views):,} work order" + ("" if len(views) == 1 else "s")
    if full:
        count += f" (the newest {LIMIT:,}; narrow the filters to see older ones)"
    return [work_order_row(v, zone) for v in views], count, "", False


@callback(
    Output(ids.WORKORDERS_TIMELINE, "children"),
    Input(ids.WORKORDERS_GRID, "selectedRows"),
    State(ids.BROWSER_TZ, "data"),
)
def show_history(selected: list[dict] | None, browser_tz: dict | None = None) -> Any:
    """The selected work order's full history, oldest first, with the sweep that decided
    its push."""
    require_permission(Permission.VIEW_INVENTORY)
    if not selected:
        return "Select a work order to see its history."
    try:
        wo_id = int(selected[0]["id"])
        with session_scope(settings().database_url) as db:
            view = get_work_order(db, wo_id)
            events = history(db, wo_id)
            verdict = verdict_of(db, wo_id)
            plan = current_plan(db, wo_id)
    except (KeyError, TypeError, ValueError):
        return "Select a work order to see its history."
    except NotFound as exc:
        return str(exc)
    zone = browser_zone(browser_tz)
    return [
        timeline(view, events, zone, verdict),
        plan_panel(plan.to_json() if plan else None, zone),  # what runs, what preflight found
    ]


@callback(
    Output(ids.WORKORDERS_EVIDENCE_FILE, "data"),
    Output(ids.WORKORDERS_EVIDENCE_ERROR, "children"),
    Input(ids.WORKORDERS_EVIDENCE, "n_clicks"),
    State(ids.WORKORDERS_GRID, "selectedRows"),
    prevent_initial_call=True,
)
def download_evidence(clicks: int | None, selected: list[dict] | None) -> tuple[Any, str]:
    """The selected work order's evidence pack (data/evidence.py); the role is checked here."""
    from dash import dcc

    from data import audit
    from data.evidence import build_evidence, require_evidence_role, write_pack
    from reports.evidence_pdf import evidence_pdf

    if not clicks:
        return no_update, ""
    user = require_permission(Permission.VIEW_INVENTORY)
    try:
        require_evidence_role(user.username, user.role.value)
    except PermissionDenied as exc:
        return no_update, f"Refused: {exc}."
    try:
        wo_id = int((selected or [{}])[0]["id"])
    except (KeyError, TypeError, ValueError):
        return no_update, "Select a work order first."
    now = datetime.now(UTC)
    try:
        with session_scope(settings().database_url) as db:
            evidence = build_evidence(db, wo_id, now=now)
            audit.record(db, actor=user.username, action="evidence.export", now=now,
                         target=evidence["work_order"]["id"], detail="web download")  # fmt: skip
    except NotFound as exc:
        return no_update, str(exc)
    pack = write_pack(evidence, evidence_pdf(evidence))
    name = f"evidence-{evidence['work_order']['id']}.zip"
    return dcc.send_bytes(pack, name), ""
