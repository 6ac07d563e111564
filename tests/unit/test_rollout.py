"""Rollout waves and halting (data/domain/rollout.py), table by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from data.domain.rollout import (
    Member,
    RolloutAction,
    RolloutError,
    RolloutState,
    RolloutStateError,
    WaveState,
    accepted,
    check_decision,
    effective_state,
    halt_reason,
    halts,
    parse_request_id,
    plan_waves,
    progress,
    resumed_status,
    wave_size_for,
)
from data.domain.workflow import Actor, WorkOrderStatus

S = WorkOrderStatus
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rest", "requested", "size"),
    [
        (1, None, 1),
        (2, None, 1),
        (3, None, 1),
        (4, None, 1),
        (5, None, 2),
        (8, None, 2),
        (9, None, 3),
        (199, None, 50),
        (200, None, 50),
        (0, None, 1),
        (10, 3, 3),
        (2, 50, 50),
    ],
)
def test_wave_size_is_a_quarter_of_the_rest_rounded_up_or_as_asked(rest, requested, size):
    assert wave_size_for(rest, requested) == size


@pytest.mark.parametrize("requested", [0, -2])
def test_a_wave_holds_at_least_one(requested):
    with pytest.raises(RolloutError, match="at least 1"):
        wave_size_for(5, requested)


@pytest.mark.parametrize(
    ("ids", "canary", "size", "waves"),
    [
        ([1, 2], 1, 1, [[1], [2]]),
        ([1, 2, 3], 1, 1, [[1], [2], [3]]),
        ([1, 2, 3], 2, 1, [[2], [1], [3]]),
        ([1, 2, 3, 4, 5, 6], 1, 2, [[1], [2, 3], [4, 5], [6]]),
        ([1, 2, 3, 4, 5, 6], 4, 2, [[4], [1, 2], [3, 5], [6]]),
        ([7, 8, 9], 9, 5, [[9], [7, 8]]),
    ],
)
def test_plan_waves_canary_first_then_chunks_in_request_order(ids, canary, size, waves):
    assert plan_waves(ids, canary, size) == waves


def test_plan_waves_refuses_a_canary_outside_the_rollout():
    with pytest.raises(RolloutError, match="not one of"):
        plan_waves([1, 2], 3, 1)


def m(i: int, status: S, ended_at: datetime | None = None) -> Member:
    return Member(i, status, ended_at or NOW)


@pytest.mark.parametrize(
    ("status", "resumed_at", "accept", "halt"),
    [
        (S.COMPLETED, None, True, False),
        (S.CANCELLED, None, True, False),
        (S.REJECTED, None, True, False),
        (S.FAILED, None, False, True),
        (S.FAILED_VERIFICATION, None, False, True),
        (S.ROLLED_BACK, None, False, True),
        (S.ROLLBACK_FAILED, None, False, True),
        (S.FAILED, NOW, True, False),  # ended at the resume's instant: seen by who resumed
        (S.FAILED, NOW + timedelta(minutes=1), True, False),
        (S.ROLLED_BACK, NOW - timedelta(seconds=1), False, True),  # failed after the resume
        (S.PUSH_IN_PROGRESS, None, False, False),
        (S.VERIFYING, None, False, False),
        (S.ROLLING_BACK, None, False, False),
        (S.HALTED, None, False, False),
        (S.SCHEDULED, None, False, False),
        (S.APPROVAL_PENDING, None, False, False),
    ],
)
def test_which_ends_hold_a_rollout_back(status, resumed_at, accept, halt):
    member = m(1, status)
    assert accepted(member, resumed_at) is accept
    assert halts(member, resumed_at) is halt


WAVES = [[1], [2, 3], [4]]


def members(*statuses: S) -> dict[int, Member]:
    return {i: m(i, s) for i, s in enumerate(statuses, start=1)}


P = S.PUSH_IN_PROGRESS
C = S.COMPLETED
F = S.FAILED
H = S.HALTED
A = S.REVIEW_IN_PROGRESS
V = S.VERIFYING
W = WaveState


@pytest.mark.parametrize(
    ("statuses", "wave_states", "current", "may_start", "label", "finished"),
    [
        ((P, P, P, P), (W.RUNNING, W.WAITING, W.WAITING), 0, {1}, "canary", False),
        ((A, P, P, P), (W.RUNNING, W.WAITING, W.WAITING), 0, {1}, "canary", False),
        ((V, P, P, P), (W.RUNNING, W.WAITING, W.WAITING), 0, {1}, "canary", False),
        ((C, P, A, P), (W.VERIFIED, W.RUNNING, W.WAITING), 1, {1, 2, 3}, "wave 1 of 2", False),
        ((C, C, V, P), (W.VERIFIED, W.RUNNING, W.WAITING), 1, {1, 2, 3}, "wave 1 of 2", False),
        ((C, C, C, P), (W.VERIFIED, W.VERIFIED, W.RUNNING), 2, {1, 2, 3, 4}, "wave 2 of 2",
         False),
        ((C, C, S.CANCELLED, P), (W.VERIFIED, W.VERIFIED, W.RUNNING), 2, {1, 2, 3, 4},
         "wave 2 of 2", False),
        ((C, C, C, C), (W.VERIFIED, W.VERIFIED, W.VERIFIED), 2, {1, 2, 3, 4}, "completed",
         True),
        ((F, H, H, H), (W.FAILED, W.WAITING, W.WAITING), 0, {1}, "canary", False),
        ((C, F, P, H), (W.VERIFIED, W.FAILED, W.WAITING), 1, {1, 2, 3}, "wave 1 of 2", False),
        ((C, C, C, F), (W.VERIFIED, W.VERIFIED, W.FAILED), 2, {1, 2, 3, 4},
         "ended with failures", True),
        ((S.REJECTED,) * 4, (W.VERIFIED,) * 3, 2, {1, 2, 3, 4}, "completed", True),
    ],
)  # fmt: skip
def test_progress(statuses, wave_states, current, may_start, label, finished):
    got = progress(WAVES, members(*statuses), resumed_at=None)
    assert tuple(w.state for w in got.waves) == wave_states
    assert got.current == current
    assert got.may_start == may_start
    assert got.label() == label
    assert got.finished is finished
    assert got.total == 2
    assert [w.name for w in got.waves] == ["canary", "wave 1", "wave 2"]
    assert got.wave_of(3) == 1 and got.wave_of(99) is None


def test_a_resume_accepts_the_failures_seen_so_far_and_the_next_wave_goes():
    failed = {1: m(1, F, NOW), 2: m(2, P), 3: m(3, P), 4: m(4, P)}
    assert progress(WAVES, failed, resumed_at=None).may_start == {1}
    resumed = progress(WAVES, failed, resumed_at=NOW + timedelta(minutes=5))
    assert resumed.waves[0].state is W.VERIFIED
    assert resumed.may_start == {1, 2, 3}
    ended = {**failed, 2: m(2, C), 3: m(3, C), 4: m(4, C)}
    over = progress(WAVES, ended, resumed_at=NOW + timedelta(minutes=5))
    assert over.all_verified and over.label() == "ended with failures"
    again = {**failed, 2: m(2, F, NOW + timedelta(minutes=6))}  # failed after the resume
    after = progress(WAVES, again, resumed_at=NOW + timedelta(minutes=5))
    assert after.waves[1].state is W.FAILED and 4 not in after.may_start


@pytest.mark.parametrize(
    ("stored", "statuses", "state"),
    [
        (RolloutState.RUNNING, (C, P), RolloutState.RUNNING),
        (RolloutState.HALTED, (F, H), RolloutState.HALTED),
        (RolloutState.RUNNING, (C, C), RolloutState.DONE),
        (RolloutState.HALTED, (C, F), RolloutState.DONE),
        (RolloutState.ABORTED, (F, S.CANCELLED), RolloutState.ABORTED),
        (RolloutState.RUNNING, (S.REJECTED, S.REJECTED), RolloutState.DONE),
    ],
)
def test_effective_state(stored, statuses, state):
    assert effective_state(stored, members(*statuses).values()) is state


def test_halt_reason_names_the_work_order_its_connector_status_and_why():
    assert halt_reason("WO-000007", "shop-a", S.ROLLED_BACK, " served the old one ") == (
        "WO-000007 (shop-a) ended Rolled Back: served the old one"
    )
    assert halt_reason("WO-000007", "shop-a", S.FAILED, "") == "WO-000007 (shop-a) ended Failed"


@pytest.mark.parametrize(
    ("halted_from", "run_at", "status"),
    [
        ("Push-Scheduled", NOW + timedelta(hours=1), S.SCHEDULED),
        ("Push-Scheduled", NOW, S.PUSH_IN_PROGRESS),
        ("Push-Scheduled", NOW - timedelta(hours=1), S.PUSH_IN_PROGRESS),
        ("Push In Progress", NOW + timedelta(hours=1), S.PUSH_IN_PROGRESS),
        (None, None, S.PUSH_IN_PROGRESS),
    ],
)
def test_resume_puts_a_halted_work_order_back(halted_from, run_at, status):
    assert resumed_status(halted_from, run_at, NOW) is status


R = RolloutAction
ROLES = ["operator", "reviewer", "implementer", "manager", "admin"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("who", ["olivia", "ines"])  # olivia requested the push
@pytest.mark.parametrize("action", list(RolloutAction))
def test_who_may_resume_or_abort(role, who, action):
    """The implement level's role or admin; the requester never resumes (four eyes)."""
    may = role in ("implementer", "admin") and not (action is R.RESUME and who == "olivia")
    decide = lambda: check_decision(  # noqa: E731
        action, RolloutState.HALTED, Actor(who, role), implement_role="implementer",
        requester="olivia", comment="checked the canary", label="REQ-000001",
    )  # fmt: skip
    if may:
        expected = RolloutState.RUNNING if action is R.RESUME else RolloutState.ABORTED
        assert decide() is expected
    else:
        with pytest.raises(RolloutError) as caught:
            decide()
        why = str(caught.value)
        assert "four-eyes" in why or "needs the implementer role" in why


