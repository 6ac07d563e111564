"""Callbacks of the topology's connector panel: add, test, bind, unbind.

Each state-changing callback checks the role itself. "Test connection" does not
contact the device from the web process: it queues a task the scheduler runs,
and polls for its answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update

from dashboard import ids
from dashboard.auth import require_permission, settings
from dashboard.components.connectors import config_errors, connector_fields, test_result
from data import audit
from data.connectors import (
    add_connector,
    bind,
    check_local_rights,
    get_connector,
    set_endpoints,
    spec_for,
    unbind,
)
from data.crypto import load_vault
from data.db import session_scope
from data.domain.connector_specs import (
    ConnectorConfigError,
    parse_endpoints,
    validate_settings,
)
from data.domain.errors import CertpushError, PermissionDenied
from data.domain.roles import Permission
from data.profiles import load_book
from data.tasks import DONE, get_task, queue_task, seal_task_secret

# The Add App Connector form, read by both "Test connection" and "Save and bind".
FORM_STATES = (
    State(ids.CONNECTOR_TYPE, "value"),
    State({"type": ids.CONNECTOR_FIELD, "name": ALL}, "id"),
    State({"type": ids.CONNECTOR_FIELD, "name": ALL}, "value"),
    State(ids.CONNECTOR_SECRET_KIND, "value"),
    State(ids.CONNECTOR_SECRET, "value"),
    State(ids.CONNECTOR_ENDPOINTS, "value"),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _form_settings(names: list[dict], values: list[Any]) -> dict[str, Any]:
    return {i["name"]: v for i, v in zip(names, values, strict=False) if v not in (None, "")}


def _message(text: str, colour: str = "danger") -> dbc.Alert:
    return dbc.Alert(text, color=colour, className="py-2")


@callback(
    Output(ids.CONNECTOR_MODAL, "is_open"),
    Input(ids.ADD_CONNECTOR_BTN, "n_clicks"),
    Input(ids.CONNECTOR_CANCEL, "n_clicks"),
    prevent_initial_call=True,
)
def toggle_connector_dialog(opened: int | None, _cancel: int | None) -> bool:
    # The button is re-rendered with the panel, which fires this with n_clicks None.
    return ctx.triggered_id == ids.ADD_CONNECTOR_BTN and bool(opened)


@callback(Output(ids.CONNECTOR_FIELDS, "children"), Input(ids.CONNECTOR_TYPE, "value"))
def show_type_fields(type_name: str | None) -> list:
    """The form follows the chosen type's spec (plug-in types included)."""
    if not type_name:
        return []
    try:
        spec = spec_for(type_name)
    except ConnectorConfigError as exc:
        return [_message(str(exc))]
    book = load_book(settings())
    problem = [_message(f"{book.error} (the last good profiles are offered)", "warning")]
    return (problem if book.error else []) + connector_fields(
        spec, [book.profiles[n] for n in book.names()]
    )


@callback(
    Output(ids.CONNECTOR_TASK, "data"),
    Output(ids.CONNECTOR_TASK_POLL, "disabled"),
    Output(ids.CONNECTOR_TASK_POLL, "n_intervals"),
    Output(ids.CONNECTOR_TEST_RESULT, "children"),
    Input(ids.CONNECTOR_TEST, "n_clicks"),
    *FORM_STATES,
    prevent_initial_call=True,
)
def test_connection(
    _clicks: int | None,
    type_name: str,
    names: list[dict],
    values: list[Any],
    secret_kind: str | None,
    secret: str | None,
    endpoints: str | None,
) -> tuple[Any, ...]:
    """Validate the form, then queue a connection test for the scheduler."""
    try:
        user = require_permission(Permission.MANAGE_CONNECTORS)
        spec = spec_for(type_name)
        check_local_rights(spec.type, user.username, user.role.value, load_book(settings()))
        clean = validate_settings(spec, _form_settings(names, values))
        parsed = parse_endpoints(endpoints or "")
    except PermissionDenied as exc:
        return None, True, 0, _message(f"Refused: {exc}.")
    except ConnectorConfigError as exc:
        return None, True, 0, config_errors(exc.errors)
    app_settings = settings()
    payload: dict[str, Any] = {
        "type": spec.type,
        "settings": clean,
        "secret_kind": secret_kind if secret else None,
        "endpoints": [e.to_json() for e in parsed],
    }
    try:
        if secret:
            payload["sealed_secret"] = seal_task_secret(load_vault(app_settings), secret.encode())
        with session_scope(app_settings.database_url) as db:
            task_id = queue_task(db, "connector.test", payload, actor=user.username, now=_now())
    except CertpushError as exc:
        return None, True, 0, _message(str(exc))
    waiting = dbc.Alert([dbc.Spinner(size="sm"), " Testing the connection…"], color="light")
    return {"id": task_id}, False, 0, waiting


