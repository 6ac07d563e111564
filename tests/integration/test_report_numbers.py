"""The Push Validation Report's numbers: the verified / failed / pending rule, KPIs and
trend buckets against hand-computed fixtures (SQLite and PostgreSQL), and one real push
through approval, the scheduler's push job, nginx and two sweeps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from data.crypto import load_vault
from data.db import session_scope
from data.domain.periods import Granularity, Period, zone
from data.domain.push_validation import PushValidation, success_rate, validation_of
from data.domain.workflow import Action, Actor
from data.models import Certificate
from data.reports import (
    Selection,
    by_connector_type,
    by_device,
    expiry_outlook,
    failure_reasons,
    kpis,
    push_rows,
    state_counts,
    trend,
    work_orders_behind,
)
from data.workorders import act, claim_due, request_push, work_order_detail
from jobs.verify import run_sweep
from jobs.workorders import run_work_order
from tests.report_fixtures import ReportWorld
from tests.servers import tls_fingerprint

PARIS = zone("Europe/Paris")
UTC_ZONE = zone("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("status", "verification", "state"),
    [
        ("Completed", "verified", PushValidation.VERIFIED),
        ("Completed", "failed", PushValidation.FAILED_VERIFICATION),
        ("Completed", None, PushValidation.PENDING),
        ("Failed", None, PushValidation.PUSH_FAILED),
        # a push that installed, was swept, and whose work order later failed for
        # another reason is still judged by its sweep
        ("Failed", "verified", PushValidation.VERIFIED),
    ],
)
def test_validation_rule(status, verification, state):
    assert validation_of(status, verification) is state


def test_success_rate_ignores_pending_and_has_no_value_without_decided_pushes():
    assert success_rate(3, 1, 0) == 0.75
    assert success_rate(0, 0, 0) is None


def test_rule_on_hand_built_pushes(settings):
    """3 endpoints with 1 mismatch: failed. Not swept: pending. Failed first, matched
    later: still failed. Verified first, mismatched later: still verified."""
    t = at("2026-05-04 10:00")
    with session_scope(settings.database_url) as db:
        w = ReportWorld(db)
        cert = w.certificate("rule.example", t + timedelta(days=200))
        three = w.connector("three-endpoints", endpoints=3)
        one = w.connector("one-endpoint", endpoints=1)
        mixed = w.push(
            cert, three, requested=t, pushed=t,
            sweeps=[(t + timedelta(minutes=15), ["match", "mismatch", "match"])],
        )  # fmt: skip
        unswept = w.push(cert, one, requested=t, pushed=t + timedelta(hours=1))
        healed = w.push(
            cert, one, requested=t, pushed=t + timedelta(hours=2),
            sweeps=[(t + timedelta(hours=2, minutes=15), ["timeout"]),
                    (t + timedelta(hours=2, minutes=30), ["match"])],
        )  # fmt: skip
        broke_later = w.push(
            cert, one, requested=t, pushed=t + timedelta(hours=3),
            sweeps=[(t + timedelta(hours=3, minutes=15), ["match"]),
                    (t + timedelta(hours=3, minutes=30), ["mismatch"])],
        )  # fmt: skip
        ids = {mixed.id: "mixed", unswept.id: "unswept", healed.id: "healed",
               broke_later.id: "broke_later"}  # fmt: skip
    period = Period(date(2026, 5, 4), date(2026, 5, 4), UTC_ZONE)
    with session_scope(settings.database_url) as db:
        states = {
            ids[int(row["work_order"].removeprefix("WO-"))]: row["state"]
            for row in push_rows(db, period)
        }
        reasons = failure_reasons(db, period)
    assert states == {
        "mixed": "failed_verification",
        "unswept": "pending",
        "healed": "failed_verification",
        "broke_later": "verified",
    }
    # reasons come from the deciding sweep only: the later mismatch of "broke_later" and
    # the later match of "healed" do not count
    assert dict(zip(reasons["reason"], reasons["work_orders"], strict=True)) == {
        "verification:mismatch": 1,
        "verification:timeout": 1,
    }


# ----------------------------------------------------------------------------- KPIs and trend


def build_week_fixture(database_url: str) -> None:
    """Pushes around Sunday 29 March 2026 in Paris (a DST change: the day is 23 h long).

    Local (Europe/Paris) times, and what each push is:
      Fri 27 10:00 CET   verified          (requested 1 h before, verdict 15 min after)
      Sat 28 23:30 CET   failed verif.     = 22:30 UTC, Saturday in both zones
      Sun 29 23:30 CEST  push failed(auth) = 21:30 UTC Sunday
      Mon 30 00:30 CEST  verified          = 22:30 UTC *Sunday*: Monday (next ISO week) in Paris
      Mon 30 09:00 CEST  pending
      Tue 31 -           none
      Wed  1 12:00 CEST  verified          (requested 3 h before, verdict 1 h after the push)
      Thu  2 -           none
    Median request→verified over the 3 verified: 1 h 15 min, 1 h 15 min, 4 h → 1 h 15 min.
    """
    with session_scope(database_url) as db:
        w = ReportWorld(db)
        cert = w.certificate("week.example", at("2026-04-20 00:00"))
        web = w.connector("web-1", "ssh", endpoints=2)
        lb = w.connector("lb-1", "local", endpoints=1)

        def push(pushed: str, conn, *, ok=None, wait=timedelta(minutes=15), before=None, **kw):
            p = at(pushed)
            sweeps = [] if ok is None else [(p + wait, ok)]
            return w.push(cert, conn, requested=p - (before or timedelta(hours=1)), pushed=p,
                          sweeps=sweeps, **kw)  # fmt: skip

        push("2026-03-27 09:00", web, ok=["match", "match"])
        push("2026-03-28 22:30", web, ok=["match", "mismatch"])
        push("2026-03-29 21:30", lb, installed=False, reason_class="auth")
        push("2026-03-29 22:30", lb, ok=["match"])
        push("2026-03-30 07:00", web)
        push("2026-04-01 10:00", lb, ok=["match"], wait=timedelta(hours=1),
             before=timedelta(hours=3))  # fmt: skip
        # outside the period (Thursday 26, 23:30 Paris)
        push("2026-03-26 22:30", lb, ok=["mismatch"])


def test_kpis_and_daily_trend_in_paris(settings):
    build_week_fixture(settings.database_url)
    period = Period(date(2026, 3, 27), date(2026, 4, 2), PARIS)
    with session_scope(settings.database_url) as db:
        k = kpis(db, period)
        days = trend(db, period, Granularity.DAY)
        weeks = trend(db, period, Granularity.WEEK)
    assert (k.pushes, k.verified, k.failed_verification, k.push_failed, k.pending) == (
        6, 3, 1, 1, 1,
    )  # fmt: skip
    assert k.success_rate == pytest.approx(3 / 5)
    assert k.median_to_verified_s == pytest.approx(75 * 60, abs=1)

    # every day of the period is there, empty ones as zeros
    assert list(days["bucket"]) == [date(2026, 3, 27) + timedelta(days=i) for i in range(7)]
    expected = {  # day: (verified, failed_verification, push_failed, pending)
        "2026-03-27": (1, 0, 0, 0),
        "2026-03-28": (0, 1, 0, 0),
        "2026-03-29": (0, 0, 1, 0),
        "2026-03-30": (1, 0, 0, 1),
        "2026-03-31": (0, 0, 0, 0),
        "2026-04-01": (1, 0, 0, 0),
        "2026-04-02": (0, 0, 0, 0),
    }
    got = {
        str(r.bucket): (r.verified, r.failed_verification, r.push_failed, r.pending)
        for r in days.itertuples()
    }
    assert got == expected
    rates = dict(zip(days["bucket"].astype(str), days["success_rate"], strict=True))
    assert rates["2026-03-30"] == 1.0  # the pending push is not a failure
    assert rates["2026-03-29"] == 0.0
    assert rates["2026-03-31"] != rates["2026-03-31"]  # NaN: nothing decided that day

    # ISO weeks in Paris: Fri 27-Sun 29 (3 pushes), Mon 30-Thu 2 (3 pushes)
    assert [(str(r.bucket), str(r.bucket_last), r.pushes) for r in weeks.itertuples()] == [
        ("2026-03-27", "2026-03-29", 3),
        ("2026-03-30", "2026-04-02", 3),
    ]


def test_the_same_pushes_bucketed_in_utc(settings):
    """In UTC the 22:30 push of Sunday stays on Sunday: the zone decides the bucket."""
    build_week_fixture(settings.database_url)
    period = Period(date(2026, 3, 27), date(2026, 4, 2), UTC_ZONE)
    with session_scope(settings.database_url) as db:
        weeks = trend(db, period, Granularity.WEEK)
        counts = state_counts(db, period)
    assert list(weeks["pushes"]) == [4, 2]
    assert counts[PushValidation.VERIFIED] == 3


def test_breakdowns_reasons_and_drill_down(settings):
    build_week_fixture(settings.database_url)
    period = Period(date(2026, 3, 27), date(2026, 4, 2), PARIS)
    with session_scope(settings.database_url) as db:
        types = by_connector_type(db, period).set_index("connector_type")
        devices = by_device(db, period)
        reasons = failure_reasons(db, period)
        failed_saturday, n_sat = work_orders_behind(
            db, period, Selection("2026-03-28", "2026-03-28", "failed")
        )
        auth, n_auth = work_orders_behind(db, period, Selection(reason="push:auth"))
        mismatch, n_mismatch = work_orders_behind(
            db, period, Selection(reason="verification:mismatch")
        )
        lb, n_lb = work_orders_behind(db, period, Selection(device="lb-1"))
    assert types.loc["ssh", "pushes"] == 3 and types.loc["local", "pushes"] == 3
    assert types.loc["local", "push_failed"] == 1 and types.loc["ssh", "pending"] == 1
    assert list(devices["device"]) == ["lb-1", "web-1"] or list(devices["device"]) == [
        "web-1",
        "lb-1",
    ]
    assert dict(zip(reasons["reason"], reasons["work_orders"], strict=True)) == {
        "push:auth": 1,
        "verification:mismatch": 1,  # the Thursday-26 mismatch is outside the period
    }
    assert n_sat == 1 and failed_saturday.iloc[0]["state"] == "Failed verification"
    assert failed_saturday.iloc[0]["certificate"] == "week.example"
    assert n_auth == 1 and auth.iloc[0]["device"] == "lb-1"
    assert n_mismatch == 1 and mismatch.iloc[0]["device"] == "web-1"
    assert n_lb == 3 and set(lb["device"]) == {"lb-1"}


def test_expiry_outlook_counts_by_colour_and_horizon(settings):
    now = at("2026-06-01 00:00")
    with session_scope(settings.database_url) as db:
        w = ReportWorld(db)
        for i, days in enumerate((3, 20, 60, 200, -5)):
            w.certificate(f"exp{i}.example", now + timedelta(days=days))
        w.certificate("revoked.example", now + timedelta(days=3), revoked=True)
    with session_scope(settings.database_url) as db:
        outlook = expiry_outlook(db, now)
    assert outlook.expiring == {7: 1, 30: 2, 90: 3}
    assert sum(outlook.by_colour.values()) == 6
    assert outlook.by_colour["red"] == 1 and outlook.by_colour["black"] == 1


# ----------------------------------------------------------------------------- end to end


OLIVIA = Actor("olivia", "operator")
RAVI = Actor("ravi", "reviewer")
INES = Actor("ines", "implementer")


@pytest.mark.clock
def test_real_push_rolled_back_is_counted_once_and_never_redecided(sqlite_settings, tmp_path):
    """Approve, implement: the push installs on an nginx whose reload does not pick up the
    new files, so the old certificate is still served: Failed Verification, the previous
    files go back and the old certificate is seen served (a real handshake): Rolled Back.
    The report counts one push that failed verification; a later sweep changes nothing."""
    from tests.integration.test_verify import make_device

    dev = make_device(sqlite_settings, tmp_path, reload_command="true")  # never reloads
    url = sqlite_settings.database_url
    try:
        now = datetime.now(UTC)
        with session_scope(url) as db:
            _, [wo] = request_push(db, dev.new, actor=OLIVIA, now=now, comment="renewal")
            assert act(db, wo.id, Action.APPROVE, actor=RAVI, now=now).ok
            assert act(db, wo.id, Action.IMPLEMENT, actor=INES, now=now).ok
            claimed = claim_due(db, owner="test", now=now, grace=timedelta(hours=1),
                                lease=timedelta(minutes=5), limit=5)  # fmt: skip
        assert claimed == [wo.id]
        vault = load_vault(sqlite_settings)
        assert run_work_order(url, vault, wo.id, "test") is False
        with session_scope(url) as db:
            detail = work_order_detail(db, wo.id)
            cert = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == dev.new))
            gray = cert.push_failed
        steps = [h["to"] for h in detail["history"]]
        assert steps[-4:] == ["Verifying", "Failed Verification", "Rolling Back", "Rolled Back"]
        assert detail["status"] == "Rolled Back" and "served again" in detail["reason"]
        assert tls_fingerprint("127.0.0.1", dev.port) == dev.old  # the old one, by handshake
        restored = (dev.tls / "site.crt").read_bytes()
        assert restored == (dev.tls / "site.crt.certpush-prev").read_bytes()
        assert gray  # the push of this certificate failed: Gray
        # a sweep afterwards expects what the device should serve now: nothing of ours
        assert run_sweep(url, timeout=3, settle_seconds=0).summary == {}
    finally:
        dev.nginx.stop()
    # Every UTC day the push and its checks happened on (two, if they spanned midnight).
    period = Period(now.date(), datetime.now(UTC).date(), UTC_ZONE)
    with session_scope(url) as db:
        k = kpis(db, period)
        [row] = list(push_rows(db, period))
    assert (k.pushes, k.verified, k.failed_verification) == (1, 0, 1)
    assert row["state"] == "failed_verification"
    assert row["endpoints_checked"] == 1 and row["endpoints_failed"] == 1
    assert row["failure_outcomes"] == "mismatch"


def test_a_ten_year_trend_has_every_week(settings):
    """523 weekly buckets: more than SQLite joins in one UNION ALL (found by schemathesis)."""
    build_week_fixture(settings.database_url)
    period = Period(date(2016, 4, 4), date(2026, 4, 2), PARIS)
    with session_scope(settings.database_url) as db:
        weeks = trend(db, period, Granularity.WEEK)
    assert len(weeks) == 522
    assert weeks["pushes"].sum() == 7  # the week fixture's pushes, the Thursday-26 one too
    assert list(weeks["pushes"].tail(2)) == [4, 3]
