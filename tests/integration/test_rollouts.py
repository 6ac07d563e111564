"""Rollouts on real databases: a request with several work orders goes canary first, then in
waves; a failure halts it until an implementer resumes or aborts it.

The scheduler's half (pushing, verifying, rolling back) is simulated here: a work order's
end is an UPDATE of its status followed by ``after_end``, as the push job calls it in the
same transaction; what the scheduler may take is asked of ``may_start`` the way claim_due
asks it.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from data.connectors import add_connector, bind
from data.db import session_scope
from data.domain.errors import NotFound
from data.domain.rollout import RolloutError, RolloutState, WaveState
from data.domain.workflow import Action, Actor, WorkOrderStatus
from data.importer import import_paths
from data.models import (
    AuditEvent,
    Connector,
    NotificationEvent,
    Rollout,
    WorkOrder,
    WorkOrderEvent,
)
from data.rollouts import abort, after_end, may_start, resume, rollout_view
from data.users import add_user
from data.workorders import act, claim_due, get_work_order, history, request_push
from tests.cli_auth import stdin_for
from tests.servers import make_cert_files

S = WorkOrderStatus
OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")
IVAN = Actor("ivan", "implementer")
MAYA = Actor("maya", "manager")
ADAM = Actor("adam", "admin")
PEOPLE = (OLIVIA, RAVI, INES, IVAN, MAYA, ADAM)
PASSWORD = "long-password"
DEVICES = ("dev-a", "dev-b", "dev-c")


@pytest.fixture
def t0() -> datetime:
    """The tests' clock starts now (the certificates are valid from now), then is moved
    explicitly: every service is given its time."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def fingerprint(settings, vault, tmp_path, t0) -> str:
    """Users of every role, a certificate with its key and three local connectors bound."""
    cert, key, fp = make_cert_files(tmp_path / "inventory", "rollout.example")
    with session_scope(settings.database_url) as db:
        for actor in PEOPLE:
            add_user(db, actor.username, actor.role, PASSWORD, t0)
        import_paths(db, vault, [cert, key], now=t0, actor="t")
        for name in DEVICES:
            add_connector(
                db, vault, name=name, type_name="local", actor="t", role="admin", now=t0,
                settings={"profile": "test-files", "cert_path": str(tmp_path / f"{name}.crt"),
                          "key_path": str(tmp_path / f"{name}.key")},
            )  # fmt: skip
            bind(db, name, fp, actor="t", now=t0)
    return fp


def implemented_rollout(settings, fp, t0, requester=OLIVIA, **kwargs) -> tuple[int, list[int]]:
    """A request through every connector, approved and implemented now: (request, WO ids)."""
    with session_scope(settings.database_url) as db:
        label, orders = request_push(db, fp, actor=requester, now=t0, comment="renewal", **kwargs)
        for wo in orders:
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=t0).ok
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=t0).ok
    return int(label.removeprefix("REQ-")), [wo.id for wo in orders]


def startable(settings, wo_ids, now) -> list[int]:
    """What the scheduler may take now, asked the way claim_due asks (one transaction)."""
    with session_scope(settings.database_url) as db:
        due = db.scalars(
            select(WorkOrder)
            .where(WorkOrder.id.in_(wo_ids), WorkOrder.lease_owner.is_(None))
            .where(WorkOrder.status.in_([S.PUSH_IN_PROGRESS.value, S.SCHEDULED.value]))
            .order_by(WorkOrder.id)
        ).all()
        return [
            wo.id
            for wo in due
            if (wo.status == S.PUSH_IN_PROGRESS.value or wo.run_at <= now)
            and may_start(db, wo, now)
        ]


def end(settings, wo_id: int, status: S, at: datetime, reason: str = "") -> None:
    """The scheduler ends a work order: its final status, and the hook in the same
    transaction."""
    with session_scope(settings.database_url) as db:
        wo = db.get(WorkOrder, wo_id)
        db.execute(
            update(WorkOrder)
            .where(WorkOrder.id == wo_id)
            .values(status=status.value, reason=reason, version=wo.version + 1, updated_at=at,
                    pushed_at=at, lease_owner=None, lease_until=None)
        )  # fmt: skip
        after_end(db, wo_id, at)


def status_of(settings, wo_id: int) -> S:
    with session_scope(settings.database_url) as db:
        return get_work_order(db, wo_id).status


