"""Push requests and work orders: the approval workflow as stored state.

Every change goes through ``decide`` (data/domain/workflow.py) and a
compare-and-set UPDATE on the work order's ``version``: when two people act on
one work order at once, exactly one transition happens and the other is told who
won and when. Refusals are results (and audit events), not exceptions, so a
forged request leaves its trace even though it changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from data import audit, notifications
from data.connectors import bound_connector_ids, certificate_by_fingerprint
from data.domain.errors import NotFound, WindowError
from data.domain.profiles import ProfileBook
from data.domain.roles import Permission, can
from data.domain.status import is_expired
from data.domain.windows import (
    describe_opening,
    describe_windows,
    next_opening,
    parse_windows,
    window_at,
)
from data.domain.workflow import (
    FINAL,
    Action,
    Actor,
    ApprovalError,
    Decision,
    FourEyesError,
    Level,
    Policy,
    RoleError,
    StateError,
    WorkOrderFacts,
    WorkOrderStatus,
    decide,
    request_id,
    work_order_id,
)
from data.models import (
    ApprovalLevel,
    Certificate,
    Connector,
    PrivateKey,
    PushAttempt,
    PushRequest,
    WorkOrder,
    WorkOrderEvent,
)
from data.profiles import book_for
from data.push_plans import PlanError, PlanView, build_plan, current_plan, pin_plan
from data.rollouts import create_rollout

PAST_TENSE = {
    "approve": "approved",
    "implement": "implemented",
    "reject": "rejected",
    "cancel": "cancelled",
    "reschedule": "rescheduled",
    "request": "requested",
    "start": "started",
    "claim": "claimed",
    "complete": "completed",
    "fail": "failed",
    "replan": "sent back for approval with a new plan",
    "verify": "verifying",
    "verified": "verified",
    "failed_verification": "failed verification",
    "rollback": "rolling back",
    "rolled_back": "rolled back",
    "rollback_failed": "left with a failed rollback",
    "reconcile": "taken up again after a scheduler stop",
    "resume": "resumed",
    "window": "moved to its maintenance window",
    "emergency": "pushed as an emergency change",
    "halt": "halted with its rollout",
    "wait": "set waiting for its turn in its rollout",
    "rollout_resume": "resumed with its rollout",
}


@dataclass(frozen=True)
class WorkOrderView:
    id: int
    request_number: int
    status: WorkOrderStatus
    connector: str
    connector_id: int
    certificate: str
    common_name: str | None
    requester: str
    comment: str
    run_at: datetime | None
    proposed_at: datetime | None
    reason: str
    version: int
    levels_done: int
    created_at: datetime
    updated_at: datetime
    demo: bool = False  # simulated history made by `certpush demo`
    emergency: bool = False  # `certpush push emergency`: pushed outside the approvals

    @property
    def label(self) -> str:
        return work_order_id(self.id)

    @property
    def request_label(self) -> str:
        return request_id(self.request_number)

    def to_json(self) -> dict[str, Any]:
        """The documented shape of `certpush workorders list --json`."""
        return {
            "id": self.label,
            "request_id": self.request_label,
            "status": self.status.value,
            "connector": self.connector,
            "certificate": self.certificate,
            "scheduled_at": self.run_at.isoformat()
            if self.run_at and self.status is WorkOrderStatus.SCHEDULED
            else None,
            "requester": self.requester,
            "reason": self.reason,
            "demo": self.demo,
            "emergency": self.emergency,
        }


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    comment: str


@dataclass(frozen=True)
class ActionResult:
    """What happened when someone acted: ``ok`` and the message to show either way."""

    ok: bool
    message: str
    work_order: WorkOrderView | None = None
    # Why it was refused, for the API's status codes: not_found, forbidden (role),
    # four_eyes, conflict (state, plan, lost race) or invalid (the input).
    refusal: str = ""


def load_policy(session: Session, horizon: timedelta | None = None) -> Policy:
    levels = tuple(
        Level(row.name, row.role)
        for row in session.scalars(select(ApprovalLevel).order_by(ApprovalLevel.position))
    )
    return Policy(levels, horizon) if horizon else Policy(levels)


def set_policy(
    session: Session, levels: Sequence[tuple[str, str]], *, actor: Actor, now: datetime
) -> Policy:
    """Replace the approval levels (admins only); the last level implements."""
    if not can(actor.role, Permission.MANAGE_USERS):
        raise ApprovalError(f"{actor.username} ({actor.role}) may not change the approval policy")
    policy = Policy(tuple(Level(n, r) for n, r in levels))
    session.execute(ApprovalLevel.__table__.delete())
    for position, level in enumerate(policy.levels, start=1):
        session.add(ApprovalLevel(position=position, name=level.name, role=level.role))
    audit.record(session, actor=actor.username, action="policy.set", now=now,
                 detail=", ".join(f"{lv.name}:{lv.role}" for lv in policy.levels))  # fmt: skip
    return policy


_VIEW_COLUMNS = (
    WorkOrder,
    PushRequest.requester,
    PushRequest.comment,
    PushRequest.demo,
    PushRequest.emergency,
    Connector.name.label("connector_name"),
    Certificate.fingerprint_sha256,
    Certificate.common_name,
)


def _view_query():
    return (
        select(*_VIEW_COLUMNS)
        .join(PushRequest, PushRequest.id == WorkOrder.request_id)
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .join(Certificate, Certificate.id == PushRequest.certificate_id)
    )


def _view(row: Any) -> WorkOrderView:
    wo: WorkOrder = row[0]
    return WorkOrderView(
        id=wo.id,
        request_number=wo.request_id,
        status=WorkOrderStatus(wo.status),
        connector=row.connector_name,
        connector_id=wo.connector_id,
        certificate=row.fingerprint_sha256,
        common_name=row.common_name,
        requester=row.requester,
        comment=row.comment,
        run_at=wo.run_at,
        proposed_at=wo.proposed_at,
        reason=wo.reason,
        version=wo.version,
        levels_done=wo.levels_done,
        created_at=wo.created_at,
        updated_at=wo.updated_at,
        demo=row.demo,
        emergency=row.emergency,
    )


def get_work_order(session: Session, wo_id: int) -> WorkOrderView:
    row = session.execute(_view_query().where(WorkOrder.id == wo_id)).first()
    if row is None:
        raise NotFound(f"no work order {work_order_id(wo_id)}")
    return _view(row)


def list_work_orders(
    session: Session,
    *,
    status: WorkOrderStatus | None = None,
    requester: str | None = None,
    certificate_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    awaiting_role: str | None = None,
    limit: int = 500,
) -> list[WorkOrderView]:
    """Newest first, filtered in SQL; ``awaiting_role`` keeps those a role can act on next."""
    query = _view_query().order_by(WorkOrder.id.desc()).limit(limit)
    if status is not None:
        query = query.where(WorkOrder.status == status.value)
    if requester:
        query = query.where(PushRequest.requester == requester)
    if certificate_id is not None:
        query = query.where(PushRequest.certificate_id == certificate_id)
    if since is not None:
        query = query.where(WorkOrder.created_at >= since)
    if until is not None:
        query = query.where(WorkOrder.created_at < until)
    views = [_view(r) for r in session.execute(query)]
    if awaiting_role:
        policy = load_policy(session)
        views = [v for v in views if _next_role(v, policy) in (awaiting_role, "*")]
    return views


def _next_role(view: WorkOrderView, policy: Policy) -> str | None:
    if view.status not in (WorkOrderStatus.APPROVAL_PENDING, WorkOrderStatus.REVIEW_IN_PROGRESS):
        return None
    return policy.level_at(view.levels_done).role


def history(session: Session, wo_id: int) -> list[EventView]:
    return [
        EventView(e.at, e.actor, e.action, e.from_status, e.to_status, e.comment)
        for e in session.scalars(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == wo_id)
            .order_by(WorkOrderEvent.id)
        )
    ]


def latest_for_certificate(session: Session, certificate_id: int) -> dict[int, WorkOrderView]:
    """The newest work order per connector of a certificate (labels beside connector nodes)."""
    latest: dict[int, WorkOrderView] = {}
    for view in list_work_orders(session, certificate_id=certificate_id, limit=1000):
        latest.setdefault(view.connector_id, view)
    return latest


def _event(session, wo_id, *, actor, action, before, after, comment, now, digest=None) -> None:
    session.add(
        WorkOrderEvent(
            work_order_id=wo_id,
            at=now,
            actor=actor,
            action=action,
            from_status=before,
            to_status=after,
            comment=comment[:2000],
            plan_digest=digest,
        )
    )
    # Whoever must hear of this move is told through the outbox, in this same transaction.
    notifications.work_order_changed(session, wo_id, action=action, before=before, after=after,
                                     actor=actor, comment=comment, now=now)  # fmt: skip


def request_push(
    session: Session,
    fingerprint: str,
    *,
    actor: Actor,
    now: datetime,
    comment: str = "",
    connectors: Sequence[str] = (),
    book: ProfileBook | None = None,
    emergency: bool = False,
    canary: str | None = None,
    wave_size: int | None = None,
) -> tuple[str, list[WorkOrderView]]:
    """Create a push request and one work order per bound (or named) connector, each with
    its push plan pinned (the scheduler then runs the preflight checks on it).

    With two work orders or more the request is a rollout (data/rollouts.py): ``canary``
    (a connector name) goes first, then waves of at most ``wave_size`` connectors."""
    if not can(actor.role, Permission.REQUEST_PUSH):
        raise ApprovalError(f"{actor.username} ({actor.role}) may not request a push")
    cert = certificate_by_fingerprint(session, fingerprint)
    name = cert.common_name or cert.fingerprint_sha256[:16]
    if cert.revoked_at is not None:
        raise ApprovalError(f"{name} is revoked: pushing it is refused")
    if is_expired(cert.not_after, now):
        raise ApprovalError(f"{name} expired on {cert.not_after:%Y-%m-%d}: pushing it is refused")
    if (
        not cert.spki_sha256
        or session.scalar(select(PrivateKey.id).where(PrivateKey.spki_sha256 == cert.spki_sha256))
        is None
    ):
        raise ApprovalError(f"{name} has no private key in certpush: import its key first")
    bound = bound_connector_ids(session, cert.id)
    if not bound:
        raise ApprovalError("no app connector is bound to this certificate: add one first")
    chosen = list(connectors) or list(bound)
    unknown = [c for c in chosen if c not in bound]
    if unknown:
        raise ApprovalError(f"not bound to this certificate: {', '.join(unknown)}")
    request = PushRequest(
        certificate_id=cert.id,
        requester=actor.username,
        comment=comment[:2000],
        created_at=now,
        emergency=emergency,
    )
    session.add(request)
    session.flush()
    book = book or book_for(session)
    ids = []
    for connector in chosen:
        wo = WorkOrder(
            request_id=request.id,
            connector_id=bound[connector],
            status=WorkOrderStatus.APPROVAL_PENDING.value,
            version=1,
            levels_done=0,
            reason="",
            created_at=now,
            updated_at=now,
        )
        session.add(wo)
        session.flush()
        try:
            plan = pin_plan(session, wo.id, build_plan(session, wo.id, book), now)
        except PlanError as exc:
            raise ApprovalError(f"cannot plan the push through {connector}: {exc}") from None
        _event(session, wo.id, actor=actor.username, action="request", before=None,
               after=wo.status, comment=comment, now=now, digest=plan.digest)  # fmt: skip
        ids.append(wo.id)
    audit.record(
        session,
        actor=actor.username,
        action="push.request",
        now=now,
        target=request_id(request.id),
        detail=f"certificate {cert.fingerprint_sha256}; work orders "
        + ", ".join(work_order_id(i) for i in ids)
        + (f"; comment: {comment}" if comment else ""),
    )
    if len(ids) >= 2:
        create_rollout(session, request.id, ids, canary_connector=canary, wave_size=wave_size,
                       now=now)  # fmt: skip
    session.flush()
    return request_id(request.id), [get_work_order(session, i) for i in ids]


def _facts(session: Session, wo: WorkOrder) -> WorkOrderFacts:
    requester = session.scalar(select(PushRequest.requester).where(PushRequest.id == wo.request_id))
    voided = session.scalar(  # approvals given before the plan last changed are void
        select(func.max(WorkOrderEvent.id)).where(
            WorkOrderEvent.work_order_id == wo.id, WorkOrderEvent.action == "replan"
        )
    )
    approvers = tuple(
        session.scalars(
            select(WorkOrderEvent.actor)
            .where(
                WorkOrderEvent.work_order_id == wo.id,
                WorkOrderEvent.action == "approve",
                WorkOrderEvent.id > (voided or 0),
            )
            .order_by(WorkOrderEvent.id)
        )
    )
    return WorkOrderFacts(
        WorkOrderStatus(wo.status), requester or "", wo.levels_done, approvers, wo.run_at
    )


def _who_won(session: Session, wo_id: int) -> str:
    last = session.scalar(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == wo_id)
        .order_by(WorkOrderEvent.id.desc())
    )
    if last is None:
        return "someone else changed it first"
    verb = PAST_TENSE.get(last.action, last.action)
    return f"already {verb} by {last.actor} at {last.at:%Y-%m-%d %H:%M:%S} UTC"


def act(
    session: Session,
    wo_id: int,
    action: Action,
    *,
    actor: Actor,
    now: datetime,
    manual: bool = True,
    at: datetime | None = None,
    comment: str = "",
    horizon: timedelta | None = None,
    plan_digest: str | None = None,
    book: ProfileBook | None = None,
    override_window: str | None = None,
) -> ActionResult:
    """Apply one person's action to one work order, exactly once, or say why not.

    Approve and Implement are given for the work order's pinned plan: refused while its
    preflight found a blocker, or when ``plan_digest`` (what the person was shown) is not
    the plan in force; the event records the digest approved.

    Implement and Reschedule follow the connector's maintenance windows (see
    ``_window_ruling``); ``override_window`` is an admin's reason to skip them.
    """
    label = work_order_id(wo_id)
    wo = session.get(WorkOrder, wo_id, populate_existing=True)  # the state as stored now
    if wo is None:
        return ActionResult(False, f"no work order {label}", refusal="not_found")
    version, before = wo.version, wo.status
    digest = None
    if action in (Action.APPROVE, Action.IMPLEMENT):
        refusal, digest = _plan_refusal(session, wo, plan_digest, book, now)
        if refusal:
            message = f"{label}: {refusal}"
            audit.record(session, actor=actor.username, action=f"workorder.{action.value}.refused",
                         now=now, target=label, detail=message)  # fmt: skip
            return ActionResult(False, message, refusal="conflict")
        session.refresh(wo)
        version = wo.version
    try:
        decision = decide(
            _facts(session, wo),
            action,
            actor,
            now=now,
            policy=load_policy(session, horizon),
            manual=manual,
            at=at,
            comment=comment,
        )
    except ApprovalError as exc:
        message = f"{label}: {exc}"
        if isinstance(exc, StateError):  # most often someone else acted first: say who
            message = f"{label} was {_who_won(session, wo_id)}; {exc}"
        audit.record(session, actor=actor.username, action=f"workorder.{action.value}.refused",
                     now=now, target=label, detail=message)  # fmt: skip
        return ActionResult(False, message, refusal=_refusal_kind(exc))
    ruling = _window_ruling(session, wo, action, decision, actor=actor, override=override_window)
    if ruling.refusal:
        message = f"{label}: {ruling.refusal}"
        audit.record(session, actor=actor.username, action=f"workorder.{action.value}.refused",
                     now=now, target=label, detail=message)  # fmt: skip
        return ActionResult(False, message, refusal="invalid")
    decision = ruling.decision
    values: dict[str, Any] = {
        "status": decision.status.value,
        "version": version + 1,
        "levels_done": decision.levels_done,
        "run_at": decision.run_at,
        "updated_at": now,
    }
    if decision.proposed_at is not None:
        values["proposed_at"] = decision.proposed_at
    if action is Action.IMPLEMENT or action is Action.RESCHEDULE:
        values["lease_owner"] = None
        values["lease_until"] = None
        values["window_override"] = ruling.override  # the latest decision's, or none
    changed = session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == wo_id, WorkOrder.version == version)
        .values(**values)
    ).rowcount
    if not changed:
        message = f"{label} was {_who_won(session, wo_id)}; your {action.value} was not applied"
        audit.record(session, actor=actor.username, action=f"workorder.{action.value}.lost",
                     now=now, target=label, detail=message)  # fmt: skip
        return ActionResult(False, message, refusal="conflict")
    note = comment
    if decision.run_at and decision.status is WorkOrderStatus.SCHEDULED:
        note = f"{comment} (push at {decision.run_at:%Y-%m-%d %H:%M} UTC)".strip()
    elif decision.proposed_at:
        note = f"{comment} (proposed push at {decision.proposed_at:%Y-%m-%d %H:%M} UTC)".strip()
    note = "; ".join(part for part in (note, ruling.note) if part)
    _event(session, wo_id, actor=actor.username, action=action.value, before=before,
           after=decision.status.value, comment=note, now=now, digest=digest)  # fmt: skip
    audit.record(session, actor=actor.username, action=f"workorder.{action.value}", now=now,
                 target=label, detail=note)  # fmt: skip
    if ruling.override:
        audit.record(session, actor=actor.username, action="workorder.window_override",
                     now=now, target=label, detail=ruling.note)  # fmt: skip
    message_tail = f": {ruling.note}" if ruling.note else ""
    if action is Action.REJECT:
        ended = _reject_siblings(session, wo, actor=actor.username, reason=comment, now=now)
        if ended:
            message_tail = f"; the rest of its request is rejected too: {', '.join(ended)}"
    if decision.status in FINAL:  # a rejected or cancelled part of a rollout
        from data import rollouts  # rollouts reads work orders too

        rollouts.after_end(session, wo_id, now)
    session.flush()
    session.expire(wo)
    view = get_work_order(session, wo_id)
    return ActionResult(True, f"{label} is now {view.status.value}{message_tail}", view)


def _refusal_kind(exc: ApprovalError) -> str:
    if isinstance(exc, FourEyesError):
        return "four_eyes"
    if isinstance(exc, RoleError):
        return "forbidden"
    if isinstance(exc, StateError):
        return "conflict"
    return "invalid"


@dataclass(frozen=True)
class _WindowRuling:
    """What the maintenance windows make of a decision."""

    decision: Decision  # as decided, or moved to the next opening
    refusal: str | None = None
    note: str = ""  # said in the answer, the history and the audit trail
    override: str | None = None  # an admin's reason for skipping the windows


def _window_ruling(
    session: Session,
    wo: WorkOrder,
    action: Action,
    decision: Decision,
    *,
    actor: Actor,
    override: str | None,
) -> _WindowRuling:
    """The connector's maintenance windows applied to Implement and Reschedule.

    Implement now (Manual Implementation on) outside every window schedules the push at
    the next opening; a chosen time outside every window is refused with the next opening
    after it. An admin may skip the rule with a reason (``override``). Whether the push
    also finishes before its window closes is the scheduler's check when it starts.
    """
    if override is not None and action not in (Action.IMPLEMENT, Action.RESCHEDULE):
        refusal = "a maintenance window override applies to Implement and Reschedule only"
        return _WindowRuling(decision, refusal)
    if action not in (Action.IMPLEMENT, Action.RESCHEDULE):
        return _WindowRuling(decision)
    if override is not None:
        if not can(actor.role, Permission.OVERRIDE_WINDOW):
            refusal = (
                f"only an admin may override the maintenance windows; {actor.username} is "
                f"{actor.role}"
            )
            return _WindowRuling(decision, refusal)
        if not override.strip():
            return _WindowRuling(decision, "a maintenance window override needs a reason")
        reason = override.strip()[:1000]
        note = f"maintenance windows overridden by {actor.username}: {reason}"
        return _WindowRuling(decision, note=note, override=reason)
    connector = session.get(Connector, wo.connector_id)
    name = connector.name if connector else f"#{wo.connector_id}"
    try:
        windows = parse_windows(connector.maintenance_windows if connector else "")
    except WindowError as exc:
        refusal = (
            f"the maintenance windows of {name} cannot be read ({exc}): correct them, or an "
            "admin overrides with a reason"
        )
        return _WindowRuling(decision, refusal)
    when = decision.run_at
    if not windows or when is None or window_at(windows, when) is not None:
        return _WindowRuling(decision)
    opening = next_opening(windows, when)
    assert opening is not None  # outside some window: one opens again within two weeks
    outside = f"outside the maintenance windows of {name} ({describe_windows(windows)})"
    if decision.status is WorkOrderStatus.PUSH_IN_PROGRESS:  # now, Manual Implementation on
        moved = Decision(WorkOrderStatus.SCHEDULED, decision.levels_done, opening)
        note = f"{outside}: scheduled at the next opening, {describe_opening(windows, opening)}"
        return _WindowRuling(moved, note=note)
    return _WindowRuling(
        decision,
        f"the push time {when:%Y-%m-%d %H:%M} UTC is {outside}; the next opening is "
        f"{describe_opening(windows, opening)}: choose a time inside a window (an admin may "
        "override with a reason)",
    )


def _plan_refusal(
    session: Session, wo: WorkOrder, shown: str | None, book: ProfileBook | None, now: datetime
) -> tuple[str | None, str | None]:
    """(why Approve/Implement must be refused, or None; the digest of the plan in force)."""
    plan = current_plan(session, wo.id)
    if plan is None:  # made before plans existed: plan it now, before anyone approves
        try:
            plan = pin_plan(session, wo.id, build_plan(session, wo.id, book or book_for(session)),
                            now)  # fmt: skip
        except PlanError as exc:
            return f"the push cannot be planned: {exc}", None
    if shown and shown != plan.digest:
        return (
            f"the push plan changed since you opened it (you saw {shown[:12]}, the plan is now "
            f"{plan.digest[:12]}): review the new plan",
            plan.digest,
        )
    if plan.blockers:
        return "preflight found a blocker: " + "; ".join(plan.blockers), plan.digest
    return None, plan.digest


# Open work orders a rejection of their request ends: not yet pushing, not final.
_STILL_OPEN = (
    WorkOrderStatus.APPROVAL_PENDING,
    WorkOrderStatus.REVIEW_IN_PROGRESS,
    WorkOrderStatus.SCHEDULED,
)


def _reject_siblings(
    session: Session, rejected: WorkOrder, *, actor: str, reason: str, now: datetime
) -> list[str]:
    """A rejection ends the request: its other open work orders are rejected too, by the
    same person with the same reason, each with its own history event and audit record.

    One push request is one change; approving the rest of it after a reviewer refused a
    part would push a change nobody approved as a whole. A sibling already pushing is left
    to finish (it cannot be recalled); each update is a compare-and-set on its version, so
    a sibling the scheduler claims at this very moment is left alone too.
    """
    label = work_order_id(rejected.id)
    siblings = session.execute(
        select(WorkOrder.id, WorkOrder.status, WorkOrder.version).where(
            WorkOrder.request_id == rejected.request_id,
            WorkOrder.id != rejected.id,
            WorkOrder.status.in_([s.value for s in _STILL_OPEN]),
        )
    ).all()
    ended: list[str] = []
    note = f"{reason} (rejected with {label} of the same request)".strip()
    for sibling_id, before, version in siblings:
        changed = session.execute(
            update(WorkOrder)
            .where(WorkOrder.id == sibling_id, WorkOrder.version == version)
            .values(status=WorkOrderStatus.REJECTED.value, version=version + 1, updated_at=now)
        ).rowcount
        if not changed:
            continue
        _event(session, sibling_id, actor=actor, action=Action.REJECT.value, before=before,
               after=WorkOrderStatus.REJECTED.value, comment=note, now=now)  # fmt: skip
        audit.record(session, actor=actor, action=f"workorder.{Action.REJECT.value}", now=now,
                     target=work_order_id(sibling_id), detail=note)  # fmt: skip
        ended.append(work_order_id(sibling_id))
    return ended


def available_actions(
    view: WorkOrderView, actor: Actor, policy: Policy, now: datetime
) -> frozenset[Action]:
    """The actions ``actor`` could take on ``view`` now, as the state machine sees it.

    A dry run of ``decide`` per action. The approvers of earlier levels are not known
    here, so a second approval by the same person still shows the button; ``act``
    refuses it with the reason when it is tried.
    """
    facts = WorkOrderFacts(view.status, view.requester, view.levels_done, (), view.run_at)
    found = set()
    for action in Action:
        try:
            decide(facts, action, actor, now=now, policy=policy, manual=True,
                   at=now + timedelta(minutes=5), comment="availability check")  # fmt: skip
        except ApprovalError:
            continue
        found.add(action)
    return frozenset(found)


def action_targets(
    views: Iterable[WorkOrderView], actor: Actor, policy: Policy, now: datetime
) -> dict[Action, list[WorkOrderView]]:
    """For each action, the work orders (oldest first) it would apply to for ``actor``."""
    targets: dict[Action, list[WorkOrderView]] = {action: [] for action in Action}
    for view in sorted(views, key=lambda v: v.id):
        for action in available_actions(view, actor, policy, now):
            targets[action].append(view)
    return targets


# ----- the scheduler's side (no device I/O here: jobs/workorders.py does the pushing)


def _system_transition(
    session: Session,
    wo: WorkOrder,
    *,
    to: WorkOrderStatus,
    action: str,
    now: datetime,
    reason: str = "",
    owner: str | None = None,
    lease_until: datetime | None = None,
    pushed: bool = False,
    run_at: datetime | None = None,
    verification: str | None = None,
) -> bool:
    """One compare-and-set move made by the scheduler, with its event and audit record;
    a move to a final status tells the work order's rollout (data/rollouts.py)."""
    before, version = wo.status, wo.version  # the UPDATE below refreshes the ORM object
    values: dict[str, Any] = {
        "status": to.value,
        "version": version + 1,
        "reason": reason or wo.reason,
        "lease_owner": owner,
        "lease_until": lease_until,
        "updated_at": now,
    }
    if pushed:  # the push ended here (installed, failed or interrupted)
        values["pushed_at"] = now
    if run_at is not None:
        values["run_at"] = run_at
    if verification is not None:  # decided by the verification after the install
        values.update(verification=verification, verified_at=now)
    changed = session.execute(
        update(WorkOrder).where(WorkOrder.id == wo.id, WorkOrder.version == version).values(values)
    ).rowcount
    if changed:
        _event(session, wo.id, actor="scheduler", action=action, before=before,
               after=to.value, comment=reason, now=now)  # fmt: skip
        audit.record(session, actor="scheduler", action=f"workorder.{action}", now=now,
                     target=work_order_id(wo.id), detail=reason)  # fmt: skip
        if to in FINAL:
            from data import rollouts  # rollouts reads work orders too

            rollouts.after_end(session, wo.id, now)
    return bool(changed)


