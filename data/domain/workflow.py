"""The work order state machine and the approval policy (DESIGN.md, "Work order states").

One table of transitions, checked by ``decide`` for every action from every front
end (web callback, CLI, API, scheduler). Pure: time, the acting user and the
policy are passed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from data.domain.errors import CertpushError


class WorkOrderStatus(enum.StrEnum):
    """Labels exactly as the UI, the CLI and the API show them."""

    APPROVAL_PENDING = "Push-Approval Pending"
    REVIEW_IN_PROGRESS = "Push-Review In Progress"
    SCHEDULED = "Push-Scheduled"
    PUSH_IN_PROGRESS = "Push In Progress"
    VERIFYING = "Verifying"
    COMPLETED = "Completed"
    FAILED = "Failed"
    FAILED_VERIFICATION = "Failed Verification"
    ROLLING_BACK = "Rolling Back"
    ROLLED_BACK = "Rolled Back"
    ROLLBACK_FAILED = "Rollback Failed"
    HALTED = "Halted"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"


FINAL = frozenset(
    {
        WorkOrderStatus.COMPLETED,
        WorkOrderStatus.FAILED,
        WorkOrderStatus.FAILED_VERIFICATION,
        WorkOrderStatus.ROLLED_BACK,
        WorkOrderStatus.ROLLBACK_FAILED,
        WorkOrderStatus.REJECTED,
        WorkOrderStatus.CANCELLED,
    }
)

# Ended in a way that halts a rollout: the device did not end up serving the certificate.
UNSUCCESSFUL = frozenset(
    {
        WorkOrderStatus.FAILED,
        WorkOrderStatus.FAILED_VERIFICATION,
        WorkOrderStatus.ROLLED_BACK,
        WorkOrderStatus.ROLLBACK_FAILED,
    }
)

# The scheduler is working on it: the device is being changed or checked.
RUNNING = frozenset(
    {
        WorkOrderStatus.PUSH_IN_PROGRESS,
        WorkOrderStatus.VERIFYING,
        WorkOrderStatus.ROLLING_BACK,
    }
)


class Action(enum.StrEnum):
    APPROVE = "approve"
    IMPLEMENT = "implement"
    REJECT = "reject"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"


class ApprovalError(CertpushError):
    """An action that the policy or the work order's state does not allow, with why."""


class RoleError(ApprovalError):
    """The actor's role may not act at this level (the API answers 403 forbidden)."""


class FourEyesError(ApprovalError):
    """The actor requested the push or already approved it: another person must act."""


class StateError(ApprovalError):
    """The work order is not in a state where this action applies (often: someone was first)."""


@dataclass(frozen=True)
class Level:
    name: str
    role: str


@dataclass(frozen=True)
class Policy:
    """Approval levels in order; the last one implements. Default: Approve, then Implement."""

    levels: tuple[Level, ...]
    horizon: timedelta = timedelta(days=90)

    def __post_init__(self) -> None:
        if len(self.levels) < 2:
            raise ValueError("a policy needs at least an approval level and an implement level")

    def level_at(self, levels_done: int) -> Level:
        """The level a work order waits at once ``levels_done`` approvals are given (the
        implement level from then on)."""
        return self.levels[min(levels_done, len(self.levels) - 1)]


DEFAULT_POLICY = Policy((Level("Approve", "reviewer"), Level("Implement", "implementer")))


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


@dataclass(frozen=True)
class WorkOrderFacts:
    """What the state machine needs to know about a work order."""

    status: WorkOrderStatus
    requester: str
    levels_done: int  # approvals given so far (the implement level not included)
    approvers: tuple[str, ...]  # who gave them, in order
    run_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    status: WorkOrderStatus
    levels_done: int
    run_at: datetime | None
    proposed_at: datetime | None = None


def _level_for(facts: WorkOrderFacts, policy: Policy) -> Level:
    return policy.level_at(facts.levels_done)


def _check_role(actor: Actor, level: Level) -> None:
    if actor.role not in (level.role, "admin"):
        raise RoleError(
            f"{level.name} needs the {level.role} role; {actor.username} is {actor.role}"
        )


def _check_four_eyes(facts: WorkOrderFacts, actor: Actor) -> None:
    if actor.username == facts.requester:
        raise FourEyesError(
            f"{actor.username} requested this push and cannot also approve or implement it "
            "(four-eyes policy)"
        )
    if actor.username in facts.approvers:
        raise FourEyesError(
            f"{actor.username} already approved this work order: another person must act at "
            "this level (four-eyes policy)"
        )


