""" "Verify now" on the topology: the scheduler runs the sweep; the page shows progress."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, html, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.roles import Permission
from data.tasks import DONE, get_task, queue_task


@callback(
    Output(ids.VERIFY_TASK, "data"),
    Output(ids.VERIFY_POLL, "disabled"),
    Output(ids.VERIFY_POLL, "n_intervals"),
    Output(ids.VERIFY_STATUS, "children"),
    Input(ids.VERIFY_NOW, "n_clicks"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    prevent_initial_call=True,
)
def verify_now(clicks: int | None, fingerprint: str | None) -> tuple[Any, ...]:
    """Queue a sweep of this certificate's endpoints; the web process never probes."""
    if not clicks or not fingerprint:
        return no_update, no_update, no_update, no_update
    user = require_permission(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        task_id = queue_task(
            db, "verify", {"certificate": fingerprint}, actor=user.username, now=datetime.now(UTC)
        )
    return {"id": task_id}, False, 0, [dbc.Spinner(size="sm"), " verifying…"]


@callback(
    Output(ids.VERIFY_STATUS, "children", allow_duplicate=True),
    Output(ids.VERIFY_POLL, "disabled", allow_duplicate=True),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Input(ids.VERIFY_POLL, "n_intervals"),
    State(ids.VERIFY_TASK, "data"),
    State(ids.VERIFY_POLL, "max_intervals"),
    prevent_initial_call=True,
)
def verify_progress(n: int, task: dict | None, max_intervals: int) -> tuple[Any, ...]:
    if not task:
        return no_update, True, no_update
    user = require_permission(Permission.VIEW_INVENTORY)
    try:
        with session_scope(settings().database_url) as db:
            view = get_task(db, int(task["id"]), actor=user.username)
    except CertpushError as exc:
        return str(exc), True, no_update
    if view.status == DONE and view.result is not None:
        summary = view.result.get("summary") or {}
        counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(summary.items()))
        text = (
            f"{view.result.get('message', '')}: {counts}"
            if counts
            else view.result.get("message", "done")
        )
        return html.Span(text, id="verify-now-result"), True, {"verified": view.id}
    if n and n >= max_intervals - 1:
        return "No answer from the scheduler process: is it running?", True, no_update
    return no_update, False, no_update
