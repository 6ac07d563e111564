"""Rollout waves and halting (issue 13, "Canary and waves"). Pure: no I/O, time passed in.

A push request with several work orders is a rollout: the canary first, then waves of
at most ``wave_size`` work orders in request order, each wave's turn coming only when
every work order of the earlier waves ended well. A work order that ends unsuccessfully
halts the rollout; an implementer then resumes it (the failures seen so far are
accepted: they ended before ``resumed_at``) or aborts it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from data.domain.errors import CertpushError
from data.domain.workflow import FINAL, UNSUCCESSFUL, Actor, WorkOrderStatus

# Without a wave size asked for, a wave holds this share of the work orders after the
# canary (rounded up, at least one).
DEFAULT_WAVE_SHARE_PERCENT = 25

# Ended in a way that lets the next wave go: served, or taken out of the change by a person.
_PASSED = frozenset(
    {WorkOrderStatus.COMPLETED, WorkOrderStatus.CANCELLED, WorkOrderStatus.REJECTED}
)


class RolloutState(enum.StrEnum):
    """The stored state of a rollout (``rollouts.state``)."""

    RUNNING = "running"
    HALTED = "halted"
    ABORTED = "aborted"
    DONE = "done"


class WaveState(enum.StrEnum):
    WAITING = "waiting"  # an earlier wave has not ended well yet
    RUNNING = "running"  # its turn has come: its work orders may start
    VERIFIED = "verified"  # each of its work orders ended well (or its failure was accepted)
    FAILED = "failed"  # one of its work orders ended unsuccessfully: the rollout halts


class RolloutAction(enum.StrEnum):
    RESUME = "resume"
    ABORT = "abort"


class RolloutError(CertpushError):
    """A rollout action that its state, the person's role or the input does not allow."""


class RolloutStateError(RolloutError):
    """The rollout is not in a state where this action applies (often: someone was first)."""


