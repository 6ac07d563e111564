"""A push request (REQ-…) as a whole: who asked, why, and its work orders."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.domain.errors import NotFound
from data.domain.workflow import request_id
from data.models import Certificate, PushRequest, Rollout, WorkOrder
from data.rollouts import rollout_view
from data.workorders import get_work_order


def parse_request_id(text: str | int) -> int:
    """Accept "REQ-000123", "req-123" or "123"."""
    digits = str(text).strip().upper().removeprefix("REQ-")
    if not digits.isdigit() or len(digits) > 12:
        raise NotFound(f"{str(text)[:40]!r} is not a push request ID (REQ-000123)")
    return int(digits)


def push_request_detail(session: Session, request: str | int) -> dict[str, Any]:
    """The request with its work orders (as ``workorders list --json``) and its rollout."""
    number = parse_request_id(request)
    row = session.execute(
        select(PushRequest, Certificate.fingerprint_sha256, Certificate.common_name)
        .join(Certificate, Certificate.id == PushRequest.certificate_id)
        .where(PushRequest.id == number)
    ).first()
    if row is None:
        raise NotFound(f"no push request {request_id(number)}")
    req = row[0]
    wo_ids = session.scalars(
        select(WorkOrder.id).where(WorkOrder.request_id == number).order_by(WorkOrder.id)
    ).all()
    has_rollout = session.get(Rollout, number) is not None
    return {
        "id": request_id(number),
        "certificate": row.fingerprint_sha256,
        "common_name": row.common_name,
        "requester": req.requester,
        "comment": req.comment,
        "created_at": req.created_at.isoformat(),
        "emergency": req.emergency,
        "work_orders": [get_work_order(session, i).to_json() for i in wo_ids],
        "rollout": rollout_view(session, number).to_json() if has_rollout else None,
    }