def claim_due(
    session: Session,
    *,
    owner: str,
    now: datetime,
    grace: timedelta,
    lease: timedelta,
    limit: int,
    verify_grace: timedelta = timedelta(seconds=60),
    waiting_connectors: frozenset[int] = frozenset(),
) -> list[int]:
    """Work orders to run now: implemented ones not yet taken, scheduled ones due, and
    verifications or rollbacks a stopped scheduler left (reconcile_interrupted).

    A scheduled push due longer ago than ``grace`` (the scheduler was down) fails with
    "missed schedule" instead of running unexpectedly late. A push waits for its turn in
    its rollout (data/rollouts.py), and one that could not finish (its push timeout plus
    ``verify_grace``) before its connector's maintenance window closes does not start: it
    is scheduled at the next opening. Work through ``waiting_connectors`` (their zone has
    no live agent) is not taken: it waits, and a scheduled one still fails once its grace
    has passed.
    """
    from data import rollouts  # rollouts reads work orders too

    claimed: list[int] = []
    looked: dict[int, Any] = {}  # each rollout read once in this pass
    resumable = (WorkOrderStatus.VERIFYING.value, WorkOrderStatus.ROLLING_BACK.value)
    due = session.scalars(
        select(WorkOrder)
        .where(
            (
                WorkOrder.status.in_([WorkOrderStatus.PUSH_IN_PROGRESS.value, *resumable])
                & WorkOrder.lease_owner.is_(None)
            )
            | ((WorkOrder.status == WorkOrderStatus.SCHEDULED.value) & (WorkOrder.run_at <= now))
        )
        .order_by(WorkOrder.run_at, WorkOrder.id)
    ).all()  # all of them: ones waiting for their wave must not crowd out the one whose turn it is
    for wo in due:
        if len(claimed) >= limit:
            break
        waits = wo.connector_id in waiting_connectors
        if wo.status in resumable and not waits:
            if _system_transition(session, wo, to=WorkOrderStatus(wo.status), action="resume",
                                  now=now, owner=owner, lease_until=now + lease):  # fmt: skip
                claimed.append(wo.id)
            continue
        if wo.status == WorkOrderStatus.SCHEDULED.value and wo.run_at and now - wo.run_at > grace:
            late = now - wo.run_at
            _system_transition(
                session,
                wo,
                to=WorkOrderStatus.FAILED,
                action="fail",
                now=now,
                reason=f"missed schedule: due at {wo.run_at:%Y-%m-%d %H:%M} UTC, the scheduler "
                f"was down for {int(late.total_seconds() // 60)} min (grace "
                f"{int(grace.total_seconds() // 60)} min); request the push again",
            )
            looked.pop(wo.request_id, None)  # that end may have halted its rollout
            continue
        if waits or wo.status in resumable:
            continue
        if not rollouts.may_start(session, wo, now, looked):
            continue
        if _outside_window(session, wo, now, verify_grace):
            continue
        action = "start" if wo.status == WorkOrderStatus.SCHEDULED.value else "claim"
        if _system_transition(
            session,
            wo,
            to=WorkOrderStatus.PUSH_IN_PROGRESS,
            action=action,
            now=now,
            owner=owner,
            lease_until=now + lease,
        ):
            claimed.append(wo.id)
    return claimed


