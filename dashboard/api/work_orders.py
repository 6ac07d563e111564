"""``/api/v1/work-orders``: list, inspect and act (approve, implement, reject, cancel,
reschedule) through the same state machine as the UI; the evidence pack.

A refusal keeps its reason: four eyes (``four-eyes``), role (``forbidden``), state, plan
or a lost race (``conflict``), and bad input (``validation``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.problems import CONFLICT, FORBIDDEN, FOUR_EYES, NOT_FOUND, VALIDATION, Problem
from dashboard.api.push_requests import WorkOrderOut
from dashboard.api.schemas import PageArgs, PageMeta, Strict, StrictBoolean
from dashboard.auth import now, settings
from data import audit
from data.connectors import certificate_by_fingerprint
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.periods import zone
from data.domain.roles import Permission, Role, can
from data.domain.workflow import Action, WorkOrderStatus, parse_work_order_id
from data.evidence import build_evidence, require_evidence_role, write_pack
from data.workorders import (
    act,
    action_targets,
    available_actions,
    get_work_order,
    list_work_orders,
    load_policy,
    work_order_detail,
)
from reports.evidence_pdf import evidence_pdf

PREFIX = "/work-orders"
blp = Blueprint("work_orders", __name__, description="Work orders and the two-level approval")
F = ma.fields
REFUSALS = {
    "not_found": NOT_FOUND,
    "forbidden": FORBIDDEN,
    "four_eyes": FOUR_EYES,
    "conflict": CONFLICT,
    "invalid": VALIDATION,
}


class WorkOrderQuery(PageArgs):
    status = F.String(validate=validate.OneOf([s.value for s in WorkOrderStatus]))
    requester = F.String(validate=validate.Length(1, 64))
    certificate = F.String(
        validate=validate.Length(1, 100), metadata={"description": "SHA-256 fingerprint"}
    )
    created_from = F.Date(metadata={"description": "Created on or after this day (tz)"})
    created_to = F.Date(metadata={"description": "Created on or before this day (tz)"})
    tz = F.String(
        load_default="UTC",
        validate=validate.Length(1, 64),
        metadata={"description": "IANA zone of the days"},
    )
    awaiting = F.String(
        validate=validate.OneOf(["approve", "implement"]),
        metadata={"description": "Only those you can approve / implement now"},
    )


class WorkOrderListOut(ma.Schema):
    items = F.List(F.Nested(WorkOrderOut), required=True)
    page = F.Nested(PageMeta, required=True)


class WorkOrderDetailOut(WorkOrderOut):
    certificate_common_name = F.String(allow_none=True, required=True)
    comment = F.String(required=True)
    window_override = F.String(allow_none=True, required=True)
    plan = F.Dict(
        allow_none=True,
        required=True,
        metadata={"description": "The pinned push plan, digest and preflight"},
    )
    approvals = F.List(F.Dict(), required=True)
    history = F.List(F.Dict(), required=True)
    actions = F.List(F.String(), required=True, metadata={"description": "What you may do now"})


class ActionIn(Strict):
    comment = F.String(load_default="", validate=validate.Length(0, 2000))
    manual = StrictBoolean(
        load_default=True,
        metadata={
            "description": "Manual Implementation: true pushes now (implement); false "
            "schedules (implement, reschedule) or proposes (approve) the time 'at'"
        },
    )
    at = F.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "ISO 8601 with a zone or offset"},
    )
    plan_digest = F.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(64, 64),
        metadata={"description": "Refuse if the plan is not this one"},
    )
    override_window = F.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, 1000),
        metadata={"description": "Admins: push outside the maintenance windows, for this reason"},
    )


def order_json(view) -> dict:
    body = view.to_json()
    body["links"] = {"self": f"/api/v1/work-orders/{view.label}"}
    return body


def _id(work_order: str) -> int:
    try:
        return parse_work_order_id(work_order)
    except ValueError:
        raise Problem(NOT_FOUND, f"{work_order[:40]!r} is not a work order ID") from None


@blp.route("", methods=["GET"])
@blp.arguments(WorkOrderQuery, location="query")
@blp.response(200, WorkOrderListOut)
def list_all(args: dict):
    """Work orders, newest first, filtered as on the Work orders page."""
    who = caller(Permission.VIEW_INVENTORY)
    try:
        tz = zone(args["tz"])
    except CertpushError as exc:
        raise Problem(
            VALIDATION, str(exc), errors=[{"location": "query", "field": "tz", "message": str(exc)}]
        ) from None

    def start(day, after: int = 0):
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=after), time(), tz)

    awaiting = Action(args["awaiting"]) if args.get("awaiting") else None
    limit, offset = args["limit"], args["offset"]
    with session_scope(settings().database_url) as db:
        cert_id = None
        if args.get("certificate"):
            cert_id = certificate_by_fingerprint(db, args["certificate"]).id
        views = list_work_orders(
            db,
            status=WorkOrderStatus(args["status"]) if args.get("status") else None,
            requester=args.get("requester"),
            certificate_id=cert_id,
            since=start(args.get("created_from")),
            until=start(args.get("created_to"), 1),
            awaiting_role=who.user.role.value
            if awaiting and who.user.role is not Role.ADMIN
            else None,
            limit=offset + limit if awaiting is None else 100_000,
        )
        if awaiting is not None:
            views = action_targets(views, who.actor, load_policy(db), now())[awaiting]
            views.sort(key=lambda v: v.id, reverse=True)
    total = len(views)
    return {
        "items": [order_json(v) for v in views[offset : offset + limit]],
        "page": {"total": total, "limit": limit, "offset": offset},
    }


@blp.route("/<work_order>", methods=["GET"])
@blp.response(200, WorkOrderDetailOut)
def get_one(work_order: str):
    """One work order with its pinned plan, preflight, approvals, history and your actions."""
    who = caller(Permission.VIEW_INVENTORY)
    wo_id = _id(work_order)
    with session_scope(settings().database_url) as db:
        detail = work_order_detail(db, wo_id)
        view = get_work_order(db, wo_id)
        actions = available_actions(view, who.actor, load_policy(db), now())
    detail["links"] = {
        "self": f"/api/v1/work-orders/{detail['id']}",
        "evidence": f"/api/v1/work-orders/{detail['id']}/evidence",
        "push_request": f"/api/v1/push-requests/{detail['request_id']}",
    }
    detail["actions"] = sorted(a.value for a in actions)
    return detail


def _act(work_order: str, action: Action, body: dict) -> dict:
    who = caller(write=True)  # the state machine checks the role of each level itself
    if body.get("override_window") and not can(who.user.role, Permission.OVERRIDE_WINDOW):
        raise Problem(FORBIDDEN, "only an admin may override the maintenance windows")
    manual = body["manual"]
    if not manual and body["at"] is None and action in (Action.IMPLEMENT, Action.APPROVE):
        raise Problem(
            VALIDATION,
            "with manual false, give 'at' (the push time)",
            errors=[
                {"location": "json", "field": "at", "message": "required when manual is false"}
            ],
        )
    wo_id = _id(work_order)
    with session_scope(settings().database_url) as db:
        result = act(
            db,
            wo_id,
            action,
            actor=who.actor,
            now=now(),
            manual=manual and action is not Action.RESCHEDULE,
            at=body["at"],
            comment=body["comment"],
            plan_digest=body["plan_digest"],
            horizon=timedelta(days=settings().schedule_horizon_days),
            override_window=body["override_window"],
        )
    if not result.ok:
        raise Problem(REFUSALS.get(result.refusal, CONFLICT), result.message)
    return order_json(result.work_order)


def _action_route(action: Action, summary: str) -> None:
    def view(body: dict, work_order: str):
        return _act(work_order, action, body)

    view.__name__ = f"{action.value}_work_order"
    view.__doc__ = summary
    blp.route(f"/<work_order>/{action.value}", methods=["POST"])(
        blp.arguments(ActionIn, required=False)(blp.response(200, WorkOrderOut)(view))
    )


for _action, _summary in (
    (Action.APPROVE, "Approve (level 1); 'manual': false with 'at' proposes a push time."),
    (Action.IMPLEMENT, "Implement: push now ('manual': true) or at 'at' (Push-Scheduled)."),
    (Action.REJECT, "Reject, with the reason in 'comment' (its whole request ends)."),
    (Action.CANCEL, "Cancel (the requester, or an implementer)."),
    (Action.RESCHEDULE, "Move a scheduled push to 'at' (inside a maintenance window)."),
):
    _action_route(_action, _summary)


@blp.route("/<work_order>/evidence", methods=["GET"])
@blp.response(
    200,
    content_type="application/zip",
    description="The evidence pack (ZIP: evidence.json, evidence.pdf, manifest)",
)
def evidence(work_order: str):
    """The work order's evidence pack: plan, approvals, attempts, verification, audit chain."""
    who = caller(Permission.VIEW_INVENTORY)
    require_evidence_role(who.username, who.user.role.value)
    wo_id = _id(work_order)
    with session_scope(settings().database_url) as db:
        pack = build_evidence(db, wo_id, now=now())
        label = pack["work_order"]["id"]
        audit.record(
            db, actor=who.username, action="evidence.export", now=now(), target=label, detail="API"
        )
    data = write_pack(pack, evidence_pdf(pack))
    return Response(
        data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="evidence-{label}.zip"'},
    )
