"""The Push Validation Report page's callbacks, called as plain functions inside a
logged-in request context, over pushes written by ReportWorld with known outcomes."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from dash import no_update

from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.roles import Role
from data.users import UserInfo, add_user
from tests.dash_calls import ActingAs, component_text
from tests.report_fixtures import ReportWorld, fingerprint

PASSWORD = "correct horse battery"


def _As(web, who) -> ActingAs:
    """Callbacks as that user (tests/dash_calls.py), with this module's demo password."""
    return ActingAs(web, who, PASSWORD)


_text = component_text

WEEK = ("custom", "2026-05-04", "2026-05-10")  # preset, first day, last day (UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seed(database_url: str) -> None:
    """Five pushes in the week of 4 May 2026 (UTC), one the day before.

    Mon 09:00 web-1 verified (requested 1 h before, verdict 15 min after)
    Mon 10:00 web-1 failed verification (1 of 2 endpoints served another certificate)
    Tue 11:00 lb-1  push failed (auth)
    Tue 12:00 lb-1  verified (requested 1 h before, verdict 15 min after)
    Wed 13:00 web-1 pending
    Sun  3    lb-1  failed verification - outside the week
    """
    with session_scope(database_url) as db:
        w = ReportWorld(db)
        cert = w.certificate("shop.example", at("2026-05-20 00:00"))
        other = w.certificate("api.example", at("2027-05-20 00:00"))
        web = w.connector("web-1", "ssh", endpoints=2)
        lb = w.connector("lb-1", "local", endpoints=1)

        def push(when: str, conn, *, cert=cert, ok=None, **kw):
            p = at(when)
            sweeps = [] if ok is None else [(p + timedelta(minutes=15), ok)]
            return w.push(
                cert, conn, requested=p - timedelta(hours=1), pushed=p, sweeps=sweeps, **kw
            )

        push("2026-05-04 09:00", web, ok=["match", "match"])
        push("2026-05-04 10:00", web, cert=other, ok=["match", "mismatch"])
        push("2026-05-05 11:00", lb, installed=False, reason_class="auth")
        push("2026-05-05 12:00", lb, ok=["match"])
        push("2026-05-06 13:00", web)
        push("2026-05-03 10:00", lb, ok=["mismatch"])


@pytest.fixture
def web(sqlite_settings):
    from dashboard.app import app

    with session_scope(sqlite_settings.database_url) as db:
        add_user(db, "maya", "manager", PASSWORD, datetime.now(UTC))
        add_user(db, "olivia", "operator", PASSWORD, datetime.now(UTC))
    seed(sqlite_settings.database_url)
    server = app.server
    previous = server.config["CERTPUSH_SETTINGS"]
    server.config["CERTPUSH_SETTINGS"] = sqlite_settings
    yield server
    server.config["CERTPUSH_SETTINGS"] = previous


def _kpis(cards) -> dict[str, str]:
    """data-kpi → the value shown on each card."""
    out = {}
    for col in cards:
        wrapper = col.children
        body = wrapper.children.children
        out[getattr(wrapper, "data-kpi")] = body.children[1].children
    return out


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, (time.perf_counter() - start) * 1000


