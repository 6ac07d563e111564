"""What happens to a work order after its install: verification, then Completed, or
Failed Verification and (by default) a rollback.

The scheduler's side of the states DESIGN.md adds for safe rollout, as compare-and-set
moves under the scheduler's lease (data/workorders.py ``_system_transition``), so a
scheduler that lost its lease (it was presumed dead and another took over) changes
nothing. No device I/O here: jobs/workorders.py talks to devices and probes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from data.domain.workflow import WorkOrderStatus
from data.models import WorkOrder
from data.workorders import _system_transition


def _held(session: Session, wo_id: int, owner: str, status: WorkOrderStatus) -> WorkOrder | None:
    wo = session.get(WorkOrder, wo_id, populate_existing=True)
    if wo is None or wo.lease_owner != owner or wo.status != status.value:
        return None
    return wo


def start_verifying(
    session: Session, wo_id: int, *, owner: str, now: datetime, lease: timedelta, reason: str
) -> bool:
    """The install ended well (installed or already installed): the push ended now; the
    work order is Verifying until every endpoint was seen serving the certificate."""
    wo = _held(session, wo_id, owner, WorkOrderStatus.PUSH_IN_PROGRESS)
    if wo is None:
        return False
    return _system_transition(session, wo, to=WorkOrderStatus.VERIFYING, action="verify",
                              now=now, reason=reason, owner=owner, lease_until=now + lease,
                              pushed=True)  # fmt: skip


def end_verification(
    session: Session,
    wo_id: int,
    *,
    owner: str,
    now: datetime,
    ok: bool,
    reason: str,
    rollback: bool,
    lease: timedelta,
) -> bool:
    """Completed when every endpoint served the certificate; otherwise Failed
    Verification (the verify attempt recorded with it turns the certificate Gray) and, when
    ``rollback``, straight on to Rolling Back under the same lease."""
    wo = _held(session, wo_id, owner, WorkOrderStatus.VERIFYING)
    if wo is None:
        return False
    if ok:
        return _system_transition(session, wo, to=WorkOrderStatus.COMPLETED, action="verified",
                                  now=now, reason=reason, verification="verified")  # fmt: skip
    moved = _system_transition(
        session, wo, to=WorkOrderStatus.FAILED_VERIFICATION, action="failed_verification",
        now=now, reason=reason, verification="failed",
        owner=owner if rollback else None, lease_until=now + lease if rollback else None,
    )  # fmt: skip
    if not moved:
        return False
    if rollback:
        session.refresh(wo)
        return _system_transition(session, wo, to=WorkOrderStatus.ROLLING_BACK,
                                  action="rollback", now=now, owner=owner,
                                  lease_until=now + lease,
                                  reason=f"{reason}; rolling back")  # fmt: skip
    return True


def end_rollback(session: Session, wo_id: int, *, owner: str, now: datetime, ok: bool,
                 reason: str) -> bool:  # fmt: skip
    """Rolled Back when the previous certificate is served again everywhere; otherwise
    Rollback Failed, with what each endpoint serves in the reason."""
    wo = _held(session, wo_id, owner, WorkOrderStatus.ROLLING_BACK)
    if wo is None:
        return False
    return _system_transition(
        session, wo, to=WorkOrderStatus.ROLLED_BACK if ok else WorkOrderStatus.ROLLBACK_FAILED,
        action="rolled_back" if ok else "rollback_failed", now=now, reason=reason,
    )  # fmt: skip


def note_progress(session: Session, wo_id: int, *, owner: str, action: str, comment: str,
                  now: datetime) -> bool:  # fmt: skip
    """A step inside a status (a retry), in the work order's history and the audit trail."""
    wo = session.get(WorkOrder, wo_id, populate_existing=True)
    if wo is None or wo.lease_owner != owner:
        return False
    return _system_transition(session, wo, to=WorkOrderStatus(wo.status), action=action,
                              now=now, reason=comment, owner=owner,
                              lease_until=wo.lease_until)  # fmt: skip
