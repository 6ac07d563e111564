"""``/api/v1/verification/sweeps``: run a verification sweep now, read one's results."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.schemas import PageArgs, Strict, TaskOut, task_json
from dashboard.auth import now, settings
from data.connectors import certificate_by_fingerprint
from data.db import session_scope
from data.domain.roles import Permission
from data.sweeps import sweep_detail
from data.tasks import get_task, queue_task

PREFIX = "/verification"
blp = Blueprint("verification", __name__, description="HTTPS verification sweeps")
F = ma.fields


class SweepIn(Strict):
    certificate = F.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, 100),
        metadata={
            "description": "Only this certificate's endpoints "
            "(SHA-256 fingerprint); none: every endpoint"
        },
    )


class ResultOut(ma.Schema):
    host = F.String(required=True)
    port = F.Integer(required=True)
    sni = F.String(allow_none=True, required=True)
    connector = F.String(required=True)
    certificate = F.String(required=True)
    common_name = F.String(allow_none=True, required=True)
    work_order = F.String(allow_none=True, required=True)
    at = F.String(required=True)
    outcome = F.String(required=True, metadata={"description": "match, mismatch, timeout, …"})
    reason = F.String(required=True)
    expected_fingerprint = F.String(required=True)
    served_fingerprint = F.String(allow_none=True, required=True)
    served_subject = F.String(allow_none=True, required=True)
    latency_ms = F.Integer(allow_none=True, required=True)
    drift = F.Boolean(required=True)
    chain_valid = F.Boolean(allow_none=True, required=True)


class SweepOut(ma.Schema):
    id = F.Integer(required=True)
    trigger = F.String(required=True)
    started_at = F.String(required=True)
    finished_at = F.String(allow_none=True, required=True)
    endpoints = F.Integer(required=True)
    summary = F.Dict(keys=F.String(), values=F.Integer(), required=True)
    results_total = F.Integer(required=True)
    results = F.List(F.Nested(ResultOut), required=True)


@blp.route("/sweeps", methods=["POST"])
@blp.arguments(SweepIn, required=False)
@blp.response(202, TaskOut)
@blp.doc(
    responses={
        202: {
            "links": {
                "GetTask": {
                    "operationId": "tasks_get_one",
                    "parameters": {"task_id": "$response.body#/id"},
                    "description": "Poll the sweep's task; once done its result holds sweep_id",
                }
            }
        }
    }
)
def start(body: dict):
    """Queue a sweep of every endpoint (or one certificate's); the scheduler runs it.

    Poll ``GET /tasks/{id}``: once done its result holds ``sweep_id``.
    """
    who = caller(Permission.VIEW_INVENTORY, write=True)
    with session_scope(settings().database_url) as db:
        payload = {}
        if body.get("certificate"):
            cert = certificate_by_fingerprint(db, body["certificate"])  # 404 now, not later
            payload["certificate"] = cert.fingerprint_sha256
        task_id = queue_task(db, "verify", payload, actor=who.username, now=now())
        return task_json(get_task(db, task_id))


@blp.route("/sweeps/<int:sweep_id>", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, SweepOut)
def get_one(args: dict, sweep_id: int):
    """A sweep's summary and its per-endpoint results (``limit``/``offset`` page them)."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        return sweep_detail(db, sweep_id, limit=args["limit"], offset=args["offset"])
