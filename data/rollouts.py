"""Rollouts: a push request with several work orders goes canary first, then in waves.

The rules are pure (data/domain/rollout.py); this module keeps them as stored state:
the ``rollouts`` row of a request, its work orders' statuses, and the two hooks the
scheduler calls. ``may_start`` answers claim_due (data/workorders.py) before it takes a
due work order; ``after_end`` runs in the transaction that moved one to a final status,
and halts the rollout on an unsuccessful end. A person then resumes or aborts it.

Every change is a compare-and-set on ``rollouts.version`` (and on each work order's
``version``), with a work order event and an audit record, as in data/workorders.py.
data/workorders.py imports this module, so this one imports it only inside functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data import audit
from data.domain.errors import NotFound
from data.domain.rollout import (
    Member,
    Progress,
    RolloutAction,
    RolloutError,
    RolloutState,
    RolloutStateError,
    WaveState,
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
from data.domain.workflow import FINAL, Actor, WorkOrderStatus, request_id, work_order_id
from data.models import AuditEvent, Connector, PushRequest, Rollout, WorkOrder

SCHEDULER = "scheduler"
PAST_TENSE = {"resume": "resumed", "abort": "aborted"}

# Open work orders an abort cancels: not yet pushing (a Push In Progress work order
# without a lease is waiting for its wave; the scheduler has not taken it).
_ABORTABLE = frozenset(
    {
        WorkOrderStatus.APPROVAL_PENDING,
        WorkOrderStatus.REVIEW_IN_PROGRESS,
        WorkOrderStatus.SCHEDULED,
        WorkOrderStatus.HALTED,
    }
)


@dataclass(frozen=True)
class _Row:
    """A rollout's work order as read now (a Core select: never a stale ORM object)."""

    id: int
    connector: str
    status: WorkOrderStatus
    reason: str
    updated_at: datetime
    version: int
    halted_from: str | None
    run_at: datetime | None
    lease_owner: str | None

    @property
    def member(self) -> Member:
        return Member(self.id, self.status, self.updated_at)

    @property
    def waiting_to_run(self) -> bool:
        """Due or to be due, and not taken by the scheduler: a halt stops it here."""
        return self.status is WorkOrderStatus.SCHEDULED or (
            self.status is WorkOrderStatus.PUSH_IN_PROGRESS and self.lease_owner is None
        )


def _rows(session: Session, number: int) -> list[_Row]:
    found = session.execute(
        select(
            WorkOrder.id,
            Connector.name,
            WorkOrder.status,
            WorkOrder.reason,
            WorkOrder.updated_at,
            WorkOrder.version,
            WorkOrder.halted_from,
            WorkOrder.run_at,
            WorkOrder.lease_owner,
        )
        .join(Connector, Connector.id == WorkOrder.connector_id)
        .where(WorkOrder.request_id == number)
        .order_by(WorkOrder.id)
    ).all()
    return [
        _Row(r[0], r[1], WorkOrderStatus(r[2]), r[3] or "", r[4], r[5], r[6], r[7], r[8])
        for r in found
    ]


def _rollout(session: Session, number: int) -> Rollout | None:
    return session.get(Rollout, number, populate_existing=True)


def _progress(rollout: Rollout, rows: Sequence[_Row]) -> Progress:
    waves = plan_waves([r.id for r in rows], rollout.canary_work_order_id, rollout.wave_size)
    return progress(waves, {r.id: r.member for r in rows}, rollout.resumed_at)


def _number(request: int | str) -> int:
    return request if isinstance(request, int) else parse_request_id(request)


def _move(
    session: Session,
    row: _Row,
    to: WorkOrderStatus,
    *,
    actor: str,
    action: str,
    comment: str,
    now: datetime,
    **values: Any,
) -> bool:
    """One work order's transition for its rollout, exactly once (compare-and-set), with
    its history event and audit record; False when it changed meanwhile."""
    from data.workorders import _event

    changed = session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == row.id, WorkOrder.version == row.version)
        .values(
            status=to.value,
            version=row.version + 1,
            updated_at=now,
            lease_owner=None,
            lease_until=None,
            **values,
        )
    ).rowcount
    if changed:
        _event(session, row.id, actor=actor, action=action, before=row.status.value,
               after=to.value, comment=comment, now=now)  # fmt: skip
        audit.record(session, actor=actor, action=f"workorder.{action}", now=now,
                     target=work_order_id(row.id), detail=comment)  # fmt: skip
    return bool(changed)