def test_report_renders_kpis_trend_breakdowns_and_reasons(web, capsys):
    from dashboard.callbacks.reports import render_report

    with _As(web, "olivia"):  # every role may view reports
        (label, error, error_open, cards, trend, by_type, by_device, reasons, expiry), ms = _timed(
            render_report, *WEEK, "auto"
        )
    assert (error, error_open) == ("", False)
    assert label == "2026-05-04 to 2026-05-10 (UTC)"
    assert _kpis(cards) == {
        "pushes": "5",
        "verified": "2",
        "failed_verification": "1",
        "push_failed": "1",
        "pending": "1",
        "success_rate": "50.0 %",
        "median": "1 h 15 min",
    }
    bars = {t.name: list(t.y) for t in trend.data if t.type == "bar"}
    assert bars["Verified"] == [1, 1, 0, 0, 0, 0, 0]
    assert bars["Failed verification"] == [1, 0, 0, 0, 0, 0, 0]
    assert bars["Push failed"] == [0, 1, 0, 0, 0, 0, 0]
    assert bars["Pending"] == [0, 0, 1, 0, 0, 0, 0]
    failed = next(t for t in trend.data if t.name == "Failed verification")
    assert list(failed.customdata[0]) == ["2026-05-04", "2026-05-04", "failed_verification"]
    assert failed.marker.pattern.shape == "/"
    rate = next(t for t in trend.data if t.type == "scatter")
    assert list(rate.y[:3]) == [50.0, 50.0, None]  # Wednesday: only a pending push
    assert set(by_type.data[0].y) == {"ssh", "local"}
    assert list(by_device.data[0].y) == ["web-1", "lb-1"]  # tie on failures: most pushes first
    assert {(r["reason"], r["work_orders"]) for r in reasons} == {
        ("verification:mismatch", 1),
        ("push:auth", 1),
    }
    colours, horizons = expiry.data
    assert sum(colours.y) == 2  # both certificates, each under one colour
    assert list(colours.x)[:2] == ["Black", "Red"]
    assert list(horizons.x) == ["7 days", "30 days", "90 days"]
    print(f"\nrender_report: {ms:.0f} ms")


def test_weekly_grouping_can_be_chosen(web):
    from dashboard.callbacks.reports import render_report

    with _As(web, "maya"):
        result = render_report(*WEEK, "week")
    trend = result[4]
    assert [list(t.y) for t in trend.data if t.name == "Verified"] == [[2]]


def test_drill_down_from_a_failed_bar_lists_its_work_orders_with_topology_links(web, capsys):
    from dashboard.callbacks.reports import drill_down_for

    click = {"points": [{"customdata": ["2026-05-04", "2026-05-04", "failed_verification"]}]}
    with _As(web, "maya"):
        shown, ms = _timed(drill_down_for, "report-trend", click, *WEEK)
    text = _text(shown)
    assert "1 of 1 push" in text
    assert "api.example" in text
    assert f"/certificates/{fingerprint('api.example')}/topology" in text
    assert "shop.example" not in text  # the verified push of the same day is not listed
    print(f"\ndrill_down: {ms:.0f} ms")


def test_drill_down_by_reason_and_by_device(web):
    from dashboard.callbacks.reports import drill_down_for

    with _As(web, "maya"):
        by_reason = _text(drill_down_for("report-reasons", {"rowId": "push:auth"}, *WEEK))
        by_device = _text(
            drill_down_for("report-by-device", {"points": [{"customdata": ["web-1"]}]}, *WEEK)
        )
        whole_day = _text(
            drill_down_for(
                "report-trend", {"points": [{"customdata": ["2026-05-05", "2026-05-05", None]}]},
                *WEEK,
            )
        )  # fmt: skip
    assert "Push: authentication refused" in by_reason and "1 of 1 push" in by_reason
    assert "lb-1" in by_reason and "web-1" not in by_reason
    assert "device web-1" in by_device and "3 of 3 pushes" in by_device
    assert "2 of 2 pushes" in whole_day


def test_callbacks_refuse_anonymous_and_unknown_roles(web):
    from dashboard.callbacks.reports import (
        drill_down_for,
        export_for,
        render_report,
        show_weekly_reports,
        weekly_download_for,
    )

    click = {"points": [{"customdata": ["2026-05-04", "2026-05-04", "failed_verification"]}]}
    forged = UserInfo(id=999, username="mallory", role="guest")  # a role with no grants
    for who in (None, forged):
        with _As(web, who):
            result = render_report(*WEEK, "auto")
            drilled = _text(drill_down_for("report-trend", click, *WEEK))
            exported = export_for("xlsx", *WEEK)
            weekly = _text(show_weekly_reports("report-weekly"))
            weekly_file = weekly_download_for(1, "pdf")
        assert result[1].startswith("Refused") and result[2] is True
        assert result[3] == [] and result[7] == []  # no KPI, no reason leaks
        assert drilled.startswith("Refused") and "api.example" not in drilled
        assert exported[0] is no_update and exported[1].startswith("Refused")
        assert weekly.startswith("Refused")
        assert weekly_file[0] is no_update and weekly_file[1].startswith("Refused")
    assert Role.MANAGER.value == "manager"


