"""The audit trail as a hash chain, on SQLite and PostgreSQL: written by the real services,
extended by parallel writers without a fork, backfilled by the migration, and checked by
``certpush audit verify`` (a subprocess) after rows were edited, deleted or swapped in SQL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from data import audit
from data.audit_chain import chain_head, verify_chain
from data.config import Settings
from data.db import engine_for, session_scope
from data.domain.audit_chain import EMPTY, GENESIS, BreakKind
from data.domain.workflow import Action
from data.models import AuditEvent
from data.schema import upgrade
from data.workorders import act
from tests.integration.test_workorders import (
    INES,
    RAVI,
    approved_work_order,
    local_push_setup,
    make_users,
)

T0 = datetime(2026, 6, 1, 12, 0, 0, 250_001, tzinfo=UTC)
WRITERS, EACH = 8, 50


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CERTPUSH_INSTANCE": str(settings.instance_dir),
        "DATABASE_URL": settings.database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", "audit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def record_events(url: str, n: int, actor: str = "olivia") -> None:
    for i in range(n):
        with session_scope(url) as db:
            audit.record(
                db,
                actor=actor,
                action=f"test.step{i}",
                now=T0 + timedelta(seconds=i),
                target=f"T-{i}",
                detail=f"step {i} · ok",
            )


def chained(settings: Settings) -> list[tuple[int, int]]:
    """(seq, id) of every event in chain order."""
    with session_scope(settings.database_url) as db:
        return [
            tuple(r)
            for r in db.execute(sa.select(AuditEvent.seq, AuditEvent.id).order_by(AuditEvent.seq))
        ]


def test_a_workflow_leaves_an_intact_chain(settings, vault, tmp_path):
    make_users(settings)
    fingerprint = local_push_setup(settings, vault, tmp_path)
    wo_id = approved_work_order(settings, fingerprint)
    with session_scope(settings.database_url) as db:
        result = act(db, wo_id, Action.IMPLEMENT, actor=INES, now=datetime.now(UTC))
        assert result.ok, result.message
        refused = act(db, wo_id, Action.APPROVE, actor=RAVI, now=datetime.now(UTC))
        assert not refused.ok  # audited as refused, in the same transaction
    with session_scope(settings.database_url) as db:  # a transaction that rolls back
        audit.record(db, actor="x", action="never", now=T0)
        db.rollback()
        with db.begin_nested() as savepoint:  # and a savepoint that does
            audit.record(db, actor="x", action="never.either", now=T0)
            savepoint.rollback()
        audit.record(db, actor="x", action="kept", now=T0)
    with session_scope(settings.database_url) as db:
        report = verify_chain(db)
        total = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        actions = set(db.scalars(sa.select(AuditEvent.action)))
    assert report.intact, report.problem
    assert report.events == total >= 8
    assert {"workorder.implement", "workorder.approve.refused", "kept"} <= actions
    assert not {"never", "never.either"} & actions
    assert [seq for seq, _ in chained(settings)] == list(range(1, total + 1))
    done = run_cli(settings, "verify")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"audit chain intact: {total} events, head {report.head}\n"
    as_json = json.loads(run_cli(settings, "verify", "--json").stdout)
    assert as_json == {
        "intact": True,
        "events": total,
        "head": {"seq": report.head.seq, "hash": report.head.hash},
        "problem": None,
    }


def swap_seq(db, a: int, b: int) -> None:
    """Exchange two events' places in the chain (through a free seq: it is unique)."""
    db.execute(sa.text("UPDATE audit_events SET seq = -1 WHERE seq = :a"), {"a": a})
    db.execute(sa.text("UPDATE audit_events SET seq = :a WHERE seq = :b"), {"a": a, "b": b})
    db.execute(sa.text("UPDATE audit_events SET seq = :b WHERE seq = -1"), {"b": b})