def _halt(session: Session, row: _Row, label: str, reason: str, now: datetime) -> bool:
    """A work order due or waiting to run stops as Halted, remembering where it was."""
    note = f"rollout {label} halted: {reason}"
    return _move(session, row, WorkOrderStatus.HALTED, actor=SCHEDULER, action="halt",
                 comment=note, now=now, halted_from=row.status.value, reason=note)  # fmt: skip


def _set_rollout(session: Session, rollout: Rollout, now: datetime, **values: Any) -> bool:
    """Compare-and-set on the rollout's version; False when someone changed it first."""
    version = rollout.version
    return bool(
        session.execute(
            update(Rollout)
            .where(Rollout.request_id == rollout.request_id, Rollout.version == version)
            .values(version=version + 1, updated_at=now, **values)
        ).rowcount
    )


# ----- creating one


def create_rollout(
    session: Session,
    request_number: int,
    work_order_ids: Sequence[int],
    *,
    canary_connector: str | None = None,
    wave_size: int | None = None,
    now: datetime,
) -> RolloutView:
    """Make the request a rollout: its canary (the named connector, else the first one
    marked canary, else the first work order) and the size of the waves after it."""
    if len(work_order_ids) < 2:
        raise RolloutError("a rollout needs two work orders or more")
    found = {
        wo_id: (name, marked)
        for wo_id, name, marked in session.execute(
            select(WorkOrder.id, Connector.name, Connector.canary)
            .join(Connector, Connector.id == WorkOrder.connector_id)
            .where(WorkOrder.id.in_(work_order_ids))
        )
    }
    ordered = [(i, *found[i]) for i in work_order_ids]
    if canary_connector:
        chosen = [i for i, name, _ in ordered if name == canary_connector]
        if not chosen:
            names = ", ".join(name for _, name, _ in ordered)
            raise RolloutError(
                f"the canary {canary_connector} is not one of this request's connectors ({names})"
            )
        canary = chosen[0]
    else:
        canary = next((i for i, _, marked in ordered if marked), ordered[0][0])
    size = wave_size_for(len(ordered) - 1, wave_size)
    waves = plan_waves(list(work_order_ids), canary, size)
    session.add(
        Rollout(
            request_id=request_number,
            canary_work_order_id=canary,
            wave_size=size,
            state=RolloutState.RUNNING.value,
            reason="",
            updated_at=now,
            version=1,
        )
    )
    session.flush()
    requester = session.scalar(
        select(PushRequest.requester).where(PushRequest.id == request_number)
    )
    plan = "; ".join(
        ("canary " if k == 0 else f"wave {k}: ")
        + ", ".join(f"{work_order_id(i)} ({found[i][0]})" for i in wave)
        for k, wave in enumerate(waves)
    )
    audit.record(session, actor=requester or SCHEDULER, action="rollout.plan", now=now,
                 target=request_id(request_number),
                 detail=f"waves of at most {size}: {plan}")  # fmt: skip
    return rollout_view(session, request_number)


# ----- the scheduler's hooks


def may_start(
    session: Session, wo: WorkOrder, now: datetime, looked: dict[int, Any] | None = None
) -> bool:
    """Whether a due work order's turn in its rollout has come (always, without one).

    Its turn comes when every work order of the earlier waves ended Completed, was
    cancelled or rejected, or failed before the rollout was last resumed. A scheduled one
    due before its turn waits as Push In Progress without a lease. In a halted rollout it
    becomes Halted (Resume puts it back); in an aborted one it never starts.

    ``looked`` (one dict per claim_due pass) keeps each rollout read once per pass, not
    once per waiting work order: the moves made here (waiting work orders to Push In
    Progress or Halted) never change which wave's turn it is.
    """
    if looked is None:
        looked = {}
    if wo.request_id not in looked:
        found_rollout = _rollout(session, wo.request_id)
        looked[wo.request_id] = (
            (found_rollout, _rows(session, wo.request_id)) if found_rollout else (None, [])
        )
    rollout, rows = looked[wo.request_id]
    if rollout is None:
        return True
    state = RolloutState(rollout.state)
    if state is RolloutState.ABORTED:
        return False
    row = next((r for r in rows if r.id == wo.id), None)
    if row is None:
        return False
    label = request_id(wo.request_id)
    if state is RolloutState.HALTED:
        if row.waiting_to_run and _halt(session, row, label, rollout.reason, now):
            session.expire(wo)
        return False
    found = _progress(rollout, rows)
    if wo.id in found.may_start:
        return True
    if row.status is WorkOrderStatus.SCHEDULED and row.run_at is not None and row.run_at <= now:
        # Due, but an earlier wave is still going: it waits as an implemented push does,
        # so a long wave ahead of it never turns it into a "missed schedule".
        wave = found.waves[found.wave_of(row.id) or 0].name
        note = f"due; waits for its turn in rollout {label} ({wave})"
        if _move(session, row, WorkOrderStatus.PUSH_IN_PROGRESS, actor=SCHEDULER,
                 action="wait", comment=note, now=now):  # fmt: skip
            session.expire(wo)
    return False


