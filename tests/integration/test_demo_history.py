"""The demo's ninety days of history: made through the real workflow, shown by the
report, explaining the Gray and Mid Purple demo certificates, made once, and true to
what the demo devices really serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.components.workorders import work_order_row
from data.audit_trail import audit_page
from data.config import Settings
from data.connectors import bound_connectors
from data.db import session_scope
from data.demo import load_demo
from data.domain.nodes import ConnectorState, EndpointState
from data.domain.periods import Period, zone
from data.domain.status import Status
from data.domain.workflow import FINAL, WorkOrderStatus
from data.models import Base, PushRequest, VerificationResult, VerificationSweep
from data.queries import certificate_page, status_counts
from data.reports import failure_reasons, kpis, trend
from data.workorders import history, list_work_orders
from jobs.demo_devices import setup_demo_devices, start_demo_devices
from jobs.demo_history import load_demo_history
from tests.servers import free_port_range

S = WorkOrderStatus
GRAY = {"mail-relay.corp.example", "iot-gateway-3.corp.example"}
MID_PURPLE = {"web-frontend-eu.corp.example"}


def table_counts(db) -> dict[str, int]:
    return {
        t.name: db.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
    }


def colours(db, now: datetime) -> dict[str, Status]:
    page = certificate_page(db, now=now, start=0, end=100)
    return {r.common_name: r.status for r in page.rows if r.common_name}


def make_demo(settings: Settings, vault, now: datetime):
    with session_scope(settings.database_url) as db:
        load_demo(db, vault, now)
        setup_demo_devices(db, vault, settings, now)
        return load_demo_history(db, vault, settings, now)


def test_history_through_the_real_workflow(settings, vault):
    """On SQLite and PostgreSQL: the report's numbers, the pages' rows, the colours'
    causes, and a second load that adds nothing."""
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    made = make_demo(settings, vault, now)
    assert made.skipped == "" and made.push_requests >= 150

    with session_scope(settings.database_url) as db:
        period = Period.last_days(90, now, zone("UTC"))
        numbers = kpis(db, period)
        assert numbers.pushes >= 100
        assert numbers.verified and numbers.failed_verification and numbers.push_failed
        assert numbers.pending == 0  # nothing left for the live scheduler to decide
        assert 0 < numbers.success_rate < 1
        assert made.pushes == {
            "verified": numbers.verified,
            "failed_verification": numbers.failed_verification,
            "push_failed": numbers.push_failed,
            "pending": 0,
        }
        weeks = trend(db, period)
        assert (weeks["pushes"] > 0).sum() >= 12  # every week of the period has pushes
        reasons = set(failure_reasons(db, period)["reason"])
        assert {"verification:mismatch", "verification:timeout"} <= reasons
        # the push the killed scheduler left is taken up again at restart, not failed
        assert "push:interrupted" not in reasons
        assert any(r.startswith("push:") for r in reasons)

        orders = list_work_orders(db, limit=1000)
        assert len(orders) == sum(made.work_orders.values())
        assert all(o.status in FINAL and o.demo for o in orders)
        row = work_order_row(orders[0], UTC)  # the Work orders page's grid row
        assert row["request"] == f"{orders[0].request_label} (demo)"
        assert all(o.created_at < now for o in orders)
        statuses = {o.status for o in orders}
        # the history replays pushes judged by sweeps, as before verification-gated
        # completion: every final status of that workflow appears
        assert statuses == {S.COMPLETED, S.FAILED, S.REJECTED, S.CANCELLED}
        assert any(o.reason.startswith("missed schedule") for o in orders)
        rejected = [o for o in orders if o.status is WorkOrderStatus.REJECTED]
        events = history(db, rejected[0].id)
        assert events[-1].actor in ("ravi", "ines") and events[-1].comment  # with a reason
        scheduled = [
            o for o in orders if any(e.action == "start" for e in history(db, o.id))
        ]  # Manual Implementation off, then run by the scheduler at its time
        assert scheduled
        trail = audit_page(db, start=0, end=50)
        assert trail.total > 1000
        actors = {row.actor for row in audit_page(db, start=0, end=500).rows}
        assert {"olivia", "ravi", "ines", "scheduler"} <= actors

        assert db.scalar(select(func.count()).where(PushRequest.demo.is_(False))) == 0
        assert set(db.scalars(select(VerificationSweep.trigger).distinct())) == {"demo"}

        coloured = colours(db, now)
        assert {cn for cn, s in coloured.items() if s is Status.GRAY} == GRAY
        assert {cn for cn, s in coloured.items() if s is Status.MID_PURPLE} == MID_PURPLE
        counts = table_counts(db)

    again = make_demo(settings, vault, now + timedelta(minutes=5))
    assert again.skipped and again.push_requests == 0
    with session_scope(settings.database_url) as db:
        assert table_counts(db) == counts


def test_gray_and_mid_purple_are_explained_by_history(sqlite_settings):
    from data.crypto import load_vault

    settings = sqlite_settings
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    make_demo(settings, load_vault(settings), now)
    with session_scope(settings.database_url) as db:
        certs = {r.common_name: r for r in certificate_page(db, now=now, start=0, end=100).rows}

        [mail] = bound_connectors(db, certs["mail-relay.corp.example"].id)
        assert mail.state is ConnectorState.FAILED  # its newest push failed and rolled back
        assert mail.detail.startswith("config test failed")
        assert all(e.state is EndpointState.UNVERIFIED for e in mail.endpoints)  # never served

        [iot] = bound_connectors(db, certs["iot-gateway-3.corp.example"].id)
        assert iot.state is ConnectorState.FAILED
        assert iot.detail.startswith("host key changed")
        assert all(e.state is EndpointState.MATCH for e in iot.endpoints)  # the old push holds

        [web] = bound_connectors(db, certs["web-frontend-eu.corp.example"].id)
        assert web.state is ConnectorState.INSTALLED
        [endpoint] = web.endpoints
        assert endpoint.state is EndpointState.MISMATCH
        assert "placeholder" in endpoint.detail  # the device's old certificate, put back
        drifted = db.scalars(select(VerificationResult).where(VerificationResult.drift)).all()
        assert len(drifted) == 1  # the history's one drift
        [drift] = drifted
        assert drift.certificate_id == certs["web-frontend-eu.corp.example"].id
        assert db.scalar(
            select(func.count()).where(
                VerificationResult.endpoint_id == drift.endpoint_id,
                VerificationResult.outcome == "match",
                VerificationResult.at < drift.at,
            )
        )  # it had served ours before

        # Every other certificate with history has the colour of its expiry.
        assert status_counts(db, now)[Status.GRAY] == 2
        assert status_counts(db, now)[Status.MID_PURPLE] == 1


def test_same_now_same_history(tmp_path):
    from data.crypto import generate_master_key, load_vault
    from data.models import WorkOrder
    from data.schema import upgrade

    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # a Sunday night, DST in Europe

    def story(folder: Path) -> list[tuple]:
        settings = Settings.for_folder(folder, master_key=generate_master_key())
        upgrade(settings.database_url)
        make_demo(settings, load_vault(settings), now)
        with session_scope(settings.database_url) as db:
            return [
                (w.id, w.status, w.reason.replace(str(folder), ""), w.pushed_at, w.verification)
                for w in db.scalars(select(WorkOrder).order_by(WorkOrder.id))
            ] + [
                (r.at, r.outcome, r.drift)
                for r in db.scalars(select(VerificationResult).order_by(VerificationResult.id))
            ]

    first = story(tmp_path / "a")
    assert first and first == story(tmp_path / "b")


@pytest.mark.clock  # the history is made relative to the wall clock's now
def test_demo_cli_history_matches_what_the_devices_serve(tmp_path):
    """`certpush demo` twice, then the demo devices and a real sweep: every endpoint
    serves what the history says, the one drift included; no colour changes."""
    env = {
        **os.environ,
        "CERTPUSH_INSTANCE": str(tmp_path / "instance"),
        "CERTPUSH_DEMO_PORT": str(free_port_range(5)),
    }
    env.pop("DATABASE_URL", None)
    env.pop("CERTPUSH_MASTER_KEY", None)

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env,
                              capture_output=True, text=True, timeout=180, check=True)  # fmt: skip
        return done.stdout

    first = json.loads(cli("demo", "--json"))
    assert first["history"]["pushes"]["verified"] > 100
    assert first["history"]["drift"] == 1
    settings = Settings.from_env(env)
    with session_scope(settings.database_url) as db:
        before = table_counts(db)
    second = json.loads(cli("demo", "--json"))
    assert second["history"]["skipped"] == "it exists already"
    assert (second["users"], second["certificates_added"], second["demo_devices_added"]) == (
        [],
        0,
        0,
    )
    with session_scope(settings.database_url) as db:
        assert table_counts(db) == before
    assert "demo history: none added" in cli("demo")
    orders = json.loads(cli("workorders", "list", "--json"))
    assert len(orders) > 100 and all(o["demo"] for o in orders)

    listed = {c["common_name"]: c["status"] for c in json.loads(cli("certs", "list", "--json"))}
    process = start_demo_devices(settings)
    assert process is not None
    try:
        deadline = time.monotonic() + 15
        while True:
            sweep = json.loads(cli("verify", "--json", "--timeout", "3"))
            if "refused" not in sweep["summary"] or time.monotonic() > deadline:
                break
            time.sleep(0.3)  # the devices are still starting
    finally:
        process.terminate()
        process.wait(timeout=10)
    not_matching = [e for e in sweep["endpoints"] if e["outcome"] != "match"]
    assert len(sweep["endpoints"]) >= 14
    assert [(e["sni"], e["outcome"], e["drift"]) for e in not_matching] == [
        ("web-frontend-eu.corp.example", "mismatch", True)
    ]
    assert {e["host"] for e in sweep["endpoints"]} == {"127.0.0.1"}
    after = {c["common_name"]: c["status"] for c in json.loads(cli("certs", "list", "--json"))}
    assert after == listed
    assert {cn for cn, s in after.items() if s == "gray"} == GRAY
    assert {cn for cn, s in after.items() if s == "mid-purple"} == MID_PURPLE
