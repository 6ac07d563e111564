"""Report exports (CSV, XLSX, PDF), the report CLI and the weekly report, on real databases.

One hand-made week around the end of March 2026, when Paris moves its clocks (Sunday
29 March): five pushes fall in the Paris week 23–29 March, two just outside it, and
the UTC week of the same dates holds a different five.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import func, select

from data import audit
from data.audit_chain import chain_head
from data.config import Settings
from data.db import session_scope
from data.domain.errors import CertpushError
from data.domain.periods import Period, zone
from data.models import AuditEvent, Report
from data.report_files import FORMATS, list_reports, report_file
from data.schema import upgrade
from data.users import add_user
from jobs.scheduler import last_weekly_run, weekly_report_trigger
from jobs.weekly_report import produce_week
from reports.exports import file_name, report_bytes, write_report
from tests.cli_auth import stdin_for
from tests.report_fixtures import ReportWorld

SECRET = b"SEALED-SECRET-NEVER-EXPORTED"
PARIS = zone("Europe/Paris")
WEEK = Period.parse("2026-03-23", "2026-03-29", PARIS)
PRODUCED = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)  # Monday 08:00 in Paris
FORMULA_CN = '=HYPERLINK("http://evil.example")'


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_week(session) -> None:
    """WO-1..5 in the Paris week (2 verified, 1 failed verification, 1 push failed,
    1 pending); WO-6 the Sunday before (23:30 Paris), WO-7 the Monday after (00:30)."""
    w = ReportWorld(session)
    a = w.certificate("a.example", at("2027-01-01T00:00"))
    b = w.certificate(FORMULA_CN, at("2027-01-01T00:00"))
    edge1 = w.connector("edge-1", "ssh", endpoints=2)
    edge2 = w.connector("edge-2", "local")
    both = ["match", "match"]
    # Monday 00:30 in Paris, still Sunday in UTC.
    w.push(a, edge1, requested=at("2026-03-22T20:00"), pushed=at("2026-03-22T23:30"),
           sweeps=[(at("2026-03-22T23:40"), both)])  # fmt: skip
    w.push(b, edge2, requested=at("2026-03-24T08:00"), pushed=at("2026-03-24T10:00"),
           sweeps=[(at("2026-03-24T10:10"), ["match"])])  # fmt: skip
    w.push(a, edge1, requested=at("2026-03-25T08:00"), pushed=at("2026-03-25T10:00"),
           sweeps=[(at("2026-03-25T10:10"), ["match", "mismatch"])])  # fmt: skip
    w.push(b, edge2, requested=at("2026-03-26T08:00"), pushed=at("2026-03-26T10:00"),
           installed=False, reason_class="auth")  # fmt: skip
    w.push(a, edge2, requested=at("2026-03-29T20:00"), pushed=at("2026-03-29T21:30"))
    # Sunday 23:30 in Paris (the week before); Monday 00:30 CEST (the week after).
    w.push(b, edge1, requested=at("2026-03-22T20:00"), pushed=at("2026-03-22T22:30"),
           sweeps=[(at("2026-03-22T23:40"), both)])  # fmt: skip
    w.push(a, edge1, requested=at("2026-03-29T20:00"), pushed=at("2026-03-29T22:30"),
           installed=False, reason_class="timeout")  # fmt: skip


@pytest.fixture
def week(settings: Settings) -> Settings:
    with session_scope(settings.database_url) as session:
        build_week(session)
    return settings


@pytest.fixture
def sqlite_week(sqlite_settings: Settings) -> Settings:
    with session_scope(sqlite_settings.database_url) as session:
        build_week(session)
    return sqlite_settings


def export(settings: Settings, fmt: str, folder: Path, period: Period = WEEK) -> Path:
    out = folder / file_name(period, fmt)
    with session_scope(settings.database_url) as session:
        write_report(session, period, fmt, out, now=PRODUCED)
    return out


def xlsx_text(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_images(path: Path) -> int:
    listing = subprocess.run(
        ["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return len(listing.splitlines()) - 2  # two header lines


# ----------------------------------------------------------------------------- CSV


def test_csv_has_one_row_per_push_of_the_local_week(week, tmp_path):
    out = export(week, "csv", tmp_path)
    assert out.name == "push-validation_2026-03-23_2026-03-29.csv"
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame["work_order"]) == [f"WO-00000{i}" for i in range(1, 6)]
    assert frame["state"].value_counts().to_dict() == {
        "verified": 2,
        "failed_verification": 1,
        "push_failed": 1,
        "pending": 1,
    }
    assert frame.loc[0, "pushed_at"] == "2026-03-22T23:30:00Z"  # ISO 8601 UTC
    assert frame.loc[2, "failure_outcomes"] == "mismatch"
    assert frame.loc[2, "endpoints_failed"] == "1"
    assert frame.loc[1, "certificate_cn"] == "'" + FORMULA_CN  # never a live formula
    assert SECRET not in out.read_bytes()


def test_the_utc_week_of_the_same_dates_holds_other_pushes(week, tmp_path):
    utc_week = Period.parse("2026-03-23", "2026-03-29", zone("UTC"))
    frame = pd.read_csv(export(week, "csv", tmp_path, utc_week), dtype=str)
    assert list(frame["work_order"]) == ["WO-000002", "WO-000003", "WO-000004", "WO-000005",
                                         "WO-000007"]  # fmt: skip


def test_unknown_format_is_refused_with_a_message(week, tmp_path):
    with session_scope(week.database_url) as session, pytest.raises(CertpushError, match="csv"):
        write_report(session, WEEK, "docx", tmp_path / "x.docx", now=PRODUCED)
    with pytest.raises(CertpushError, match="unknown report format"):
        file_name(WEEK, "html")
    assert not list(tmp_path.iterdir())


def test_report_bytes_is_the_file(sqlite_week, tmp_path):
    with session_scope(sqlite_week.database_url) as session:
        data = report_bytes(session, WEEK, "csv", now=PRODUCED)
    assert data == export(sqlite_week, "csv", tmp_path).read_bytes()


# ----------------------------------------------------------------------------- XLSX


def test_xlsx_sheets_figures_chart_and_pushes(week, tmp_path):
    out = export(week, "xlsx", tmp_path)
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [
        "Summary",
        "Pushes",
        "Failure reasons",
        "By connector type",
        "By device",
        "Evidence",
    ]
    summary = book["Summary"]
    assert summary["A2"].value == "Period: 2026-03-23 to 2026-03-29 (Europe/Paris)"
    figures = {summary.cell(r, 1).value: summary.cell(r, 2).value for r in range(6, 13)}
    assert figures["Pushes"] == 5
    assert figures["Verified"] == 2
    assert figures["Failed verification"] == 1
    assert figures["Push failed"] == 1
    assert figures["Pending"] == 1
    assert figures["Success rate (verified / decided)"] == pytest.approx(0.5)
    assert summary._charts, "the Summary sheet has a native chart"
    trend_days = [
        summary.cell(r, 1).value.date()
        for r in range(1, summary.max_row + 1)
        if isinstance(summary.cell(r, 1).value, datetime)
    ]
    assert len(trend_days) == 7 and str(trend_days[0]) == "2026-03-23"

    pushes = book["Pushes"]
    assert pushes.freeze_panes == "A2"
    assert pushes.auto_filter.ref.startswith("A1:")
    rows = list(pushes.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 5
    assert rows[0][8] == datetime(2026, 3, 22, 23, 30)  # a real date, in UTC
    cn = pushes.cell(3, 3)
    assert cn.value == FORMULA_CN and cn.data_type == "s"  # text, not a formula

    reasons = [r for r in book["Failure reasons"].iter_rows(min_row=2, values_only=True)]
    assert {(r[1], r[2]) for r in reasons} == {("verification:mismatch", 1), ("push:auth", 1)}
    types = {r[0]: r for r in book["By connector type"].iter_rows(min_row=2, values_only=True)}
    assert set(types) == {"ssh", "local"}
    assert SECRET not in xlsx_text(out)


# ----------------------------------------------------------------------------- PDF


def test_pdf_shows_period_figures_charts_and_reasons(week, tmp_path):
    out = export(week, "pdf", tmp_path)
    text = pdf_text(out)
    assert "Push Validation Report" in text
    assert "2026-03-23 to 2026-03-29 (Europe/Paris)" in text
    for label, value in (("Pushes", "5"), ("Verified", "2"), ("Pending", "1")):
        assert re.search(rf"^\s*{label}\s+{value}\s*$", text, re.M), label
    assert "50.0%" in text
    assert "Verification: another certificate served" in text
    assert "Push: authentication refused" in text
    assert SECRET.decode() not in text and SECRET not in out.read_bytes()
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(out), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page-*.png"))
    if shutil.which("chromium"):
        assert pdf_images(out) >= 2  # trend and breakdown charts drawn by Plotly


def test_pdf_without_a_browser_draws_charts_natively(sqlite_week, tmp_path, monkeypatch):
    monkeypatch.setenv("CERTPUSH_STATIC_CHARTS", "native")
    out = export(sqlite_week, "pdf", tmp_path)
    assert pdf_images(out) == 0
    text = pdf_text(out)
    assert re.search(r"^\s*Pushes\s+5\s*$", text, re.M)
    assert "Verified" in text and "Push failed" in text  # chart legends and the table


# ----------------------------------------------------------------------------- evidence


def test_xlsx_and_pdf_carry_the_audit_chain_head_of_the_period_end(sqlite_week, tmp_path):
    """The head of the last event stamped before Monday 00:00 in Paris (Sunday 22:00 UTC),
    not of one stamped later: a copy of the chain kept outside the database."""
    url = sqlite_week.database_url
    for stamp in ("2026-03-24T09:00", "2026-03-29T21:59:59.999999", "2026-03-29T22:00"):
        with session_scope(url) as session:
            audit.record(session, actor="ravi", action="test.event", now=at(stamp))
    with session_scope(url) as session:
        head = chain_head(session, WEEK.end)
        stamped = session.scalar(select(AuditEvent.at).where(AuditEvent.seq == head.seq))
    assert head.seq >= 2 and stamped == at("2026-03-29T21:59:59.999999")
    book = openpyxl.load_workbook(export(sqlite_week, "xlsx", tmp_path))
    evidence = {r[0]: r[1] for r in book["Evidence"].iter_rows(values_only=True)}
    assert evidence["Event seq"] == str(head.seq)
    assert evidence["Event SHA-256"] == head.hash
    assert evidence["Check"] == f"certpush audit verify --expect {head.seq}:{head.hash}"
    assert (
        "2026-03-30 00:00 (Europe/Paris), 2026-03-29 22:00 UTC"
        in (evidence["Audit chain head at the end of the period"])
    )
    text = re.sub(r"\s+", "", pdf_text(export(sqlite_week, "pdf", tmp_path)))
    assert f"Eventseq:{head.seq}" in text and f"EventSHA-256:{head.hash}" in text


# ----------------------------------------------------------------------------- weekly


def paris(settings: Settings) -> Settings:
    return dataclasses.replace(settings, report_time_zone="Europe/Paris")


def test_weekly_report_is_produced_once(week):
    settings = paris(week)
    first = produce_week(settings, now=PRODUCED)
    assert first is not None
    assert (first.period_start.isoformat(), first.period_end.isoformat()) == (
        "2026-03-23",
        "2026-03-29",
    )
    assert produce_week(settings, now=PRODUCED) is None
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1
        listed = list_reports(session)
    assert [r.id for r in listed] == [first.id] and listed[0].formats == FORMATS
    files = sorted(p.name for p in settings.report_folder.iterdir())
    assert files == sorted(json.loads(first.files).values()) and len(files) == 3
    assert all("Europe-Paris" in name for name in files)
    csv = pd.read_csv(report_file(settings, first.id, "csv"), dtype=str)
    assert len(csv) == 5
    assert report_file(settings, first.id, "pdf").read_bytes().startswith(b"%PDF")


def test_two_weekly_runs_at_once_produce_one_report(sqlite_week, monkeypatch):
    monkeypatch.setenv("CERTPUSH_STATIC_CHARTS", "native")  # keep both threads quick
    settings = paris(sqlite_week)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: produce_week(settings, now=PRODUCED), range(2)))
    assert sum(r is not None for r in results) == 1
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1
    assert len(list(settings.report_folder.iterdir())) == 3  # no leftover temporary files


def test_report_file_refuses_bad_formats_unknown_ids_and_traversal(sqlite_week):
    settings = paris(sqlite_week)
    report = produce_week(settings, now=PRODUCED)
    with pytest.raises(CertpushError, match="unknown report format"):
        report_file(settings, report.id, "exe")
    with pytest.raises(CertpushError, match="no report"):
        report_file(settings, report.id + 1, "csv")
    with session_scope(settings.database_url) as session:
        session.get(Report, report.id).files = json.dumps({"csv": "../certpush.db"})
    with pytest.raises(CertpushError, match="outside the report folder"):
        report_file(settings, report.id, "csv")


def test_weekly_schedule_is_local_time():
    settings = dataclasses.replace(
        Settings.for_folder(Path("/nonexistent")),
        report_time_zone="Europe/Paris",
        report_weekday="mon",
        report_time="06:00",
    )
    trigger = weekly_report_trigger(settings)
    before = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    # 06:00 in Paris after the clocks moved on Sunday 29 March is 04:00 UTC.
    assert trigger.get_next_fire_time(None, before) == datetime(2026, 3, 30, 4, 0, tzinfo=UTC)
    assert last_weekly_run(settings, datetime(2026, 3, 30, 3, 59, tzinfo=UTC)) == datetime(
        2026, 3, 23, 5, 0, tzinfo=UTC
    )
    bad = dataclasses.replace(settings, report_time="six")
    with pytest.raises(CertpushError, match="HH:MM"):
        weekly_report_trigger(bad)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(tmp_path):
    instance = tmp_path / "instance"
    env = {
        **os.environ,
        "CERTPUSH_INSTANCE": str(instance),
        "CERTPUSH_REPORT_TZ": "Europe/Paris",
        "CERTPUSH_STATIC_CHARTS": "native",
    }
    for name in ("DATABASE_URL", "CERTPUSH_MASTER_KEY", "CERTPUSH_REPORTS_DIR"):
        env.pop(name, None)
    settings = Settings.from_env(env)
    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        build_week(session)
        add_user(session, "mona", "manager", "manager-pass-1", PRODUCED)
        add_user(session, "otto", "operator", "operator-pass-1", PRODUCED)

    passwords = {"mona": "manager-pass-1", "otto": "operator-pass-1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args],
            input=stdin_for(args, passwords),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    run.settings = settings
    return run


def test_cli_report_writes_the_file_and_prints_the_figures(cli, tmp_path):
    out = tmp_path / "week.xlsx"
    args = ("--from", "2026-03-23", "--to", "2026-03-29", "--format", "xlsx")
    result = cli("report", *args, "--out", str(out), "--as", "otto")
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert "5 pushes: 2 verified, 1 failed verification, 1 push failed, 1 pending" in result.stdout
    assert "success rate 50.0%" in result.stdout
    assert openpyxl.load_workbook(out)["Summary"]["B6"].value == 5
    utc = cli("report", *args[:4], "--format", "csv", "--out", str(tmp_path), "--tz", "UTC")
    assert utc.returncode == 0, utc.stderr
    assert (tmp_path / "push-validation_2026-03-23_2026-03-29.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-03-23", "--to", "29/03/2026", "--format", "csv"), "YYYY-MM-DD"),
        (("--from", "2026-03-29", "--to", "2026-03-23", "--format", "csv"), "before it starts"),
        (("--from", "2026-03-23", "--to", "2026-03-29", "--format", "docx"), "unknown format"),
        (
            (
                "--from",
                "2026-03-23",
                "--to",
                "2026-03-29",
                "--format",
                "csv",
                "--tz",
                "Mars/Olympus",
            ),
            "unknown time zone",
        ),
        (
            ("--from", "2026-03-23", "--to", "2026-03-29", "--format", "csv", "--as", "nobody"),
            "wrong user name or password",
        ),
    ],
)
def test_cli_report_errors_are_one_line(cli, tmp_path, args, message):
    result = cli("report", *args, "--out", str(tmp_path / "r.out"))
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.out").exists()


def test_cli_report_to_an_unwritable_place(cli, tmp_path):
    args = ("--from", "2026-03-23", "--to", "2026-03-29", "--format", "pdf")
    missing = cli("report", *args, "--out", str(tmp_path / "no" / "such" / "r.pdf"))
    assert missing.returncode != 0 and "does not exist" in missing.stderr
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    # Root writes into a read-only folder; nobody writes into /proc.
    target = locked if not os.access(locked, os.W_OK) else Path("/proc")
    result = cli("report", *args, "--out", str(target / "r.pdf"))
    assert result.returncode != 0 and "cannot write" in result.stderr
    assert "Traceback" not in result.stderr
    locked.chmod(0o700)


def test_cli_report_weekly_runs_once_and_checks_the_role(cli):
    denied = cli("report-weekly", "--now", "2026-03-30T08:00+02:00", "--as", "otto")
    assert denied.returncode != 0 and "may not produce reports" in denied.stderr
    first = cli("report-weekly", "--now", "2026-03-30T08:00+02:00", "--as", "mona")
    assert first.returncode == 0, first.stderr
    assert "2026-03-23 to 2026-03-29 (Europe/Paris)" in first.stdout
    again = cli("report-weekly", "--now", "2026-03-30T09:00+02:00", "--as", "mona")
    assert again.returncode == 0 and "already exists" in again.stdout
    assert len(list(cli.settings.report_folder.iterdir())) == 3