def view(settings, request):
    with session_scope(settings.database_url) as db:
        return rollout_view(db, request)


# ----- what a rollout is


def test_a_request_with_several_work_orders_is_a_rollout(settings, fingerprint, t0):
    with session_scope(settings.database_url) as db:
        label, orders = request_push(db, fingerprint, actor=OLIVIA, now=t0)
        plan = db.scalar(select(AuditEvent).where(AuditEvent.action == "rollout.plan"))
    a, b, c = orders
    got = view(settings, label)
    assert (got.label, got.state, got.wave_size, got.canary.label) == (
        label, RolloutState.RUNNING, 1, a.label
    )  # fmt: skip
    assert [[m.connector for m in w.work_orders] for w in got.waves] == [
        ["dev-a"], ["dev-b"], ["dev-c"]
    ]  # fmt: skip
    assert got.progress == "canary" and got.title == f"Rollout {label}: canary"
    assert [w.state for w in got.waves] == [WaveState.RUNNING, WaveState.WAITING,
                                            WaveState.WAITING]  # fmt: skip
    assert plan.actor == "olivia" and plan.target == label
    assert plan.detail == (
        f"waves of at most 1: canary {a.label} (dev-a); wave 1: {b.label} (dev-b); "
        f"wave 2: {c.label} (dev-c)"
    )
    as_json = got.to_json()
    assert as_json["request_id"] == label and as_json["progress"] == "canary"
    assert (as_json["current_wave"], as_json["wave_count"], as_json["state"]) == (0, 2, "running")
    assert as_json["waves"][1] == {
        "wave": 1, "name": "wave 1", "state": "waiting",
        "work_orders": [{"id": b.label, "connector": "dev-b",
                         "status": "Push-Approval Pending", "reason": ""}],
    }  # fmt: skip
    number = int(label.removeprefix("REQ-"))
    for spelling in (f"req-{number}", str(number), number):
        assert view(settings, spelling).label == label


def test_the_canary_is_the_named_connector_else_the_marked_one(settings, fingerprint, t0):
    with session_scope(settings.database_url) as db:
        _, named = request_push(db, fingerprint, actor=OLIVIA, now=t0, canary="dev-c",
                                wave_size=2)  # fmt: skip
        db.execute(update(Connector).where(Connector.name == "dev-b").values(canary=True))
        marked_label, _ = request_push(db, fingerprint, actor=OLIVIA, now=t0)
    got = view(settings, named[0].request_label)
    assert [[m.connector for m in w.work_orders] for w in got.waves] == [
        ["dev-c"], ["dev-a", "dev-b"]
    ]  # fmt: skip
    assert got.wave_size == 2 and got.progress == "canary"
    assert view(settings, marked_label).canary.connector == "dev-b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"canary": "dev-x"}, "the canary dev-x is not one of this request's connectors"),
        ({"wave_size": 0}, "a wave holds at least 1 connector"),
    ],
)
def test_a_bad_canary_or_wave_size_is_refused(settings, fingerprint, t0, kwargs, message):
    with pytest.raises(RolloutError, match=message), session_scope(settings.database_url) as db:
        request_push(db, fingerprint, actor=OLIVIA, now=t0, **kwargs)
    with session_scope(settings.database_url) as db:  # nothing of it was kept
        assert db.scalar(select(WorkOrder.id)) is None


def test_a_single_work_order_is_no_rollout(settings, fingerprint, t0):
    with session_scope(settings.database_url) as db:
        label, [wo] = request_push(db, fingerprint, actor=OLIVIA, now=t0, connectors=["dev-b"])
        assert db.get(Rollout, wo.request_number) is None
        with pytest.raises(NotFound, match="is not a rollout"):
            rollout_view(db, label)
        with pytest.raises(NotFound, match="no push request REQ-000099"):
            rollout_view(db, "REQ-000099")
        assert may_start(db, db.get(WorkOrder, wo.id), t0)


# ----- waves in turn


