"""``certpush report`` and ``certpush report-weekly``: the Push Validation Report as files."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, actor_for, fail, require_schema, utc_now


def report_command(
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).")],
    last: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).")],
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or pdf.")],
    out: Annotated[
        Path, typer.Option("--out", help="The file to write, or a folder for the standard name.")
    ],
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="IANA time zone of the days (default: CERTPUSH_REPORT_TZ)."),
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Export the Push Validation Report for a range of days (CSV, XLSX or PDF)."""
    from data.db import session_scope
    from data.domain.periods import Period, zone
    from data.domain.roles import Permission
    from data.reports import kpis
    from reports.exports import FORMATS, file_name, kpi_summary, write_report

    settings = Settings.from_env()
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    try:
        period = Period.parse(first, last, zone(tz or settings.report_time_zone))
    except CertpushError as exc:
        raise fail(str(exc)) from None
    require_schema(settings)
    path = out / file_name(period, fmt) if out.is_dir() else out
    if not path.parent.is_dir():
        raise fail(f"cannot write {path}: the folder {path.parent} does not exist")
    try:
        with session_scope(settings.database_url) as session:
            actor_for(session, as_user, Permission.VIEW_REPORTS)
            write_report(session, period, fmt, path, now=utc_now())
            figures = kpis(session, period)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {path}")
    typer.echo(f"{period.label()}: {kpi_summary(figures)}")


def report_weekly_command(
    now: Annotated[
        str | None,
        typer.Option(help="Act as if it were this ISO 8601 time (its previous week is produced)."),
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Produce last week's report into the report folder now, unless it already exists."""
    from data.db import session_scope
    from data.domain.roles import Permission
    from jobs.weekly_report import produce_week

    settings = Settings.from_env()
    when = utc_now()
    if now:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise fail(f"--now {now!r} is not an ISO 8601 time (2026-03-30T06:00+02:00)") from None
        if when.tzinfo is None:
            raise fail("--now needs a time zone offset, e.g. 2026-03-30T06:00+02:00 or ...Z")
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor_for(session, as_user, Permission.PRODUCE_REPORTS)
        report = produce_week(settings, now=when)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write to {settings.report_folder}: {exc.strerror or exc}") from None
    if report is None:
        typer.echo("the report for that week already exists: nothing to do")
        return
    typer.echo(
        f"weekly report {report.period_start} to {report.period_end} ({report.time_zone})"
        f" written to {settings.report_folder}"
    )
    for name in json.loads(report.files).values():
        typer.echo(f"  {name}")
