"""``/api/v1/rollouts``: a multi-connector push request's canary and waves; resume, abort."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.problems import CONFLICT, Problem
from dashboard.api.schemas import Strict
from dashboard.auth import now, settings
from data.db import session_scope
from data.domain.roles import Permission
from data.push_requests import parse_request_id
from data.rollouts import abort, resume, rollout_view

PREFIX = "/rollouts"
blp = Blueprint("rollouts", __name__, description="Rollouts: canary first, then waves")
F = ma.fields


class MemberOut(ma.Schema):
    id = F.String(required=True)
    connector = F.String(required=True)
    status = F.String(required=True)
    reason = F.String(required=True)


class WaveOut(ma.Schema):
    wave = F.Integer(required=True)
    name = F.String(required=True)
    state = F.String(required=True)
    work_orders = F.List(F.Nested(MemberOut), required=True)


class RolloutOut(ma.Schema):
    request_id = F.String(required=True)
    requester = F.String(required=True)
    state = F.String(required=True, metadata={"description": "running, halted, aborted, done"})
    reason = F.String(required=True)
    progress = F.String(required=True)
    current_wave = F.Integer(allow_none=True, required=True)
    wave_count = F.Integer(required=True)
    wave_size = F.Integer(required=True)
    canary = F.String(required=True)
    resumed_at = F.String(allow_none=True, required=True)
    updated_at = F.String(required=True)
    waves = F.List(F.Nested(WaveOut), required=True)


class DecisionIn(Strict):
    comment = F.String(load_default="", validate=validate.Length(0, 2000))


@blp.route("/<request_id>", methods=["GET"])
@blp.response(200, RolloutOut)
def get_one(request_id: str):
    """The rollout of a push request: each wave, its work orders and where it stands."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        return rollout_view(db, parse_request_id(request_id)).to_json()


def _decide(request_id: str, body: dict, service) -> dict:
    who = caller(Permission.VIEW_INVENTORY, write=True)  # the rollout rule checks the role
    with session_scope(settings().database_url) as db:
        result = service(
            db, parse_request_id(request_id), actor=who.actor, comment=body["comment"], now=now()
        )
    if not result.ok:
        raise Problem(CONFLICT, result.message)
    return result.rollout.to_json()


@blp.route("/<request_id>/resume", methods=["POST"])
@blp.arguments(DecisionIn, required=False)
@blp.response(200, RolloutOut)
def resume_one(body: dict, request_id: str):
    """Resume a halted rollout (an implementer): the failures so far are accepted."""
    return _decide(request_id, body, resume)


@blp.route("/<request_id>/abort", methods=["POST"])
@blp.arguments(DecisionIn, required=False)
@blp.response(200, RolloutOut)
def abort_one(body: dict, request_id: str):
    """Abort a rollout: its halted and open work orders are cancelled."""
    return _decide(request_id, body, abort)