def test_each_wave_starts_only_once_the_earlier_ones_ended_well(settings, fingerprint, t0):
    request, (a, b, c) = implemented_rollout(settings, fingerprint, t0)
    assert [status_of(settings, i) for i in (a, b, c)] == [S.PUSH_IN_PROGRESS] * 3
    assert startable(settings, [a, b, c], t0) == [a]  # the canary alone
    end(settings, a, S.COMPLETED, t0 + timedelta(seconds=30))
    assert view(settings, request).progress == "wave 1 of 2"
    assert startable(settings, [b, c], t0 + timedelta(seconds=31)) == [b]
    with session_scope(settings.database_url) as db:  # verifying: not ended yet
        db.execute(update(WorkOrder).where(WorkOrder.id == b).values(status=S.VERIFYING.value))
    assert startable(settings, [c], t0 + timedelta(seconds=40)) == []
    end(settings, b, S.COMPLETED, t0 + timedelta(seconds=60))
    assert startable(settings, [c], t0 + timedelta(seconds=61)) == [c]
    assert view(settings, request).progress == "wave 2 of 2"
    end(settings, c, S.COMPLETED, t0 + timedelta(seconds=90))
    done = view(settings, request)
    assert (done.state, done.progress) == (RolloutState.DONE, "completed")
    assert [w.state for w in done.waves] == [WaveState.VERIFIED] * 3
    with session_scope(settings.database_url) as db:
        assert db.get(Rollout, request).state == "done"
        finished = db.scalar(select(AuditEvent).where(AuditEvent.action == "rollout.done"))
        assert finished.detail == "3 Completed"


def test_a_cancelled_work_order_does_not_hold_its_wave_back(settings, fingerprint, t0):
    with session_scope(settings.database_url) as db:
        _, (a, b, c) = request_push(db, fingerprint, actor=OLIVIA, now=t0)
        for wo in (a, b, c):
            act(db, wo.id, Action.APPROVE, actor=RAVI, now=t0)
        later = t0 + timedelta(hours=1)
        for wo in (b, c):  # the canary still waits for its implementer
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=t0, manual=False,
                       at=later).ok  # fmt: skip
    assert startable(settings, [b.id, c.id], later) == []
    with session_scope(settings.database_url) as db:
        assert act(db, a.id, Action.CANCEL, actor=INES, now=t0, comment="not this one").ok
    assert startable(settings, [b.id, c.id], later) == [b.id]


# ----- a failure halts it


def test_a_canary_failure_halts_the_rollout_and_its_waiting_work_orders(settings, fingerprint, t0):
    with session_scope(settings.database_url) as db:
        label, (a, b, c) = request_push(db, fingerprint, actor=OLIVIA, now=t0)
        for wo in (a, b, c):
            act(db, wo.id, Action.APPROVE, actor=RAVI, now=t0)
        later = t0 + timedelta(hours=2)
        act(db, a.id, Action.IMPLEMENT, actor=INES, now=t0)
        act(db, b.id, Action.IMPLEMENT, actor=INES, now=t0, manual=False, at=later)
        # c is still in review when the canary fails
    failed_at = t0 + timedelta(seconds=40)
    end(settings, a.id, S.ROLLED_BACK, failed_at, "served the old certificate")
    halted = view(settings, label)
    assert halted.state is RolloutState.HALTED
    assert halted.reason == f"{a.label} (dev-a) ended Rolled Back: served the old certificate"
    assert halted.title == f"Rollout {label}: canary (halted)"
    assert [w.state for w in halted.waves] == [WaveState.FAILED, WaveState.WAITING,
                                               WaveState.WAITING]  # fmt: skip
    with session_scope(settings.database_url) as db:
        stopped = db.get(WorkOrder, b.id)
        assert (stopped.status, stopped.halted_from) == (S.HALTED.value, S.SCHEDULED.value)
        assert stopped.run_at == later  # kept for Resume
        assert get_work_order(db, c.id).status is S.REVIEW_IN_PROGRESS
        last = history(db, b.id)[-1]
        assert (last.actor, last.action, last.from_status, last.to_status) == (
            "scheduler", "halt", "Push-Scheduled", "Halted"
        )  # fmt: skip
        assert last.comment == f"rollout {label} halted: {halted.reason}"
        actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.at == failed_at)))
        assert {"rollout.halt", "workorder.halt"} <= actions
        # One notification for the rollout's halt, not one per work order it stopped.
        told = db.scalars(
            select(NotificationEvent).where(NotificationEvent.kind == "rollout_halted")
        ).all()
        assert len(told) == 1 and told[0].work_order_id == a.id
        said = json.loads(told[0].payload)
        assert (said["rollout"], said["halted"], said["requester"]) == (label, 1, "olivia")
        assert said["reason"] == halted.reason
        # c is implemented while the rollout is halted: it stops as soon as it is due
        assert act(db, c.id, Action.IMPLEMENT, actor=IVAN, now=failed_at).ok
    assert startable(settings, [b.id, c.id], later + timedelta(minutes=1)) == []
    assert status_of(settings, c.id) is S.HALTED
    with session_scope(settings.database_url) as db:
        assert db.get(WorkOrder, c.id).halted_from == S.PUSH_IN_PROGRESS.value


