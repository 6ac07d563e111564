"""``/api/v1/push-requests``: Push to Device, with an ``Idempotency-Key`` for safe retries."""

from __future__ import annotations

import marshmallow as ma
from flask import request
from flask_smorest import Blueprint
from marshmallow import validate
from sqlalchemy.exc import IntegrityError

from dashboard.api.caller import caller
from dashboard.api.problems import CONFLICT, Problem
from dashboard.api.rollouts import RolloutOut
from dashboard.api.schemas import Strict
from dashboard.auth import now, settings
from data.db import session_scope
from data.domain.roles import Permission
from data.idempotency import (
    IdempotencyConflict,
    Stored,
    check_key,
    remember,
    replay,
    request_digest,
)
from data.push_requests import push_request_detail
from data.workorders import request_push

PREFIX = "/push-requests"
blp = Blueprint("push_requests", __name__, description="Push to Device requests")
F = ma.fields


class PushRequestIn(Strict):
    certificate = F.String(
        required=True,
        validate=validate.Length(1, 100),
        metadata={"description": "SHA-256 fingerprint"},
    )
    connectors = F.List(
        F.String(validate=validate.Length(1, 64)),
        load_default=list,
        validate=validate.Length(0, 1000),
        metadata={"description": "Bound connectors (none: all bound)"},
    )
    comment = F.String(load_default="", validate=validate.Length(0, 2000))
    canary = F.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    wave_size = F.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 10000))


class WorkOrderOut(ma.Schema):
    id = F.String(required=True, metadata={"description": "WO-000123"})
    request_id = F.String(required=True)
    status = F.String(required=True)
    connector = F.String(required=True)
    certificate = F.String(required=True)
    scheduled_at = F.String(allow_none=True, required=True)
    requester = F.String(required=True)
    reason = F.String(required=True)
    demo = F.Boolean(required=True)
    emergency = F.Boolean(required=True)
    links = F.Dict(required=True)


class PushRequestOut(ma.Schema):
    id = F.String(required=True, metadata={"description": "REQ-000123"})
    certificate = F.String(required=True)
    common_name = F.String(allow_none=True, required=True)
    requester = F.String(required=True)
    comment = F.String(required=True)
    created_at = F.String(required=True)
    emergency = F.Boolean(required=True)
    work_orders = F.List(F.Nested(WorkOrderOut), required=True)
    rollout = F.Nested(RolloutOut, allow_none=True, required=True)
    links = F.Dict(required=True)


def with_links(detail: dict) -> dict:
    for order in detail["work_orders"]:
        order["links"] = {"self": f"/api/v1/work-orders/{order['id']}"}
    detail["links"] = {"self": f"/api/v1/push-requests/{detail['id']}"}
    return detail


IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Send the same key again (a retry) to get the first answer instead of "
    "a second request",
}


@blp.route("", methods=["POST"])
@blp.arguments(PushRequestIn)
@blp.response(201, PushRequestOut)
@blp.doc(
    parameters=[IDEMPOTENCY_KEY],
    responses={
        201: {
            "links": {
                "GetPushRequest": {
                    "operationId": "push_requests_get_one",
                    "parameters": {"request_id": "$response.body#/id"},
                },
                "GetRollout": {
                    "operationId": "rollouts_get_one",
                    "parameters": {"request_id": "$response.body#/id"},
                },
                "GetFirstWorkOrder": {
                    "operationId": "work_orders_get_one",
                    "parameters": {"work_order": "$response.body#/work_orders/0/id"},
                },
                **{
                    f"{verb.capitalize()}FirstWorkOrder": {
                        "operationId": f"work_orders_{verb}_work_order",
                        "parameters": {"work_order": "$response.body#/work_orders/0/id"},
                    }
                    for verb in ("implement", "reject", "cancel", "reschedule")
                },
                **{
                    f"{verb.capitalize()}Rollout": {
                        "operationId": f"rollouts_{verb}_one",
                        "parameters": {"request_id": "$response.body#/id"},
                    }
                    for verb in ("resume", "abort")
                },
                "ApproveFirstWorkOrder": {
                    "operationId": "work_orders_approve_work_order",
                    "parameters": {"work_order": "$response.body#/work_orders/0/id"},
                },
            }
        }
    },
)
def create(body: dict):
    """Request Push to Device: one work order per bound (or named) connector.

    Two connectors or more make a rollout (canary first, then waves). The requester's
    token can never approve or implement it (four-eyes policy).
    """
    who = caller(Permission.REQUEST_PUSH, write=True)
    key = request.headers.get("Idempotency-Key")
    route = "POST /push-requests"
    digest = request_digest(route, body)
    if key is not None:
        check_key(key)
    try:
        with session_scope(settings().database_url) as db:
            if key is not None:
                found = replay(db, who.user.id, key, route, digest)
                if found is not None:
                    return found.body, found.status_code, {"Idempotent-Replayed": "true"}
            label, _orders = request_push(
                db,
                body["certificate"],
                actor=who.actor,
                now=now(),
                comment=body["comment"],
                connectors=body["connectors"],
                canary=body["canary"],
                wave_size=body["wave_size"],
            )
            answer = with_links(push_request_detail(db, label))
            if key is not None:
                remember(db, who.user.id, key, route, digest, Stored(201, answer), now())
    except IdempotencyConflict as exc:
        raise Problem(CONFLICT, str(exc)) from None
    except IntegrityError:  # the same key, sent twice at once: the other call won
        with session_scope(settings().database_url) as db:
            found = replay(db, who.user.id, key or "", route, digest)
        if found is None:
            raise
        return found.body, found.status_code, {"Idempotent-Replayed": "true"}
    return answer, 201, {"Location": answer["links"]["self"]}


@blp.route("/<request_id>", methods=["GET"])
@blp.response(200, PushRequestOut)
def get_one(request_id: str):
    """A push request with its work orders and, for several connectors, its rollout."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        return with_links(push_request_detail(db, request_id))
