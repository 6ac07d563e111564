"""The Agents page: every logged-in user sees the agents; only admins decide, and that is
checked by data/agents.py with the role from the server-side session."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, callback, ctx, no_update

from dashboard import ids
from dashboard.auth import acting_user, now, require_permission, settings
from dashboard.components.agents import agent_table, zone_badges
from data import agents as agent_service
from data import audit
from data.db import session_scope
from data.domain.errors import AuthError, CertpushError, PermissionDenied
from data.domain.roles import Permission, Role


@callback(
    Output(ids.AGENTS_TABLE, "children"),
    Output(ids.AGENTS_ZONES, "children"),
    Input(ids.AGENTS_REFRESH, "data"),
    Input(ids.AGENTS_POLL, "n_intervals"),
)
def agent_rows(_refresh: Any, _tick: Any) -> tuple[Any, Any]:
    try:
        user = require_permission(Permission.VIEW_INVENTORY)
    except AuthError as exc:
        return str(exc), None
    at = now()
    with session_scope(settings().database_url) as db:
        found = agent_service.list_agents(db)
    return agent_table(found, at, admin=user.role is Role.ADMIN), zone_badges(found, at)


@callback(
    Output(ids.AGENTS_MESSAGE, "children"),
    Output(ids.AGENTS_MESSAGE, "color"),
    Output(ids.AGENTS_MESSAGE, "is_open"),
    Output(ids.AGENTS_REFRESH, "data"),
    Input({"type": ids.AGENTS_DECIDE, "agent": ALL, "to": ALL}, "submit_n_clicks"),
    prevent_initial_call=True,
)
def decide_clicked(clicks: list[int | None]) -> tuple[Any, ...]:
    trigger = ctx.triggered_id
    items = ctx.inputs_list[0] if ctx.inputs_list else []
    confirmed = any(
        item.get("id") == trigger and n for item, n in zip(items, clicks or [], strict=False)
    )
    if not isinstance(trigger, dict) or not confirmed:
        return (no_update,) * 4
    return decide(str(trigger.get("agent", "")), str(trigger.get("to", "")))


def decide(name: str, verb: str) -> tuple[Any, ...]:
    """Approve or revoke ``name`` as the logged-in user (admins only, checked again by the
    service); a refusal is audited."""
    try:
        user = acting_user()
    except AuthError as exc:
        return str(exc), "danger", True, no_update
    if verb not in ("approve", "revoke"):
        return "Unknown decision: reload the page.", "danger", True, no_update
    service = agent_service.approve if verb == "approve" else agent_service.revoke
    at = now()
    try:
        with session_scope(settings().database_url) as db:
            info = service(db, name, actor=user.username, role=user.role.value, now=at)
    except PermissionDenied as exc:
        with session_scope(settings().database_url) as db:
            audit.record(
                db,
                actor=user.username,
                action=f"agent.{verb}.refused",
                now=at,
                target=name[:64],
                detail=str(exc),
            )
        return f"Refused: {exc}.", "danger", True, no_update
    except CertpushError as exc:
        return str(exc), "danger", True, no_update
    said = f"Agent {info.name} ({info.zone}) is {info.state.value}."
    return said, "success", True, {"decided": info.name, "at": at.isoformat()}