def test_a_work_order_the_scheduler_is_running_is_left_to_finish(settings, fingerprint, t0):
    request, (a, b, c) = implemented_rollout(settings, fingerprint, t0, wave_size=2)
    end(settings, a, S.COMPLETED, t0 + timedelta(seconds=10))
    with session_scope(settings.database_url) as db:  # the scheduler took b and c
        db.execute(update(WorkOrder).where(WorkOrder.id.in_([b, c]))
                   .values(lease_owner="s", lease_until=t0 + timedelta(minutes=5)))  # fmt: skip
    end(settings, b, S.FAILED_VERIFICATION, t0 + timedelta(seconds=20), "mismatch")
    assert view(settings, request).state is RolloutState.HALTED
    assert status_of(settings, c) is S.PUSH_IN_PROGRESS  # it cannot be recalled midway
    end(settings, c, S.COMPLETED, t0 + timedelta(seconds=30))
    over = view(settings, request)  # nothing is left to resume
    assert (over.state, over.progress) == (RolloutState.DONE, "ended with failures")
    assert over.reason.startswith(f"WO-{b:06d} (dev-b) ended Failed Verification")


def test_a_failure_of_the_last_wave_ends_the_rollout(settings, fingerprint, t0):
    request, (a, b) = implemented_rollout(settings, fingerprint, t0, connectors=DEVICES[:2])
    end(settings, a, S.COMPLETED, t0 + timedelta(seconds=10))
    end(settings, b, S.FAILED, t0 + timedelta(seconds=20), "permission denied")
    over = view(settings, request)
    assert (over.state, over.progress) == (RolloutState.DONE, "ended with failures")
    assert over.reason == f"WO-{b:06d} (dev-b) ended Failed: permission denied"


# ----- resume and abort


def test_resume_accepts_the_failure_and_continues(settings, fingerprint, t0):
    request, (a, b, c) = implemented_rollout(settings, fingerprint, t0)
    with session_scope(settings.database_url) as db:  # c was rescheduled for later
        db.execute(update(WorkOrder).where(WorkOrder.id == c)
                   .values(status=S.SCHEDULED.value, run_at=t0 + timedelta(hours=3)))  # fmt: skip
    end(settings, a, S.FAILED, t0 + timedelta(seconds=10), "timeout")
    assert [status_of(settings, i) for i in (b, c)] == [S.HALTED, S.HALTED]
    assert startable(settings, [a, b, c], t0 + timedelta(minutes=1)) == []
    at = t0 + timedelta(minutes=5)
    with session_scope(settings.database_url) as db:
        result = resume(db, f"req-{request}", actor=INES, comment="dev-a was down", now=at)
    assert result.ok, result.message
    assert result.message == (
        f"REQ-{request:06d} resumed: WO-{b:06d} is Push In Progress again, "
        f"WO-{c:06d} is Push-Scheduled again"
    )
    resumed = result.rollout
    assert (resumed.state, resumed.resumed_at, resumed.reason) == (RolloutState.RUNNING, at, "")
    assert resumed.progress == "wave 1 of 2"
    with session_scope(settings.database_url) as db:
        back = db.get(WorkOrder, b)
        assert (back.halted_from, back.lease_owner, back.reason) == (None, None, "")
        last = history(db, b)[-1]
        assert (last.actor, last.action, last.to_status) == ("ines", "rollout_resume",
                                                              "Push In Progress")  # fmt: skip
        assert db.get(WorkOrder, c).run_at == t0 + timedelta(hours=3)
        assert db.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == "rollout.resume")
        ).startswith("dev-a was down; ")
    assert startable(settings, [b, c], at) == [b]
    end(settings, b, S.ROLLBACK_FAILED, at + timedelta(seconds=30), "tls_error")  # again
    again = view(settings, request)
    assert again.state is RolloutState.HALTED and again.reason.startswith(f"WO-{b:06d}")
    assert status_of(settings, c) is S.HALTED