def after_end(session: Session, wo_id: int, now: datetime) -> None:
    """Called in the transaction that moved a work order to a final status.

    An unsuccessful end (not accepted by an earlier Resume) halts a running rollout and
    every work order of it that is due or waiting to run; once all of its work orders
    are final the rollout is done.
    """
    number = session.scalar(select(WorkOrder.request_id).where(WorkOrder.id == wo_id))
    if number is None:
        return
    for _ in range(3):  # a person may resume or abort at this very moment: read again
        rollout = _rollout(session, number)
        if rollout is None:
            return
        state = RolloutState(rollout.state)
        if state in (RolloutState.ABORTED, RolloutState.DONE):
            return
        rows = _rows(session, number)
        ended = next((r for r in rows if r.id == wo_id), None)
        if ended is None or ended.status not in FINAL:
            return
        values: dict[str, Any] = {}
        halting = state is RolloutState.RUNNING and halts(ended.member, rollout.resumed_at)
        if halting:
            values = {
                "state": RolloutState.HALTED.value,
                "reason": halt_reason(
                    work_order_id(ended.id), ended.connector, ended.status, ended.reason
                ),
            }
        if all(r.status in FINAL for r in rows):
            values["state"] = RolloutState.DONE.value
        if not values:
            return
        if not _set_rollout(session, rollout, now, **values):
            continue
        label = request_id(number)
        if halting:
            audit.record(session, actor=SCHEDULER, action="rollout.halt", now=now,
                         target=label, detail=values["reason"])  # fmt: skip
            halted = 0
            for row in rows:
                if row.waiting_to_run:
                    halted += _halt(session, row, label, values["reason"], now)
            _tell_halt(session, ended.id, label, values["reason"], halted, now)
        if values["state"] == RolloutState.DONE.value:
            audit.record(session, actor=SCHEDULER, action="rollout.done", now=now,
                         target=label, detail=_summary(rows))  # fmt: skip
        session.flush()
        return


def _tell_halt(
    session: Session, wo_id: int, label: str, reason: str, halted: int, now: datetime
) -> None:
    """One event for the halt of a whole rollout (not one per work order it stopped)."""
    from data import notifications
    from data.domain.notifications import EventKind, Relevance

    payload, requester, _levels = notifications.work_order_payload(session, wo_id)
    payload.update(event=EventKind.ROLLOUT_HALTED.value, rollout=label, reason=reason,
                   halted=halted, actor=SCHEDULER, at=now.isoformat())  # fmt: skip
    notifications.emit(session, EventKind.ROLLOUT_HALTED, now=now, payload=payload,
                       actor=SCHEDULER, work_order=wo_id,
                       audience={requester: Relevance.REQUESTER})  # fmt: skip


