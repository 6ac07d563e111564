"""``/api/v1/audit-events``: the tamper-evident audit trail, and a check of its chain."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from dashboard.api.caller import caller
from dashboard.api.schemas import PageArgs, PageMeta
from dashboard.auth import settings
from data.audit_chain import verify_chain
from data.audit_trail import audit_page
from data.db import session_scope
from data.domain.roles import Permission

PREFIX = "/audit-events"
blp = Blueprint("audit", __name__, description="The audit trail (managers and admins)")
F = ma.fields


class EventOut(ma.Schema):
    id = F.Integer(required=True)
    at = F.DateTime(required=True)
    actor = F.String(required=True)
    action = F.String(required=True)
    target = F.String(required=True)
    detail = F.String(required=True)


class EventListOut(ma.Schema):
    items = F.List(F.Nested(EventOut), required=True)
    page = F.Nested(PageMeta, required=True)


class HeadOut(ma.Schema):
    seq = F.Integer(allow_none=True, required=True)
    hash = F.String(allow_none=True, required=True)


class ChainOut(ma.Schema):
    intact = F.Boolean(required=True)
    events = F.Integer(required=True)
    head = F.Nested(HeadOut, required=True)
    problem = F.Dict(allow_none=True, required=True,
                     metadata={"description": "The first event that does not hold"})  # fmt: skip


@blp.route("", methods=["GET"])
@blp.arguments(PageArgs, location="query")
@blp.response(200, EventListOut)
def list_events(args: dict):
    """Events, newest first (the chain's commit order)."""
    caller(Permission.VIEW_AUDIT)
    limit, offset = args["limit"], args["offset"]
    with session_scope(settings().database_url) as db:
        page = audit_page(db, start=offset, end=offset + limit)
    return {
        "items": [
            {"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
             "detail": r.detail}
            for r in page.rows
        ],
        "page": {"total": page.total, "limit": limit, "offset": offset},
    }  # fmt: skip


@blp.route("/chain", methods=["GET"])
@blp.response(200, ChainOut)
def check_chain():
    """Walk the whole hash chain and name the first event that does not hold, if any."""
    caller(Permission.VIEW_AUDIT)
    with session_scope(settings().database_url) as db:
        return verify_chain(db).to_json()