def wave_size_for(rest: int, requested: int | None) -> int:
    """How many work orders one wave after the canary holds: ``requested``, else 25% of the
    ``rest`` (the work orders after the canary) rounded up; at least one either way."""
    if requested is not None:
        if requested < 1:
            raise RolloutError(f"a wave holds at least 1 connector, not {requested}")
        return requested
    return max(1, -(-rest * DEFAULT_WAVE_SHARE_PERCENT // 100))


def plan_waves(work_order_ids: Sequence[int], canary_id: int, wave_size: int) -> list[list[int]]:
    """Wave 0 is ``[canary_id]``; the other work orders follow in request order, in chunks
    of ``wave_size``."""
    if canary_id not in work_order_ids:
        raise RolloutError(f"the canary {canary_id} is not one of the rollout's work orders")
    if wave_size < 1:
        raise RolloutError(f"a wave holds at least 1 connector, not {wave_size}")
    rest = [i for i in work_order_ids if i != canary_id]
    return [[canary_id], *(rest[i : i + wave_size] for i in range(0, len(rest), wave_size))]


@dataclass(frozen=True)
class Member:
    """A work order as its rollout sees it."""

    id: int
    status: WorkOrderStatus
    ended_at: datetime | None = None  # its last change: when it became final, if it is


def accepted(member: Member, resumed_at: datetime | None) -> bool:
    """Whether ``member`` no longer holds the rollout back: it ended well, was taken out of
    the change, or failed before someone resumed the rollout (accepting that failure)."""
    if member.status in _PASSED:
        return True
    if member.status in UNSUCCESSFUL:
        return (
            resumed_at is not None and member.ended_at is not None and member.ended_at <= resumed_at
        )
    return False


def halts(member: Member, resumed_at: datetime | None) -> bool:
    """Whether ``member``'s end halts its rollout: unsuccessful, and not accepted by a resume."""
    return member.status in UNSUCCESSFUL and not accepted(member, resumed_at)


@dataclass(frozen=True)
class WaveProgress:
    index: int  # 0: the canary
    work_orders: tuple[int, ...]
    state: WaveState

    @property
    def name(self) -> str:
        return "canary" if self.index == 0 else f"wave {self.index}"


@dataclass(frozen=True)
class Progress:
    """Where a rollout stands: each wave's state, the current wave and who may start."""

    waves: tuple[WaveProgress, ...]
    current: int  # the first wave not verified (the last one once all are)
    may_start: frozenset[int]  # work orders whose wave's turn has come
    finished: bool  # every work order is final
    unsuccessful: int = 0  # work orders that ended unsuccessfully (accepted by a resume or not)

    @property
    def total(self) -> int:
        """How many waves follow the canary."""
        return len(self.waves) - 1

    @property
    def all_verified(self) -> bool:
        return all(w.state is WaveState.VERIFIED for w in self.waves)

    def label(self) -> str:
        """The progress in words: canary, wave k of n, completed or ended with failures
        (one of its work orders did not end serving the certificate, even if a resume went
        past it)."""
        if self.finished:
            return "ended with failures" if self.unsuccessful else "completed"
        if self.current == 0:
            return "canary"
        return f"wave {self.current} of {self.total}"

    def wave_of(self, wo_id: int) -> int | None:
        for wave in self.waves:
            if wo_id in wave.work_orders:
                return wave.index
        return None


def progress(
    waves: Sequence[Sequence[int]],
    members: Mapping[int, Member],
    resumed_at: datetime | None,
) -> Progress:
    """Each wave's state and which work orders may start, from each one's status.

    A wave's turn comes when every earlier wave is verified; one unaccepted failure keeps
    every later wave waiting, whatever the stored rollout state says.
    """
    done = [all(accepted(members[i], resumed_at) for i in wave) for wave in waves]
    current = next((k for k, ok in enumerate(done) if not ok), len(waves) - 1)
    states = []
    for k, wave in enumerate(waves):
        if done[k]:
            state = WaveState.VERIFIED
        elif any(halts(members[i], resumed_at) for i in wave):
            state = WaveState.FAILED
        elif k == current:
            state = WaveState.RUNNING
        else:
            state = WaveState.WAITING
        states.append(WaveProgress(k, tuple(wave), state))
    started = frozenset(i for wave in waves[: current + 1] for i in wave)
    finished = all(m.status in FINAL for m in members.values())
    unsuccessful = sum(m.status in UNSUCCESSFUL for m in members.values())
    return Progress(tuple(states), current, started, finished, unsuccessful)


def effective_state(stored: RolloutState, members: Iterable[Member]) -> RolloutState:
    """The state to show: done once every work order is final (a request rejected as a
    whole ends its rollout too), else as stored."""
    if stored is RolloutState.ABORTED:
        return stored
    if all(m.status in FINAL for m in members):
        return RolloutState.DONE
    return stored


def halt_reason(work_order: str, connector: str, status: WorkOrderStatus, reason: str) -> str:
    """Why a rollout halted, naming the work order, its connector, its status and why."""
    why = f": {reason.strip()}" if reason.strip() else ""
    return f"{work_order} ({connector}) ended {status.value}{why}"


def resumed_status(
    halted_from: str | None, run_at: datetime | None, now: datetime
) -> WorkOrderStatus:
    """Where a Halted work order goes on Resume: back to Push-Scheduled while its time is
    still ahead, else Push In Progress without a lease (the scheduler takes it)."""
    if halted_from == WorkOrderStatus.SCHEDULED.value and run_at is not None and run_at > now:
        return WorkOrderStatus.SCHEDULED
    return WorkOrderStatus.PUSH_IN_PROGRESS


def check_decision(
    action: RolloutAction,
    state: RolloutState,
    actor: Actor,
    *,
    implement_role: str,
    requester: str,
    comment: str,
    label: str,
) -> RolloutState:
    """The state after ``actor`` resumes or aborts a rollout, or RolloutError saying why not.

    The same role rule as Implement (the policy's implement level, or admin). Resume
    pushes more of the change, so the four-eyes rule applies: the requester may not.
    Abort only stops it; a comment is needed for both.
    """
    verb = action.value.capitalize()
    if actor.role not in (implement_role, "admin"):
        raise RolloutError(
            f"{verb} needs the {implement_role} role; {actor.username} is {actor.role}"
        )
    if action is RolloutAction.RESUME and actor.username == requester:
        raise RolloutError(
            f"{actor.username} requested this push and cannot also resume its rollout "
            "(four-eyes policy)"
        )
    if not comment.strip():
        raise RolloutError(f"{verb} needs a comment saying why")
    if action is RolloutAction.RESUME:
        if state is not RolloutState.HALTED:
            raise RolloutStateError(f"{label} is {state.value}: only a halted rollout resumes")
        return RolloutState.RUNNING
    if state not in (RolloutState.RUNNING, RolloutState.HALTED):
        raise RolloutStateError(f"{label} is {state.value}: there is nothing left to abort")
    return RolloutState.ABORTED


def parse_request_id(text: str) -> int:
    """Accept "REQ-000012", "req-12" or "12"."""
    digits = text.strip().upper().removeprefix("REQ-")
    if not digits.isdigit() or int(digits) < 1:
        raise RolloutError(f"{text!r} is not a push request ID (REQ-000012)")
    return int(digits)