def test_weekly_files_refuse_anything_but_a_known_report_and_format(web):
    from dashboard.callbacks.reports import weekly_download_for, weekly_file

    with _As(web, "maya"):
        for report_id, fmt in [
            ("../../etc/passwd", "pdf"),
            (1, "../../etc/passwd"),
            (1, "pdf"),  # no report produced yet
            (True, "csv"),
            (None, "csv"),
        ]:
            with pytest.raises(CertpushError):
                weekly_file(report_id, fmt)
        assert weekly_download_for("../x", "pdf")[0] is no_update


def test_bad_custom_period_is_explained(web):
    from dashboard.callbacks.reports import render_report

    with _As(web, "maya"):
        result = render_report("custom", "2026-05-10", "2026-05-04", "auto")
    assert "before it starts" in result[1] and result[2] is True


def test_xlsx_export_of_the_selected_period(web, capsys):
    from dashboard.callbacks.reports import export_for

    with _As(web, "maya"):
        (download, message), ms = _timed(export_for, "xlsx", *WEEK)
    assert message == ""
    content = base64.b64decode(download["content"])
    assert content[:2] == b"PK"
    assert download["filename"].endswith(".xlsx")
    print(f"\nexport xlsx: {ms:.0f} ms")


def test_produced_weekly_reports_are_listed_and_served_from_the_report_folder(web):
    from datetime import date

    from dashboard.callbacks.reports import show_weekly_reports, weekly_download_for
    from data.models import Report

    settings = web.config["CERTPUSH_SETTINGS"]
    folder = settings.report_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "week-2026-05-04.csv").write_text("work_order\nWO-000001\n")
    (folder.parent / "secret.csv").write_text("not for download")
    with session_scope(settings.database_url) as db:
        good = Report(kind="weekly", period_start=date(2026, 5, 4), period_end=date(2026, 5, 10),
                      time_zone="UTC", produced_at=at("2026-05-11 06:00"),
                      files=json.dumps({"csv": "week-2026-05-04.csv"}))  # fmt: skip
        evil = Report(kind="weekly", period_start=date(2026, 4, 27), period_end=date(2026, 5, 3),
                      time_zone="UTC", produced_at=at("2026-05-04 06:00"),
                      files=json.dumps({"csv": "../secret.csv"}))  # fmt: skip
        db.add_all([good, evil])
        db.flush()
        good_id, evil_id = good.id, evil.id
    with _As(web, "olivia"):
        listed = _text(show_weekly_reports("report-weekly"))
        download, message = weekly_download_for(good_id, "csv")
        refused = weekly_download_for(evil_id, "csv")
        missing = weekly_download_for(good_id, "pdf")
    assert "2026-05-04 to 2026-05-10 (UTC)" in listed
    assert message == "" and download["filename"] == "week-2026-05-04.csv"
    assert base64.b64decode(download["content"]).startswith(b"work_order")
    assert refused[0] is no_update and refused[1]
    assert missing[0] is no_update and missing[1]


def test_callback_timings_on_a_warm_process(web, capsys):
    from dashboard.callbacks.reports import drill_down_for, render_report

    click = {"points": [{"customdata": ["2026-05-04", "2026-05-04", "failed_verification"]}]}
    with _As(web, "maya"):
        render_report(*WEEK, "auto")
        _, render_ms = _timed(render_report, *WEEK, "auto")
        _, drill_ms = _timed(drill_down_for, "report-trend", click, *WEEK)
    print(f"\nwarm render_report: {render_ms:.0f} ms, drill_down: {drill_ms:.0f} ms")
    assert render_ms < 2000 and drill_ms < 1000  # a handful of pushes: generous bounds