@pytest.mark.parametrize(
    ("action", "state", "outcome"),
    [
        (R.RESUME, RolloutState.HALTED, RolloutState.RUNNING),
        (R.RESUME, RolloutState.RUNNING, "only a halted rollout resumes"),
        (R.RESUME, RolloutState.ABORTED, "only a halted rollout resumes"),
        (R.RESUME, RolloutState.DONE, "only a halted rollout resumes"),
        (R.ABORT, RolloutState.HALTED, RolloutState.ABORTED),
        (R.ABORT, RolloutState.RUNNING, RolloutState.ABORTED),
        (R.ABORT, RolloutState.ABORTED, "nothing left to abort"),
        (R.ABORT, RolloutState.DONE, "nothing left to abort"),
    ],
)
def test_resume_and_abort_by_state(action, state, outcome):
    args = dict(implement_role="implementer", requester="olivia", comment="ok", label="REQ-1")
    actor = Actor("ines", "implementer")
    if isinstance(outcome, RolloutState):
        assert check_decision(action, state, actor, **args) is outcome
    else:
        with pytest.raises(RolloutStateError, match=outcome):
            check_decision(action, state, actor, **args)


def test_a_comment_is_required():
    with pytest.raises(RolloutError, match="needs a comment"):
        check_decision(R.ABORT, RolloutState.HALTED, Actor("ines", "implementer"),
                       implement_role="implementer", requester="o", comment=" ",
                       label="R")  # fmt: skip


def test_a_policy_with_another_implement_role_is_followed():
    actor = Actor("rita", "reviewer")
    state = check_decision(R.RESUME, RolloutState.HALTED, actor, implement_role="reviewer",
                           requester="o", comment="ok", label="R")  # fmt: skip
    assert state is RolloutState.RUNNING


@pytest.mark.parametrize(
    ("text", "number"), [("REQ-000012", 12), ("req-12", 12), ("12", 12), (" REQ-7 ", 7)]
)
def test_parse_request_id(text, number):
    assert parse_request_id(text) == number


@pytest.mark.parametrize("text", ["", "REQ-", "WO-12", "twelve", "0", "-3"])
def test_parse_request_id_refuses(text):
    with pytest.raises(RolloutError, match="not a push request ID"):
        parse_request_id(text)