def _outside_window(
    session: Session, wo: WorkOrder, now: datetime, verify_grace: timedelta
) -> bool:
    """A push that could not finish before its window closes is moved to the next opening
    (unless an admin overrode the windows for it); True when it was moved."""
    if wo.window_override:
        return False
    connector = session.get(Connector, wo.connector_id)
    if connector is None or not (connector.maintenance_windows or "").strip():
        return False
    from data.domain.windows import describe_opening, fits, next_opening, parse_windows

    windows = parse_windows(connector.maintenance_windows)
    settings = json.loads(connector.settings or "{}")
    needed = timedelta(seconds=int(settings.get("push_timeout", 180))) + verify_grace
    if fits(windows, now, needed):
        return False
    opening = next_opening(windows, now)
    _system_transition(
        session,
        wo,
        to=WorkOrderStatus.SCHEDULED,
        action="window",
        now=now,
        reason=f"not started: it could not finish ({int(needed.total_seconds() // 60)} min "
        "with verification) before its maintenance window closes; "
        + (
            f"moved to the next opening, {describe_opening(windows, opening)}"
            if opening
            else "no window opens again"
        ),
        run_at=opening,
    )
    return True


def finish_push(
    session: Session, wo_id: int, *, owner: str, ok: bool, reason: str, now: datetime
) -> bool:
    """Record the push's end, only if this scheduler still holds the lease (the demo's
    replayed history and callers without verification: Completed or Failed at once)."""
    wo = session.get(WorkOrder, wo_id)
    if wo is None or wo.lease_owner != owner:
        return False
    return _system_transition(
        session,
        wo,
        to=WorkOrderStatus.COMPLETED if ok else WorkOrderStatus.FAILED,
        action="complete" if ok else "fail",
        now=now,
        reason=reason,
        pushed=True,
    )


