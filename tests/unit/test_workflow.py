"""The work order state machine: every (state, action, role, person) combination.

The expected outcome of each combination is written out here independently of
data/domain/workflow.py, from DESIGN.md's diagram and the four-eyes policy.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from data.domain.workflow import (
    DEFAULT_POLICY,
    Action,
    Actor,
    ApprovalError,
    WorkOrderFacts,
    WorkOrderStatus,
    decide,
    parse_work_order_id,
    work_order_id,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
S = WorkOrderStatus
ROLES = ["operator", "reviewer", "implementer", "manager", "admin"]
PEOPLE = {"requester": "olivia", "approver": "ravi", "other": "zed"}


def facts(status: WorkOrderStatus) -> WorkOrderFacts:
    approved = status not in (S.APPROVAL_PENDING,)
    return WorkOrderFacts(
        status=status,
        requester="olivia",
        levels_done=1 if approved else 0,
        approvers=("ravi",) if approved else (),
        run_at=NOW + timedelta(hours=1) if status is S.SCHEDULED else None,
    )


def expected(status: S, action: Action, role: str, who: str) -> S | None:
    """The oracle: the new status, or None when the action must be refused."""
    not_requester = who != "requester"
    fresh_person = who == "other"
    if action is Action.APPROVE:
        ok = status is S.APPROVAL_PENDING and role in ("reviewer", "admin") and not_requester
        return S.REVIEW_IN_PROGRESS if ok else None
    if action is Action.IMPLEMENT:
        ok = status is S.REVIEW_IN_PROGRESS and role in ("implementer", "admin") and fresh_person
        return S.PUSH_IN_PROGRESS if ok else None
    if action is Action.REJECT:
        level_role = {S.APPROVAL_PENDING: "reviewer", S.REVIEW_IN_PROGRESS: "implementer"}
        ok = (
            status in level_role
            and role in (level_role[status], "admin")
            and (fresh_person if status is S.REVIEW_IN_PROGRESS else not_requester)
        )
        return S.REJECTED if ok else None
    if action is Action.CANCEL:
        open_states = (S.APPROVAL_PENDING, S.REVIEW_IN_PROGRESS, S.SCHEDULED, S.HALTED)
        ok = status in open_states and (who == "requester" or role in ("implementer", "admin"))
        return S.CANCELLED if ok else None
    if action is Action.RESCHEDULE:
        ok = status is S.SCHEDULED and role in ("implementer", "admin") and not_requester
        return S.SCHEDULED if ok else None
    raise AssertionError(action)


CASES = list(itertools.product(list(S), list(Action), ROLES, list(PEOPLE)))


@pytest.mark.parametrize(("status", "action", "role", "who"), CASES)
def test_transition_table(status, action, role, who):
    actor = Actor(PEOPLE[who], role)
    want = expected(status, action, role, who)
    run = dict(now=NOW, comment="because", at=NOW + timedelta(hours=2))
    if want is None:
        with pytest.raises(ApprovalError) as refused:
            decide(facts(status), action, actor, **run)
        assert str(refused.value)  # a human message, never empty
    else:
        assert decide(facts(status), action, actor, **run).status is want


def test_the_table_covers_every_combination():
    assert len(CASES) == len(S) * len(Action) * len(ROLES) * len(PEOPLE) == 1050
    allowed = [c for c in CASES if expected(*c) is not None]
    assert 0 < len(allowed) < len(CASES) // 4


def test_implement_with_the_toggle_off_schedules():
    decision = decide(
        facts(S.REVIEW_IN_PROGRESS),
        Action.IMPLEMENT,
        Actor("ines", "implementer"),
        now=NOW,
        manual=False,
        at=NOW + timedelta(minutes=5),
    )
    assert decision.status is S.SCHEDULED and decision.run_at == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (None, "choose a date and time"),
        (NOW - timedelta(seconds=1), "is in the past"),
        (NOW, "is in the past"),
        (NOW + timedelta(days=91), "more than 90 days ahead"),
        (datetime(2026, 12, 2, 12, 0), "time zone"),
    ],
)
def test_bad_schedules_are_refused(at, message):
    with pytest.raises(ApprovalError, match=message):
        decide(facts(S.REVIEW_IN_PROGRESS), Action.IMPLEMENT, Actor("ines", "implementer"),
               now=NOW, manual=False, at=at)  # fmt: skip


def test_approve_with_the_toggle_off_proposes_a_time():
    at = NOW + timedelta(days=1)
    decision = decide(
        facts(S.APPROVAL_PENDING), Action.APPROVE, Actor("ravi", "reviewer"), now=NOW,
        manual=False, at=at,
    )  # fmt: skip
    assert decision.status is S.REVIEW_IN_PROGRESS and decision.proposed_at == at
    assert decision.run_at is None  # only the implementer decides when


def test_reject_needs_a_reason():
    with pytest.raises(ApprovalError, match="needs a reason"):
        decide(facts(S.APPROVAL_PENDING), Action.REJECT, Actor("ravi", "reviewer"), now=NOW,
               comment="  ")  # fmt: skip


def test_messages_name_the_rule():
    with pytest.raises(ApprovalError, match="four-eyes"):
        decide(facts(S.APPROVAL_PENDING), Action.APPROVE, Actor("olivia", "admin"), now=NOW)
    with pytest.raises(ApprovalError, match="needs the reviewer role"):
        decide(facts(S.APPROVAL_PENDING), Action.APPROVE, Actor("zed", "implementer"), now=NOW)
    with pytest.raises(ApprovalError, match="already Completed"):
        decide(facts(S.COMPLETED), Action.CANCEL, Actor("olivia", "operator"), now=NOW)


def test_work_order_ids():
    assert work_order_id(123) == "WO-000123"
    assert parse_work_order_id("wo-000123") == parse_work_order_id("123") == 123
    with pytest.raises(ApprovalError):
        parse_work_order_id("REQ-1")
    assert DEFAULT_POLICY.levels[-1].role == "implementer"
