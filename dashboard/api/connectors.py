"""``/api/v1/connectors``: app connectors, their bindings and a queued connection test.

A connector's secret (SSH key or password) is write-only: it is sealed before it reaches
the database and answers only say whether one is stored.
"""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.problems import VALIDATION, Problem
from dashboard.api.schemas import Strict, StrictBoolean, TaskOut, task_json
from dashboard.auth import now, settings
from data import audit
from data.connectors import (
    add_connector,
    bind,
    get_connector,
    list_connectors,
    unbind,
    update_connector,
)
from data.crypto import load_vault
from data.db import session_scope
from data.domain.errors import PermissionDenied
from data.domain.roles import Permission
from data.tasks import get_task, queue_task

PREFIX = "/connectors"
blp = Blueprint(
    "connectors", __name__, description="App connectors: how certificates reach devices"
)
F = ma.fields
NAME = F.String(validate=validate.Length(1, 64))


class EndpointIn(Strict):
    host = F.String(required=True, validate=validate.Length(1, 255))
    port = F.Integer(required=True, validate=validate.Range(1, 65535))
    sni = F.String(load_default=None, allow_none=True, validate=validate.Length(0, 255))


class EndpointSpecOut(ma.Schema):
    host = F.String(required=True)
    port = F.Integer(required=True)
    sni = F.String(allow_none=True, required=True)


class SecretIn(Strict):
    kind = F.String(required=True, validate=validate.OneOf(["private_key", "password"]))
    value = F.String(
        required=True,
        load_only=True,
        validate=validate.Length(1, 64 * 1024),
        metadata={"description": "Sealed at once; never returned"},
    )


class ConnectorChange(Strict):
    settings = F.Dict(keys=F.String(), metadata={"description": "The type's settings (README)"})
    endpoints = F.List(F.Nested(EndpointIn), validate=validate.Length(0, 1000))
    secret = F.Nested(SecretIn)
    windows = F.List(
        F.String(validate=validate.Length(1, 200)),
        validate=validate.Length(0, 50),
        metadata={"description": "Maintenance windows ('Tue 22:00-02:00 UTC')"},
    )
    auto_rollback = StrictBoolean()
    canary = StrictBoolean()
    zone = F.String(
        validate=validate.Length(1, 32),
        metadata={"description": "Whose agents reach the device (local: the scheduler)"},
    )


class ConnectorIn(ConnectorChange):
    name = F.String(required=True, validate=validate.Length(1, 64))
    type = F.String(required=True, validate=validate.Length(1, 32))
    settings = F.Dict(keys=F.String(), required=True)


class ConnectorOut(ma.Schema):
    name = F.String(required=True)
    type = F.String(required=True)
    settings = F.Dict(required=True)
    secret = F.String(
        allow_none=True,
        required=True,
        metadata={"description": "Which kind is stored (never the value)"},
    )
    endpoints = F.List(F.Nested(EndpointSpecOut), required=True)
    bound_certificates = F.Integer(required=True)
    windows = F.List(F.String(), required=True)
    auto_rollback = F.Boolean(required=True)
    canary = F.Boolean(required=True)
    zone = F.String(required=True)
    links = F.Dict(required=True)


class ConnectorUpdateOut(ConnectorOut):
    voided = F.List(
        F.String(), required=True, metadata={"description": "Open work orders given a new plan"}
    )


class BindingIn(Strict):
    fingerprint = F.String(required=True, validate=validate.Length(1, 100))


class BindingOut(ma.Schema):
    connector = F.String(required=True)
    fingerprint = F.String(required=True)
    changed = F.Boolean(required=True, metadata={"description": "False: nothing to do"})


def connector_json(info) -> dict:
    body = info.to_json()
    body["links"] = {"self": f"/api/v1/connectors/{info.name}"}
    return body


def _secret(body: dict) -> tuple[bytes | None, str | None]:
    secret = body.get("secret")
    if not secret:
        return None, None
    return secret["value"].encode(), secret["kind"]


def _refused(actor: str, action: str, name: str, exc: Exception) -> None:
    """A refused change is kept in the audit trail, in its own transaction."""
    with session_scope(settings().database_url) as db:
        audit.record(db, actor=actor, action=action, now=now(), target=name[:200], detail=str(exc))


@blp.route("", methods=["GET"])
@blp.response(200, ConnectorOut(many=True))
def list_all():
    """Every app connector, by name."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        return [connector_json(c) for c in list_connectors(db)]


@blp.route("/<name>", methods=["GET"])
@blp.response(200, ConnectorOut)
def get_one(name: str):
    """One app connector (its secret only as the kind stored)."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        return connector_json(get_connector(db, name))