def reconcile_interrupted(session: Session, *, owner: str, now: datetime) -> list[int]:
    """At scheduler start: work a killed scheduler left running is taken up again, never
    re-run blindly.

    - Push In Progress: the attempt that was running is closed as interrupted and the
      install is tried again, which compares the device's files first (the same
      certificate already in place: ``already_installed``, straight to verification).
    - Verifying: the verification resumes; nothing is installed again.
    - Failed Verification waiting for its rollback, or Rolling Back: the rollback runs
      (restoring the kept previous files again is harmless).
    Returns the work orders taken up again.
    """
    taken = []
    for wo in session.scalars(
        select(WorkOrder).where(
            WorkOrder.status.in_([s.value for s in _INTERRUPTIBLE]),
            WorkOrder.lease_owner.is_not(None),
            WorkOrder.lease_owner != owner,
        )
    ).all():
        status = WorkOrderStatus(wo.status)
        to = (
            WorkOrderStatus.ROLLING_BACK
            if status is WorkOrderStatus.FAILED_VERIFICATION
            else status
        )
        why = {
            WorkOrderStatus.PUSH_IN_PROGRESS: "the scheduler stopped during the install: it "
            "is tried again, comparing the device's files first",
            WorkOrderStatus.VERIFYING: "the scheduler stopped during the verification: it "
            "resumes, nothing is installed again",
        }.get(status, "the scheduler stopped during the rollback: it runs again")
        if _system_transition(session, wo, to=to, action="reconcile", now=now, reason=why):
            session.execute(  # the attempt recorded before the device was touched ends too
                update(PushAttempt)
                .where(PushAttempt.work_order_id == wo.id, PushAttempt.outcome == "started")
                .values(outcome="failed", reason_class="interrupted", finished_at=now,
                        reason="interrupted: the scheduler stopped during this step")
            )  # fmt: skip
            taken.append(wo.id)
    return taken