def swap_content(db, a: int, b: int) -> None:
    """Exchange what two events say (who, what, when), leaving the chain fields in place."""
    rows = {
        r.seq: r
        for r in db.execute(
            sa.text(
                "SELECT seq, at, actor, action, target, detail FROM audit_events "
                "WHERE seq IN (:a, :b)"
            ),
            {"a": a, "b": b},
        )
    }
    for seq, other in ((a, b), (b, a)):
        o = rows[other]
        db.execute(
            sa.text(
                "UPDATE audit_events SET at = :at, actor = :actor, action = :action, "
                "target = :target, detail = :detail WHERE seq = :seq"
            ),
            {
                "at": o.at,
                "actor": o.actor,
                "action": o.action,
                "target": o.target,
                "detail": o.detail,
                "seq": seq,
            },
        )


TAMPERING = {
    "edited": (
        lambda db: db.execute(
            sa.text("UPDATE audit_events SET detail = 'nothing happened' WHERE seq = 5")
        ),
        (5, 5),
        BreakKind.EDITED,
        "(test.step4 by olivia at 2026-06-01 12:00:04 UTC) was edited: its content no longer "
        "matches its hash",
    ),
    "deleted": (
        lambda db: db.execute(sa.text("DELETE FROM audit_events WHERE seq = 5")),
        (6, 6),
        BreakKind.LINK,
        "is missing or was reordered: prev_hash does not match event",
    ),
    "seq swapped": (lambda db: swap_seq(db, 5, 6), (5, 6), BreakKind.MOVED, "was moved or edited"),
    "content swapped": (
        lambda db: swap_content(db, 5, 6),
        (5, 5),
        BreakKind.EDITED,
        "(test.step5 by olivia at 2026-06-01 12:00:05 UTC) was edited",
    ),
    "inserted around the writer": (
        lambda db: db.execute(
            sa.text(
                "INSERT INTO audit_events (at, actor, action, target, detail) "
                "VALUES ('2026-06-01 12:30:00', 'mallory', 'cover.up', '', '')"
            )
        ),
        None,
        BreakKind.UNCHAINED,
        "(cover.up by mallory at 2026-06-01 12:30:00 UTC) is not in the chain",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_names_the_event_that_was_tampered_with(settings, case):
    tamper, named, kind, words = TAMPERING[case]
    record_events(settings.database_url, 8)
    ids = dict(chained(settings))
    with session_scope(settings.database_url) as db:
        tamper(db)
    done = run_cli(settings, "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("audit chain BROKEN: ")
    assert words in done.stdout
    found = json.loads(run_cli(settings, "verify", "--json").stdout)
    assert found["intact"] is False
    problem = found["problem"]
    assert problem["kind"] == kind.value
    if named is not None:  # (the seq where it breaks, the seq its event was written at)
        at_seq, written_at = named
        assert (problem["seq"], problem["event_id"]) == (at_seq, ids[written_at])
        assert f" {ids[written_at]} (" in problem["message"]
        assert found["events"] == found["head"]["seq"] == 4  # seq 1 to 4 still hold


def test_only_a_head_kept_elsewhere_shows_a_cut_tail(settings):
    record_events(settings.database_url, 6)
    with session_scope(settings.database_url) as db:
        kept = chain_head(db)
        assert chain_head(db, T0 + timedelta(seconds=3)) == (3, kept_hash(db, 3))
        assert chain_head(db, T0) == EMPTY
        db.execute(sa.text("DELETE FROM audit_events WHERE seq = 6"))
    assert run_cli(settings, "verify").returncode == 0  # the chain alone cannot tell
    done = run_cli(settings, "verify", "--expect", str(kept))
    assert done.returncode == 1
    assert "a head recorded elsewhere names seq 6: the events after it were deleted" in done.stdout
    bad = run_cli(settings, "verify", "--expect", "6:abc")
    assert bad.returncode == 1 and bad.stderr.startswith("error: --expect:")


def kept_hash(db, seq: int) -> str:
    return db.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == seq))


def test_parallel_writers_never_fork_the_chain(settings):
    """8 writers, each its own session, each appending 50 events in 50 transactions that
    read first (as services do), all at once: one unbroken chain of 400 events."""
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(EACH):
                with session_scope(settings.database_url) as db:
                    db.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
                    audit.record(
                        db,
                        actor=f"w{n}",
                        action="parallel.append",
                        now=datetime.now(UTC),
                        target=f"{n}/{i}",
                    )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with session_scope(settings.database_url) as db:
        report = verify_chain(db)
        targets = list(db.scalars(sa.select(AuditEvent.target).order_by(AuditEvent.seq)))
    assert report.intact, report.problem
    assert report.events == WRITERS * EACH == 400
    assert report.head.seq == 400
    for n in range(WRITERS):  # each writer's events in the order it wrote them
        mine = [int(t.split("/")[1]) for t in targets if t.startswith(f"{n}/")]
        assert mine == list(range(EACH))


def test_the_head_is_read_under_the_lock_that_orders_the_chain(settings, monkeypatch):
    """While one transaction reads the head, no other can take the chain's lock (SQLite:
    the database's write lock; PostgreSQL: the advisory lock), so a second writer waits
    for the first one's commit and links after it instead of beside it."""
    url = settings.database_url
    record_events(url, 2)
    reading, lock_was_free = threading.Event(), []
    real_head = audit.chain_head

    def head_while_watched(session, until=None):
        if threading.current_thread().name == "first" and not reading.is_set():
            lock_was_free.append(_chain_lock_free(url))
            reading.set()
            time.sleep(0.5)  # the second writer tries to commit meanwhile
        return real_head(session, until)

    monkeypatch.setattr(audit, "chain_head", head_while_watched)
    done_at: dict[str, float] = {}

    def write(name: str) -> None:
        with session_scope(url) as db:
            audit.record(db, actor=name, action="race", now=datetime.now(UTC))
        done_at[name] = time.monotonic()

    first = threading.Thread(target=write, args=("first",), name="first")
    first.start()
    assert reading.wait(30)
    second = threading.Thread(target=write, args=("second",), name="second")
    second.start()
    first.join(30)
    second.join(30)
    assert lock_was_free == [False]
    assert done_at["first"] < done_at["second"]
    with session_scope(url) as db:
        order = list(db.scalars(sa.select(AuditEvent.actor).order_by(AuditEvent.seq)))
        assert verify_chain(db).intact
    assert order[-2:] == ["first", "second"]


def _chain_lock_free(url: str) -> bool:
    """Could another connection take the chain's lock right now (without waiting)?"""
    if url.startswith("sqlite"):
        other = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()
    with engine_for(url).connect() as other:
        taken = other.scalar(
            sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": audit.CHAIN_LOCK}
        )
        other.rollback()
        return bool(taken)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request, tmp_path) -> str:
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    from tests.conftest import _pg_database

    yield from _pg_database()