@blp.route("", methods=["POST"])
@blp.arguments(ConnectorIn)
@blp.response(201, ConnectorOut)
@blp.doc(
    responses={
        201: {
            "links": {
                "GetConnector": {
                    "operationId": "connectors_get_one",
                    "parameters": {"name": "$response.body#/name"},
                },
                "ChangeConnector": {
                    "operationId": "connectors_change",
                    "parameters": {"name": "$response.body#/name"},
                },
                "TestConnector": {
                    "operationId": "connectors_test",
                    "parameters": {"name": "$response.body#/name"},
                },
                "BindConnector": {
                    "operationId": "connectors_add_binding",
                    "parameters": {"name": "$response.body#/name"},
                },
            }
        }
    }
)
def create(body: dict):
    """Add an app connector (validated exactly as the form and the CLI do)."""
    who = caller(Permission.MANAGE_CONNECTORS, write=True)
    secret, kind = _secret(body)
    vault = load_vault(settings(), required=secret is not None)
    try:
        with session_scope(settings().database_url) as db:
            info = add_connector(
                db,
                vault,
                name=body["name"],
                type_name=body["type"],
                settings=body["settings"],
                endpoints=body.get("endpoints", []),
                secret=secret,
                secret_kind=kind,
                actor=who.username,
                role=who.user.role.value,
                now=now(),
                windows=body.get("windows", ()),
                auto_rollback=body.get("auto_rollback", True),
                canary=body.get("canary", False),
                zone=body.get("zone", "local"),
            )
            return connector_json(info)
    except PermissionDenied as exc:
        _refused(who.username, "connector.add.refused", body["name"], exc)
        raise


@blp.route("/<name>", methods=["PATCH"])
@blp.arguments(ConnectorChange)
@blp.response(200, ConnectorUpdateOut)
def change(body: dict, name: str):
    """Change settings, endpoints, secret, windows, rollback or canary (absent: unchanged).

    When settings, endpoints or the secret change, open work orders through it get a new
    push plan and their approvals are void (listed in ``voided``).
    """
    who = caller(Permission.MANAGE_CONNECTORS, write=True)
    if not body:
        raise Problem(
            VALIDATION,
            "nothing to change: give settings, endpoints, secret, windows, auto_rollback or canary",
        )
    secret, kind = _secret(body)
    vault = load_vault(settings(), required=secret is not None)
    windows = body.get("windows")
    try:
        with session_scope(settings().database_url) as db:
            info, voided = update_connector(
                db,
                vault,
                name,
                settings=body.get("settings"),
                endpoints=body.get("endpoints"),
                secret=secret,
                secret_kind=kind,
                actor=who.username,
                role=who.user.role.value,
                now=now(),
                windows=None if windows is None else windows,
                auto_rollback=body.get("auto_rollback"),
                canary=body.get("canary"),
                zone=body.get("zone"),
            )
            return {**connector_json(info), "voided": list(voided)}
    except PermissionDenied as exc:
        _refused(who.username, "connector.update.refused", name, exc)
        raise


@blp.route("/<name>/bindings", methods=["POST"])
@blp.arguments(BindingIn)
@blp.response(200, BindingOut)
@blp.doc(
    responses={
        200: {
            "links": {
                "Unbind": {
                    "operationId": "connectors_remove_binding",
                    "parameters": {
                        "name": "$response.body#/connector",
                        "fingerprint": "$response.body#/fingerprint",
                    },
                }
            }
        }
    }
)
def add_binding(body: dict, name: str):
    """Bind the connector to a certificate (Push to Device then offers it)."""
    who = caller(Permission.MANAGE_CONNECTORS, write=True)
    with session_scope(settings().database_url) as db:
        changed = bind(db, name, body["fingerprint"], actor=who.username, now=now())
    return {"connector": name, "fingerprint": body["fingerprint"], "changed": changed}


@blp.route("/<name>/bindings/<fingerprint>", methods=["DELETE"])
@blp.response(200, BindingOut)
def remove_binding(name: str, fingerprint: str):
    """Unbind: open work orders for this pair get no new plan and cannot be pushed."""
    who = caller(Permission.MANAGE_CONNECTORS, write=True)
    with session_scope(settings().database_url) as db:
        changed = unbind(db, name, fingerprint, actor=who.username, now=now())
    return {"connector": name, "fingerprint": fingerprint, "changed": changed}


@blp.route("/<name>/test", methods=["POST"])
@blp.response(202, TaskOut)
@blp.doc(
    responses={
        202: {
            "links": {
                "GetTask": {
                    "operationId": "tasks_get_one",
                    "parameters": {"task_id": "$response.body#/id"},
                }
            }
        }
    }
)
def test(name: str):
    """Queue a connection test (connect, authenticate, check folders; changes nothing).

    The scheduler runs it; poll ``GET /tasks/{id}`` for the result.
    """
    who = caller(Permission.MANAGE_CONNECTORS, write=True)
    with session_scope(settings().database_url) as db:
        get_connector(db, name)  # 404 now rather than a failed task later
        task_id = queue_task(
            db, "connector.test.stored", {"name": name}, actor=who.username, now=now()
        )
        return task_json(get_task(db, task_id))