@callback(
    Output(ids.CONNECTOR_TEST_RESULT, "children", allow_duplicate=True),
    Output(ids.CONNECTOR_TASK_POLL, "disabled", allow_duplicate=True),
    Input(ids.CONNECTOR_TASK_POLL, "n_intervals"),
    State(ids.CONNECTOR_TASK, "data"),
    State(ids.CONNECTOR_TASK_POLL, "max_intervals"),
    prevent_initial_call=True,
)
def poll_connection_test(n: int, task: dict | None, max_intervals: int) -> tuple[Any, bool]:
    """Show the scheduler's answer; only the requester may read their task."""
    if not task:
        return no_update, True
    user = require_permission(Permission.MANAGE_CONNECTORS)
    try:
        with session_scope(settings().database_url) as db:
            view = get_task(db, int(task["id"]), actor=user.username)
    except CertpushError as exc:
        return _message(str(exc)), True
    if view.status == DONE and view.result is not None:
        return test_result(view.result), True
    if n and n >= max_intervals - 1:
        return _message(
            "No answer from the scheduler process: is it running ('certpush scheduler')?"
        ), True
    return no_update, False


@callback(
    Output({"type": ids.CONNECTOR_FIELD, "name": "host_key_fingerprint"}, "value"),
    Input(ids.HOST_KEY_ACCEPT, "n_clicks"),
    State(ids.HOST_KEY_VALUE, "data"),
    prevent_initial_call=True,
)
def accept_host_key(clicks: int | None, fingerprint: str | None) -> str:
    """The operator accepts the key the server presented, explicitly, by clicking."""
    return fingerprint if clicks and fingerprint else no_update