def test_the_migration_chains_existing_events_in_id_order(fresh_url):
    upgrade(fresh_url, "0008")
    rows = [
        {
            "at": "2026-01-02 03:04:05.000001",
            "actor": "olivia",
            "action": "push.request",
            "target": "WO-000001",
            "detail": "renewal – «ünïcode»",
            "user_id": None,
        },
        {
            "at": "2026-01-02 03:04:05",
            "actor": "ravi",
            "action": "workorder.approve",
            "target": "WO-000001",
            "detail": "",
            "user_id": None,
        },
        {
            "at": "2025-12-31 23:59:59.999999",
            "actor": "cli:root",
            "action": "user.add",
            "target": "maya",
            "detail": "role manager",
            "user_id": None,
        },
    ] * 4
    engine = sa.create_engine(fresh_url)
    with engine.begin() as c:
        for row in rows:
            c.execute(
                sa.text(
                    "INSERT INTO audit_events (at, actor, action, target, detail, "
                    "user_id) VALUES (:at, :actor, :action, :target, :detail, "
                    ":user_id)"
                ),
                row,
            )
    engine.dispose()
    upgrade(fresh_url)
    with session_scope(fresh_url) as db:
        report = verify_chain(db)
        links = db.execute(
            sa.select(AuditEvent.id, AuditEvent.seq, AuditEvent.prev_hash).order_by(AuditEvent.id)
        ).all()
    assert report.intact, report.problem
    assert report.events == len(rows)
    assert [seq for _, seq, _ in links] == list(range(1, len(rows) + 1))
    assert links[0].prev_hash == GENESIS
    record_events(fresh_url, 2)  # and the writer carries on from the backfilled head
    with session_scope(fresh_url) as db:
        after = verify_chain(db)
    assert after.intact and after.head.seq == len(rows) + 2
    engine_for(fresh_url).dispose()