def test_a_scheduled_work_order_past_its_time_resumes_as_due(settings, fingerprint, t0):
    request, (a, b, _c) = implemented_rollout(settings, fingerprint, t0)
    with session_scope(settings.database_url) as db:
        db.execute(update(WorkOrder).where(WorkOrder.id == b)
                   .values(status=S.SCHEDULED.value, run_at=t0 + timedelta(minutes=1)))  # fmt: skip
    end(settings, a, S.FAILED, t0 + timedelta(seconds=10))
    with session_scope(settings.database_url) as db:
        assert resume(db, request, actor=ADAM, comment="go", now=t0 + timedelta(hours=1)).ok
        assert get_work_order(db, b).status is S.PUSH_IN_PROGRESS


def test_abort_cancels_what_is_left(settings, fingerprint, t0):
    with session_scope(settings.database_url) as db:
        label, (a, b, c) = request_push(db, fingerprint, actor=OLIVIA, now=t0)
        for wo in (a, b):
            act(db, wo.id, Action.APPROVE, actor=RAVI, now=t0)
            act(db, wo.id, Action.IMPLEMENT, actor=INES, now=t0)
    end(settings, a.id, S.FAILED, t0 + timedelta(seconds=10))
    at = t0 + timedelta(minutes=2)
    with session_scope(settings.database_url) as db:
        result = abort(db, label, actor=IVAN, comment="wrong chain", now=at)
    assert result.ok, result.message
    assert result.message == f"{label} aborted: cancelled {b.label}, {c.label}"
    assert result.rollout.state is RolloutState.ABORTED
    assert result.rollout.reason == "aborted by ivan: wrong chain"
    assert [status_of(settings, wo.id) for wo in (a, b, c)] == [S.FAILED, S.CANCELLED,
                                                                S.CANCELLED]  # fmt: skip
    with session_scope(settings.database_url) as db:
        last = history(db, c.id)[-1]
        assert (last.actor, last.action, last.from_status) == ("ivan", "cancel",
                                                               "Push-Approval Pending")  # fmt: skip
        assert last.comment == f"rollout {label} aborted by ivan: wrong chain"
        assert rollout_view(db, label).state is RolloutState.ABORTED
        again = resume(db, label, actor=INES, comment="oops", now=at)
    assert not again.ok
    assert again.message == (
        f"{label} was already aborted by ivan at {at:%Y-%m-%d %H:%M:%S} UTC; "
        "your resume was not applied"
    )


def test_an_aborted_rollout_starts_nothing(settings, fingerprint, t0):
    request, (a, b, c) = implemented_rollout(settings, fingerprint, t0)
    with session_scope(settings.database_url) as db:  # a running rollout may be aborted
        assert abort(db, request, actor=INES, comment="stop", now=t0).ok
    assert [status_of(settings, i) for i in (a, b, c)] == [S.CANCELLED] * 3
    with session_scope(settings.database_url) as db:  # a straggler put back by hand
        db.execute(update(WorkOrder).where(WorkOrder.id == b)
                   .values(status=S.PUSH_IN_PROGRESS.value))  # fmt: skip
    assert startable(settings, [b], t0) == []


@pytest.mark.parametrize(
    ("who", "action", "message"),
    [
        (OLIVIA, "resume", "Resume needs the implementer role; olivia is operator"),
        (RAVI, "resume", "Resume needs the implementer role; ravi is reviewer"),
        (MAYA, "abort", "Abort needs the implementer role; maya is manager"),
        (OLIVIA, "abort", "Abort needs the implementer role; olivia is operator"),
    ],
)
def test_only_implementers_and_admins_decide(settings, fingerprint, t0, who, action, message):
    request, (a, b, _c) = implemented_rollout(settings, fingerprint, t0)
    end(settings, a, S.FAILED, t0 + timedelta(seconds=10))
    decide = resume if action == "resume" else abort
    with session_scope(settings.database_url) as db:
        result = decide(db, request, actor=who, comment="please", now=t0 + timedelta(minutes=1))
    assert (result.ok, result.message) == (False, message)
    assert view(settings, request).state is RolloutState.HALTED
    assert status_of(settings, b) is S.HALTED
    with session_scope(settings.database_url) as db:
        refused = db.scalar(select(AuditEvent).where(AuditEvent.action.like("rollout.%.refused")))
        assert (refused.actor, refused.detail) == (who.username, message)