def check_schedule(at: datetime | None, now: datetime, policy: Policy) -> datetime:
    """A push time must be in the future and inside the policy's horizon."""
    if at is None:
        raise ApprovalError("choose a date and time for the push, or turn Manual Implementation on")
    if at.tzinfo is None:
        raise ApprovalError("the push time needs a time zone")
    if at <= now:
        raise ApprovalError(
            f"the push time {at:%Y-%m-%d %H:%M %Z} is in the past: choose a time after now"
        )
    if at > now + policy.horizon:
        raise ApprovalError(
            f"the push time is more than {policy.horizon.days} days ahead: choose an earlier time"
        )
    return at


def decide(
    facts: WorkOrderFacts,
    action: Action,
    actor: Actor,
    *,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
    manual: bool = True,
    at: datetime | None = None,
    comment: str = "",
) -> Decision:
    """The new state after ``actor`` does ``action``, or ApprovalError saying why not.

    ``manual`` is the dialogs' Manual Implementation toggle: on (True) implements now;
    off schedules at ``at`` (Implement) or proposes ``at`` (Approve).
    """
    status = facts.status
    last = len(policy.levels) - 1
    if status in FINAL:
        raise StateError(f"this work order is already {status.value}: nothing more can be done")
    if action is Action.APPROVE:
        if status not in (WorkOrderStatus.APPROVAL_PENDING, WorkOrderStatus.REVIEW_IN_PROGRESS) or (
            facts.levels_done >= last
        ):
            raise StateError(f"a work order in {status.value} cannot be approved")
        level = _level_for(facts, policy)
        _check_role(actor, level)
        _check_four_eyes(facts, actor)
        proposed = None if manual else check_schedule(at, now, policy)
        return Decision(WorkOrderStatus.REVIEW_IN_PROGRESS, facts.levels_done + 1, None, proposed)
    if action is Action.IMPLEMENT:
        if status is not WorkOrderStatus.REVIEW_IN_PROGRESS:
            raise StateError(f"a work order in {status.value} cannot be implemented")
        if facts.levels_done < last:
            raise StateError(
                f"it needs {policy.levels[facts.levels_done].name} before it can be implemented"
            )
        level = policy.levels[last]
        _check_role(actor, level)
        _check_four_eyes(facts, actor)
        if manual:
            return Decision(WorkOrderStatus.PUSH_IN_PROGRESS, facts.levels_done, now)
        return Decision(
            WorkOrderStatus.SCHEDULED, facts.levels_done, check_schedule(at, now, policy)
        )
    if action is Action.REJECT:
        if status not in (WorkOrderStatus.APPROVAL_PENDING, WorkOrderStatus.REVIEW_IN_PROGRESS):
            raise StateError(f"a work order in {status.value} cannot be rejected")
        if not comment.strip():
            raise ApprovalError("a rejection needs a reason in the comment")
        _check_role(actor, _level_for(facts, policy))
        _check_four_eyes(facts, actor)
        return Decision(WorkOrderStatus.REJECTED, facts.levels_done, None)
    if action is Action.CANCEL:
        cancellable = (
            WorkOrderStatus.APPROVAL_PENDING,
            WorkOrderStatus.REVIEW_IN_PROGRESS,
            WorkOrderStatus.SCHEDULED,
            WorkOrderStatus.HALTED,
        )
        if status not in cancellable:
            raise StateError(f"a work order in {status.value} cannot be cancelled")
        implementer_role = policy.levels[last].role
        if actor.username != facts.requester and actor.role not in (implementer_role, "admin"):
            raise RoleError("only the requester or an implementer can cancel a work order")
        return Decision(WorkOrderStatus.CANCELLED, facts.levels_done, None)
    if action is Action.RESCHEDULE:
        if status is not WorkOrderStatus.SCHEDULED:
            raise StateError(f"only a scheduled push can be rescheduled, not {status.value}")
        _check_role(actor, policy.levels[last])
        if actor.username == facts.requester:
            raise FourEyesError(f"{actor.username} requested this push and cannot reschedule it")
        return Decision(
            WorkOrderStatus.SCHEDULED, facts.levels_done, check_schedule(at, now, policy)
        )
    raise ApprovalError(f"unknown action {action!r}")


def request_id(number: int) -> str:
    return f"REQ-{number:06d}"


def work_order_id(number: int) -> str:
    return f"WO-{number:06d}"


def parse_work_order_id(text: str) -> int:
    """Accept "WO-000123", "wo-123" or "123"."""
    digits = text.strip().upper().removeprefix("WO-")
    if not digits.isdigit():
        raise ApprovalError(f"{text!r} is not a work order ID (WO-000123)")
    return int(digits)