# What a scheduler leaves leased while it works; reconcile_interrupted takes them up again.
_INTERRUPTIBLE = (
    WorkOrderStatus.PUSH_IN_PROGRESS,
    WorkOrderStatus.VERIFYING,
    WorkOrderStatus.FAILED_VERIFICATION,
    WorkOrderStatus.ROLLING_BACK,
)


def work_order_target(session: Session, wo_id: int) -> tuple[str, str]:
    """(certificate fingerprint, connector name) of a work order, for the push job."""
    view = get_work_order(session, wo_id)
    return view.certificate, view.connector


def start_emergency(
    session: Session,
    fingerprint: str,
    connector: str,
    *,
    actor: Actor,
    reason: str,
    owner: str,
    now: datetime,
    allowed: bool,
    book: ProfileBook | None = None,
) -> tuple[WorkOrderView, PlanView]:
    """An emergency change: an admin pushes now, outside the approvals, with a reason.

    Refused unless the host allows it (CERTPUSH_EMERGENCY_PUSH=on). It is still a request
    with a work order and a pinned plan, marked emergency everywhere it is shown, and the
    push runs under ``owner``'s lease like any other.
    """
    if not allowed:
        raise ApprovalError(
            "emergency pushes are turned off on this host: an administrator enables them "
            "with CERTPUSH_EMERGENCY_PUSH=on; otherwise request the push and have it approved"
        )
    if not can(actor.role, Permission.PUSH_WITHOUT_APPROVAL):
        raise ApprovalError(
            f"{actor.username} ({actor.role}) may not push without approval: admins only"
        )
    if not reason.strip():
        raise ApprovalError("an emergency push needs a reason (--reason)")
    _, [view] = request_push(
        session, fingerprint, actor=actor, now=now, comment=f"EMERGENCY: {reason.strip()}",
        connectors=[connector], book=book, emergency=True,
    )  # fmt: skip
    plan = current_plan(session, view.id)
    assert plan is not None
    session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == view.id)
        .values(
            status=WorkOrderStatus.PUSH_IN_PROGRESS.value,
            version=view.version + 1,
            lease_owner=owner,
            lease_until=now + timedelta(minutes=15),
            updated_at=now,
        )
    )
    note = f"emergency change by {actor.username}: {reason.strip()}"
    _event(session, view.id, actor=actor.username, action="emergency", before=view.status.value,
           after=WorkOrderStatus.PUSH_IN_PROGRESS.value, comment=note, now=now,
           digest=plan.digest)  # fmt: skip
    audit.record(session, actor=actor.username, action="push.emergency", now=now,
                 target=view.label, detail=f"{note}; plan {plan.digest}")  # fmt: skip
    session.flush()
    return get_work_order(session, view.id), plan