def test_four_eyes_the_requester_may_abort_but_not_resume(settings, fingerprint, t0):
    request, (a, _b, _c) = implemented_rollout(settings, fingerprint, t0, requester=ADAM)
    end(settings, a, S.FAILED, t0 + timedelta(seconds=10))
    at = t0 + timedelta(minutes=1)
    with session_scope(settings.database_url) as db:
        mine = resume(db, request, actor=ADAM, comment="mine", now=at)
        empty = resume(db, request, actor=INES, comment="  ", now=at)
    assert not mine.ok and "four-eyes" in mine.message
    assert not empty.ok and empty.message == "Resume needs a comment saying why"
    with session_scope(settings.database_url) as db:
        assert abort(db, request, actor=ADAM, comment="mine, stopping it", now=at).ok


def test_two_people_at_once_make_one_decision(settings, fingerprint, t0):
    request, (a, b, _c) = implemented_rollout(settings, fingerprint, t0)
    end(settings, a, S.FAILED, t0 + timedelta(seconds=10))
    barrier = threading.Barrier(2)
    results = {}
    at = t0 + timedelta(minutes=1)

    def decide(actor: Actor, how) -> None:
        with session_scope(settings.database_url) as db:
            barrier.wait()
            results[actor.username] = how(db, request, actor=actor, comment="mine", now=at)

    threads = [threading.Thread(target=decide, args=a) for a in ((INES, resume), (IVAN, abort))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.ok for r in results.values()) == [False, True]
    winner = next(name for name, r in results.items() if r.ok)
    loser = next(r for r in results.values() if not r.ok)
    verb = "resumed" if winner == "ines" else "aborted"
    assert f"was already {verb} by {winner} at" in loser.message
    expected = S.PUSH_IN_PROGRESS if winner == "ines" else S.CANCELLED
    assert status_of(settings, b) is expected
    with session_scope(settings.database_url) as db:
        events = db.scalars(select(WorkOrderEvent.action).where(WorkOrderEvent.work_order_id == b))
        assert list(events).count("halt") == 1


# ----- the scheduler's claim_due


def test_claim_due_takes_each_wave_in_turn_and_nothing_while_halted(settings, fingerprint, t0):
    request, (a, b, c) = implemented_rollout(settings, fingerprint, t0)

    def claim(at: datetime) -> list[int]:
        with session_scope(settings.database_url) as db:
            return claim_due(db, owner="s", now=at, grace=timedelta(hours=1),
                             lease=timedelta(minutes=5), limit=10)  # fmt: skip

    assert claim(t0) == [a]
    assert claim(t0 + timedelta(seconds=5)) == []
    end(settings, a, S.FAILED, t0 + timedelta(seconds=10))
    assert claim(t0 + timedelta(seconds=15)) == []
    assert [status_of(settings, i) for i in (b, c)] == [S.HALTED, S.HALTED]
    with session_scope(settings.database_url) as db:
        assert resume(db, request, actor=INES, comment="go", now=t0 + timedelta(minutes=1)).ok
    assert claim(t0 + timedelta(minutes=1, seconds=1)) == [b]
    end(settings, b, S.COMPLETED, t0 + timedelta(minutes=2))
    assert claim(t0 + timedelta(minutes=2, seconds=1)) == [c]


def test_waiting_work_orders_never_crowd_the_canary_out(settings, fingerprint, t0):
    """Later waves' work orders are due too; however few claim_due may take at once, the
    canary's turn is never lost behind them (here it is the last connector)."""
    _request, (a, b, c) = implemented_rollout(settings, fingerprint, t0, canary="dev-c")
    with session_scope(settings.database_url) as db:
        claimed = claim_due(db, owner="s", now=t0, grace=timedelta(hours=1),
                            lease=timedelta(minutes=5), limit=1)  # fmt: skip
    assert claimed == [c]
    assert [status_of(settings, i) for i in (a, b)] == [S.PUSH_IN_PROGRESS] * 2


