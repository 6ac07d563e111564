"""Produced reports as stored: the list the page shows and the files it serves.

Kept in ``data/`` so the web process reads them without importing the scheduler's
jobs; ``jobs/weekly_report.py`` writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select

from data.config import Settings
from data.db import session_scope
from data.domain.errors import CertpushError
from data.models import Report

# The report's file formats; the writers live in reports/exports.py.
FORMATS = ("csv", "xlsx", "pdf")
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class ReportInfo:
    """A produced report as the page lists it."""

    id: int
    kind: str
    period_start: date
    period_end: date
    time_zone: str
    produced_at: datetime
    formats: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.period_start:%Y-%m-%d} to {self.period_end:%Y-%m-%d} ({self.time_zone})"

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "time_zone": self.time_zone,
            "produced_at": self.produced_at.isoformat(),
            "formats": list(self.formats),
        }


def list_reports(session) -> list[ReportInfo]:
    """Produced reports, newest period first."""
    rows = session.scalars(
        select(Report).order_by(Report.period_start.desc(), Report.id.desc())
    ).all()
    return [
        ReportInfo(
            r.id,
            r.kind,
            r.period_start,
            r.period_end,
            r.time_zone,
            r.produced_at,
            tuple(f for f in FORMATS if f in json.loads(r.files or "{}")),
        )
        for r in rows
    ]


def report_file(settings: Settings, report_id: int, fmt: str) -> Path:
    """The file of a produced report in one format, for download.

    Raises CertpushError for an unknown format or report, a missing file, or a stored
    name that would lead outside the report folder.
    """
    if fmt not in FORMATS:
        raise CertpushError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    with session_scope(settings.database_url) as session:
        report = session.get(Report, report_id)
        files = json.loads(report.files or "{}") if report is not None else None
    if files is None:
        raise CertpushError(f"no report with id {report_id}")
    name = files.get(fmt)
    if not name:
        raise CertpushError(f"report {report_id} has no {fmt} file")
    folder = settings.report_folder.resolve()
    path = (folder / name).resolve()
    if Path(name).name != name or path.parent != folder:
        raise CertpushError(f"report {report_id} names a file outside the report folder")
    if not path.is_file():
        raise CertpushError(f"the {fmt} file of report {report_id} is missing from {folder}")
    return path