def work_order_detail(session: Session, wo_id: int) -> dict[str, Any]:
    """The documented shape of ``certpush workorders show WO --json``: the work order (as in
    ``list``), its ``plan`` (digest, files, commands, endpoints, preflight), its
    ``approvals`` (each with the plan digest it was given for, and whether it still stands),
    its ``history`` and ``window_override`` (an admin's reason for pushing outside the
    connector's maintenance windows, or null)."""
    view = get_work_order(session, wo_id)
    plan = current_plan(session, wo_id)
    events = session.scalars(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == wo_id)
        .order_by(WorkOrderEvent.id)
    ).all()
    approvals = [
        {
            "action": e.action,
            "by": e.actor,
            "at": e.at.isoformat(),
            "plan_digest": e.plan_digest,
            "stands": plan is not None and e.plan_digest == plan.digest,
            "comment": e.comment,
        }
        for e in events
        if e.action in (Action.APPROVE.value, Action.IMPLEMENT.value, "emergency")
    ]
    steps = [
        {"at": e.at.isoformat(), "by": e.actor, "action": e.action, "from": e.from_status,
         "to": e.to_status, "comment": e.comment, "plan_digest": e.plan_digest}
        for e in events
    ]  # fmt: skip
    row = session.get(WorkOrder, wo_id)
    return {
        **view.to_json(),
        "certificate_common_name": view.common_name,
        "comment": view.comment,
        "window_override": row.window_override if row else None,
        "plan": plan.to_json() if plan else None,
        "approvals": approvals,
        "history": steps,
    }