def test_a_scheduled_wave_waiting_for_the_one_before_is_not_a_missed_schedule(
    settings, fingerprint, t0
):
    """Waiting for an earlier wave is not the scheduler being down: a wave whose time came
    long before its turn still runs when its turn comes."""
    at = t0 + timedelta(hours=1)
    with session_scope(settings.database_url) as db:
        _, orders = request_push(db, fingerprint, actor=OLIVIA, now=t0, connectors=DEVICES[:2])
        for wo in orders:
            act(db, wo.id, Action.APPROVE, actor=RAVI, now=t0)
            act(db, wo.id, Action.IMPLEMENT, actor=INES, now=t0, manual=False, at=at)
    a, b = (wo.id for wo in orders)

    def claim(when: datetime) -> list[int]:
        with session_scope(settings.database_url) as db:
            return claim_due(db, owner="s", now=when, grace=timedelta(hours=1),
                             lease=timedelta(minutes=5), limit=10)  # fmt: skip

    assert claim(at) == [a]
    end(settings, a, S.COMPLETED, at + timedelta(hours=2))  # a slow canary
    assert claim(at + timedelta(hours=2, seconds=1)) == [b]


# ----- the command line


@pytest.fixture
def cli(settings, tmp_path):
    from jobs.cli import app

    env = {"DATABASE_URL": settings.database_url, "CERTPUSH_INSTANCE": str(tmp_path / "i")}
    passwords = {actor.username: PASSWORD for actor in PEOPLE}

    def run(*args: str):
        return CliRunner().invoke(app, list(args), input=stdin_for(args, passwords), env=env)

    return run


def test_cli_request_show_resume_and_abort(cli, settings, fingerprint, t0):
    made = cli("push", "request", "--cert", fingerprint, "--canary", "dev-b", "--wave-size",
               "2", "--as", "olivia", "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    label = json.loads(made.output)["request_id"]
    wos = [w["id"] for w in json.loads(made.output)["work_orders"]]
    shown = json.loads(cli("rollouts", "show", label, "--json").output)
    assert shown["canary"] == wos[1] and shown["wave_size"] == 2
    assert [[w["connector"] for w in wave["work_orders"]] for wave in shown["waves"]] == [
        ["dev-b"], ["dev-a", "dev-c"]
    ]  # fmt: skip
    text = cli("rollouts", "show", label.lower().replace("-0000", "-"))
    assert text.exit_code == 0
    assert text.output.splitlines()[0] == (
        f"Rollout {label}: canary  [running]  waves of at most 2"
    )
    number = int(label.removeprefix("REQ-"))
    with session_scope(settings.database_url) as db:
        for wo_id in (int(w.removeprefix("WO-")) for w in wos):
            act(db, wo_id, Action.APPROVE, actor=RAVI, now=t0)
            act(db, wo_id, Action.IMPLEMENT, actor=INES, now=t0)
    end(settings, int(wos[1].removeprefix("WO-")), S.FAILED, t0 + timedelta(seconds=5), "boom")
    halted = cli("rollouts", "show", str(number))
    assert "reason: " + f"{wos[1]} (dev-b) ended Failed: boom" in halted.output
    assert "(halted)" in halted.output.splitlines()[0]
    nope = cli("rollouts", "resume", label, "--comment", "mine", "--as", "olivia")
    assert nope.exit_code == 1
    assert "Resume needs the implementer role; olivia is operator" in nope.output
    ok = cli("rollouts", "resume", label, "--comment", "dev-b checked", "--as", "ines")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"{label} resumed: ")
    twice = cli("rollouts", "resume", label, "--comment", "again", "--as", "ivan")
    assert twice.exit_code == 1 and f"{label} was already resumed by ines at" in twice.output
    stop = cli("rollouts", "abort", label, "--comment", "enough", "--as", "ivan")
    assert stop.exit_code == 0, stop.output
    assert json.loads(cli("rollouts", "show", label, "--json").output)["state"] == "aborted"
    missing = cli("rollouts", "show", "REQ-000999")
    assert missing.exit_code == 1 and "no push request REQ-000999" in missing.output
    bad = cli("rollouts", "show", "WO-1")
    assert bad.exit_code == 1 and "is not a push request ID" in bad.output
    small = cli("push", "request", "--cert", fingerprint, "--wave-size", "0", "--as", "olivia")
    assert small.exit_code == 2  # typer refuses it before anything runs