@callback(
    Output(ids.CONNECTOR_MODAL, "is_open", allow_duplicate=True),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Output(ids.CONNECTOR_ERRORS, "children"),
    Input(ids.CONNECTOR_SAVE, "n_clicks"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    State(ids.CONNECTOR_NAME, "value"),
    *FORM_STATES,
    State(ids.CONNECTOR_WINDOWS, "value"),
    State(ids.CONNECTOR_ROLLBACK, "value"),
    State(ids.CONNECTOR_CANARY, "value"),
    prevent_initial_call=True,
)
def save_connector(
    _clicks: int | None,
    fingerprint: str,
    name: str | None,
    type_name: str,
    names: list[dict],
    values: list[Any],
    secret_kind: str | None,
    secret: str | None,
    endpoints: str | None,
    windows: str | None = None,
    auto_rollback: bool | None = True,
    canary: bool | None = False,
) -> tuple[Any, Any, Any]:
    """Create the connector and bind it to this certificate, in one transaction."""
    try:
        user = require_permission(Permission.MANAGE_CONNECTORS)
    except PermissionDenied as exc:
        return no_update, no_update, _message(f"Refused: {exc}.")
    app_settings = settings()
    now = _now()
    try:
        vault = load_vault(app_settings, required=bool(secret))  # it seals the secret
        with session_scope(app_settings.database_url) as db:
            info = add_connector(
                db,
                vault,
                name=(name or "").strip(),
                type_name=type_name,
                settings=_form_settings(names, values),
                endpoints=endpoints or "",
                secret=secret.encode() if secret else None,
                secret_kind=secret_kind if secret else None,
                actor=user.username,
                role=user.role.value,
                now=now,
                windows=windows or "",
                auto_rollback=auto_rollback is not False,
                canary=bool(canary),
            )
            bind(db, info.name, fingerprint, actor=user.username, now=now)
    except PermissionDenied as exc:  # a forged POST gets here: refused, nothing stored, audited
        with session_scope(app_settings.database_url) as db:
            audit.record(db, actor=user.username, action="connector.add.refused", now=now,
                         target=(name or "")[:200], detail=str(exc))  # fmt: skip
        return no_update, no_update, _message(f"Refused: {exc}.")
    except ConnectorConfigError as exc:
        return no_update, no_update, config_errors(exc.errors)
    except CertpushError as exc:
        return no_update, no_update, _message(str(exc))
    return False, {"changed": now.isoformat()}, None


@callback(
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Output(ids.CONNECTOR_PANEL_MESSAGE, "children"),
    Input(ids.BIND_EXISTING_BTN, "n_clicks"),
    Input({"type": ids.CONNECTOR_UNBIND, "name": ALL}, "n_clicks"),
    State(ids.BIND_EXISTING_SELECT, "value"),
    State(ids.TOPOLOGY_FINGERPRINT, "data"),
    prevent_initial_call=True,
)
def change_binding(
    _bind: int | None, unbind_clicks: list, selected: str | None, fingerprint: str
) -> tuple[Any, Any]:
    """Bind an existing connector, or unbind one, for this certificate.

    The panel is re-rendered with every refresh of the topology, and Dash may then call
    this with the new buttons' n_clicks still None: only a real click is an action, so
    nothing (no "choose a connector" warning either) is said before one.
    """
    trigger = ctx.triggered_id
    if trigger is None:
        return no_update, no_update
    if trigger == ids.BIND_EXISTING_BTN:
        if not _bind:
            return no_update, no_update
    elif not _clicked(trigger, unbind_clicks):
        return no_update, no_update
    try:
        user = require_permission(Permission.MANAGE_CONNECTORS)
        now = _now()
        with session_scope(settings().database_url) as db:
            if trigger == ids.BIND_EXISTING_BTN:
                if not selected:
                    return no_update, _message("Choose a connector to bind first.", "warning")
                bind(db, selected, fingerprint, actor=user.username, now=now)
                done = f"Bound {selected}."
            else:
                unbind(db, trigger["name"], fingerprint, actor=user.username, now=now)
                done = f"Unbound {trigger['name']}."
    except PermissionDenied as exc:
        return no_update, _message(f"Refused: {exc}.")
    except CertpushError as exc:
        return no_update, _message(str(exc))
    return {"changed": now.isoformat()}, html.Span(done, className="text-success")


def _clicked(trigger: Any, clicks: list | None) -> bool:
    """Whether the pattern-matched button that triggered was really clicked."""
    inputs = ctx.inputs_list[1] if len(ctx.inputs_list) > 1 else []
    for item, n in zip(inputs, clicks or [], strict=False):
        if item.get("id") == trigger:
            return bool(n)
    return False


@callback(
    Output(ids.ENDPOINTS_MODAL, "is_open"),
    Output(ids.ENDPOINTS_TEXT, "value"),
    Output(ids.ENDPOINTS_CONNECTOR, "data"),
    Output(ids.ENDPOINTS_ERRORS, "children", allow_duplicate=True),
    Input({"type": ids.ENDPOINTS_EDIT, "name": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def open_endpoints(clicks: list) -> tuple[Any, ...]:
    """Show a connector's endpoints, one per line, ready to edit."""
    trigger = ctx.triggered_id
    if not trigger or not any(clicks or []):
        return no_update, no_update, no_update, no_update
    require_permission(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        info = get_connector(db, trigger["name"])
    return True, "\n".join(str(e) for e in info.endpoints), info.name, None


@callback(
    Output(ids.ENDPOINTS_MODAL, "is_open", allow_duplicate=True),
    Output(ids.TOPOLOGY_REFRESH, "data", allow_duplicate=True),
    Output(ids.ENDPOINTS_ERRORS, "children"),
    Input(ids.ENDPOINTS_SAVE, "n_clicks"),
    State(ids.ENDPOINTS_CONNECTOR, "data"),
    State(ids.ENDPOINTS_TEXT, "value"),
    prevent_initial_call=True,
)
def save_endpoints(_clicks: int | None, name: str | None, text: str | None) -> tuple[Any, ...]:
    """Replace the connector's endpoints; every line is validated, none is half-saved."""
    if not name:
        return no_update, no_update, no_update
    try:
        user = require_permission(Permission.MANAGE_CONNECTORS)
        now = _now()
        with session_scope(settings().database_url) as db:
            set_endpoints(db, name, text or "", actor=user.username, now=now)
    except PermissionDenied as exc:
        return no_update, no_update, _message(f"Refused: {exc}.")
    except ConnectorConfigError as exc:
        return no_update, no_update, config_errors(exc.errors)
    except CertpushError as exc:
        return no_update, no_update, _message(str(exc))
    return False, {"changed": now.isoformat()}, None