def _summary(rows: Sequence[_Row]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


# ----- reading one


@dataclass(frozen=True)
class RolloutMember:
    """One work order of a rollout, with its connector and wave."""

    id: int
    connector: str
    status: WorkOrderStatus
    reason: str
    wave: int  # 0: the canary

    @property
    def label(self) -> str:
        return work_order_id(self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.label,
            "connector": self.connector,
            "status": self.status.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RolloutWave:
    index: int
    state: WaveState
    work_orders: tuple[RolloutMember, ...]

    @property
    def name(self) -> str:
        return "canary" if self.index == 0 else f"wave {self.index}"


@dataclass(frozen=True)
class RolloutView:
    """A rollout as the topology, the CLI and the API show it."""

    request_number: int
    requester: str
    state: RolloutState  # as shown: done once every work order is final
    reason: str
    wave_size: int
    canary: RolloutMember
    waves: tuple[RolloutWave, ...]
    current: int  # the wave whose turn it is (0: the canary)
    progress: str  # "canary", "wave k of n", "completed", "ended with failures"
    resumed_at: datetime | None
    updated_at: datetime
    version: int

    @property
    def label(self) -> str:
        return request_id(self.request_number)

    @property
    def wave_count(self) -> int:
        """How many waves follow the canary (the n of "wave k of n")."""
        return len(self.waves) - 1

    @property
    def members(self) -> tuple[RolloutMember, ...]:
        return tuple(m for wave in self.waves for m in wave.work_orders)

    @property
    def title(self) -> str:
        """The panel's heading, e.g. Rollout REQ-000012: wave 1 of 3 (halted)."""
        tail = "" if self.state in (RolloutState.RUNNING, RolloutState.DONE) else self.state.value
        return f"Rollout {self.label}: {self.progress}" + (f" ({tail})" if tail else "")

    def to_json(self) -> dict[str, Any]:
        """The documented shape of ``certpush rollouts show REQ --json``."""
        return {
            "request_id": self.label,
            "requester": self.requester,
            "state": self.state.value,
            "reason": self.reason,
            "progress": self.progress,
            "current_wave": self.current,
            "wave_count": self.wave_count,
            "wave_size": self.wave_size,
            "canary": self.canary.label,
            "resumed_at": self.resumed_at.isoformat() if self.resumed_at else None,
            "updated_at": self.updated_at.isoformat(),
            "waves": [
                {
                    "wave": wave.index,
                    "name": wave.name,
                    "state": wave.state.value,
                    "work_orders": [m.to_json() for m in wave.work_orders],
                }
                for wave in self.waves
            ],
        }


def rollout_view(session: Session, request: int | str) -> RolloutView:
    """The rollout of a request ("REQ-000012", "req-12", "12" or its number), or NotFound."""
    number = _number(request)
    label = request_id(number)
    requester = session.scalar(select(PushRequest.requester).where(PushRequest.id == number))
    if requester is None:
        raise NotFound(f"no push request {label}")
    rollout = _rollout(session, number)
    if rollout is None:
        raise NotFound(f"{label} is not a rollout: it has a single work order")
    rows = _rows(session, number)
    found = _progress(rollout, rows)
    by_id = {r.id: r for r in rows}

    def member(wo_id: int, wave: int) -> RolloutMember:
        r = by_id[wo_id]
        return RolloutMember(r.id, r.connector, r.status, r.reason, wave)

    waves = tuple(
        RolloutWave(w.index, w.state, tuple(member(i, w.index) for i in w.work_orders))
        for w in found.waves
    )
    return RolloutView(
        request_number=number,
        requester=requester,
        state=effective_state(RolloutState(rollout.state), [r.member for r in rows]),
        reason=rollout.reason,
        wave_size=rollout.wave_size,
        canary=waves[0].work_orders[0],
        waves=waves,
        current=found.current,
        progress=found.label(),
        resumed_at=rollout.resumed_at,
        updated_at=rollout.updated_at,
        version=rollout.version,
    )


def latest_rollout(session: Session, certificate_id: int) -> RolloutView | None:
    """The rollout of the certificate's newest push request, when that request is one."""
    newest = session.scalar(
        select(PushRequest.id)
        .where(PushRequest.certificate_id == certificate_id)
        .order_by(PushRequest.id.desc())
        .limit(1)
    )
    if newest is None or session.get(Rollout, newest) is None:
        return None
    return rollout_view(session, newest)


# ----- a person's decision on a halted rollout


@dataclass(frozen=True)
class RolloutResult:
    """What happened when someone resumed or aborted: ``ok`` and the message either way."""

    ok: bool
    message: str
    rollout: RolloutView | None = None


def _who_won(session: Session, label: str) -> str | None:
    last = session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.target == label,
            AuditEvent.action.in_(["rollout.resume", "rollout.abort"]),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if last is None:
        return None
    verb = PAST_TENSE[last.action.removeprefix("rollout.")]
    return f"already {verb} by {last.actor} at {last.at:%Y-%m-%d %H:%M:%S} UTC"


def resume(
    session: Session, request: int | str, *, actor: Actor, comment: str, now: datetime
) -> RolloutResult:
    """Resume a halted rollout: the failures so far are accepted (they ended before now)
    and every Halted work order goes back to what it was (a Push-Scheduled one whose time
    has passed to Push In Progress, for the scheduler to take)."""
    return _decide(session, request, RolloutAction.RESUME, actor=actor, comment=comment, now=now)


def abort(
    session: Session, request: int | str, *, actor: Actor, comment: str, now: datetime
) -> RolloutResult:
    """Abort a rollout: its Halted and still-open work orders are cancelled; those the
    scheduler is running finish (a device change cannot be recalled midway)."""
    return _decide(session, request, RolloutAction.ABORT, actor=actor, comment=comment, now=now)


def available_decisions(
    session: Session, view: RolloutView, actor: Actor
) -> frozenset[RolloutAction]:
    """Which of Resume and Abort ``actor`` could choose on ``view`` now (a dry run of
    the rule ``resume``/``abort`` apply): the page shows only those buttons."""
    from data.workorders import load_policy

    role = load_policy(session).levels[-1].role
    found = set()
    for action in RolloutAction:
        try:
            check_decision(action, view.state, actor, implement_role=role,
                           requester=view.requester, comment="availability check",
                           label=view.label)  # fmt: skip
        except RolloutError:
            continue
        found.add(action)
    return frozenset(found)


def _refused(session: Session, actor: Actor, action: RolloutAction, label: str, message: str,
             now: datetime, kind: str = "refused") -> RolloutResult:  # fmt: skip
    audit.record(session, actor=actor.username, action=f"rollout.{action.value}.{kind}",
                 now=now, target=label, detail=message)  # fmt: skip
    return RolloutResult(False, message)


def _decide(
    session: Session,
    request: int | str,
    action: RolloutAction,
    *,
    actor: Actor,
    comment: str,
    now: datetime,
) -> RolloutResult:
    from data.workorders import load_policy

    try:
        number = _number(request)
    except RolloutError as exc:
        return RolloutResult(False, str(exc))
    label = request_id(number)
    rollout = _rollout(session, number)
    if rollout is None:
        return _refused(session, actor, action, label, f"{label} is not a rollout", now)
    requester = session.scalar(select(PushRequest.requester).where(PushRequest.id == number))
    rows = _rows(session, number)
    state = effective_state(RolloutState(rollout.state), [r.member for r in rows])
    try:
        target = check_decision(
            action,
            state,
            actor,
            implement_role=load_policy(session).levels[-1].role,
            requester=requester or "",
            comment=comment,
            label=label,
        )
    except RolloutError as exc:
        message = str(exc)
        won = _who_won(session, label) if isinstance(exc, RolloutStateError) else None
        if won:
            message = f"{label} was {won}; your {action.value} was not applied"
        return _refused(session, actor, action, label, message, now)
    note = comment.strip()
    values: dict[str, Any] = {"state": target.value}
    if action is RolloutAction.RESUME:
        values.update(resumed_at=now, reason="")
    else:
        values["reason"] = f"aborted by {actor.username}: {note}"
    if not _set_rollout(session, rollout, now, **values):
        won = _who_won(session, label) or "changed by someone else first"
        message = f"{label} was {won}; your {action.value} was not applied"
        return _refused(session, actor, action, label, message, now, kind="lost")
    moved = []
    for row in _rows(session, number):
        if action is RolloutAction.RESUME and row.status is WorkOrderStatus.HALTED:
            to = resumed_status(row.halted_from, row.run_at, now)
            why = f"rollout {label} resumed by {actor.username}: {note}"
            if _move(session, row, to, actor=actor.username, action="rollout_resume", comment=why,
                     now=now, halted_from=None, reason=""):  # fmt: skip
                moved.append(f"{work_order_id(row.id)} is {to.value} again")
        elif action is RolloutAction.ABORT and (row.status in _ABORTABLE or row.waiting_to_run):
            why = f"rollout {label} aborted by {actor.username}: {note}"
            if _move(session, row, WorkOrderStatus.CANCELLED, actor=actor.username,
                     action="cancel", comment=why, now=now, halted_from=None,
                     reason=why):  # fmt: skip
                moved.append(work_order_id(row.id))
    verb = PAST_TENSE[action.value]
    detail = note + (f"; {', '.join(moved)}" if moved else "")
    audit.record(session, actor=actor.username, action=f"rollout.{action.value}", now=now,
                 target=label, detail=detail)  # fmt: skip
    session.flush()
    if action is RolloutAction.RESUME:
        tail = f": {', '.join(moved)}" if moved else ""
    else:
        tail = f": cancelled {', '.join(moved)}" if moved else ": nothing was left to cancel"
    return RolloutResult(True, f"{label} {verb}{tail}", rollout_view(session, number))
