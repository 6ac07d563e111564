"""Benchmark: the Push Validation Report on a large history (SQLite, and PostgreSQL).

Generates (bench/report_data.py) 100,000 work orders and about 1,000,000 verification
results unless ``--url`` points at a database already generated, then times, for a
90-day period in Europe/Paris (median of ``--repeats``, each in a fresh session):
the data functions behind each panel, the Reports page's callbacks called as
functions (as Dash calls them), and the weekly report (previous week) as XLSX and PDF.

Run: python bench/report_speed.py [--url URL] [--repeats 3] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report_data import generate
from data.db import engine_for, session_scope
from data.domain.periods import Granularity, Period, zone

TZ = "Europe/Paris"


def timed(fn, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def data_functions(url: str, period: Period) -> dict:
    from data import reports as r

    def with_session(fn):
        def run():
            with session_scope(url) as s:
                fn(s)

        return run

    now = datetime.now(UTC)
    return {
        "kpis": with_session(lambda s: r.kpis(s, period)),
        "trend (days)": with_session(lambda s: r.trend(s, period, Granularity.DAY)),
        "trend (weeks)": with_session(lambda s: r.trend(s, period, Granularity.WEEK)),
        "by connector type": with_session(lambda s: r.by_connector_type(s, period)),
        "by device": with_session(lambda s: r.by_device(s, period)),
        "failure reasons": with_session(lambda s: r.failure_reasons(s, period)),
        "drill-down: failed": with_session(
            lambda s: r.work_orders_behind(s, period, r.Selection(state="failed"))
        ),
        "drill-down: reason": with_session(
            lambda s: r.work_orders_behind(s, period, r.Selection(reason="push:auth"))
        ),
        "expiry outlook": with_session(lambda s: r.expiry_outlook(s, now)),
    }


def page_callbacks(url: str) -> dict:
    """The page's callbacks called as functions, as Dash calls them, with a manager
    logged in (a Flask request context, as in tests/integration/test_report_callbacks.py)."""
    import dataclasses

    from flask_login import login_user

    from dashboard.app import app
    from dashboard.auth import WebUser
    from dashboard.callbacks import reports as cb
    from data.config import Settings
    from data.domain.errors import AuthError
    from data.users import add_user, authenticate, find_user

    folder = Path(tempfile.mkdtemp(prefix="certpush-report-bench-app-"))
    settings = dataclasses.replace(
        Settings.for_folder(folder, database_url=url), report_time_zone=TZ
    )
    with session_scope(url) as s:
        try:
            find_user(s, "bench-manager")
        except AuthError:
            add_user(s, "bench-manager", "manager", "bench password 1", datetime.now(UTC))
    server = app.server
    server.config["CERTPUSH_SETTINGS"] = settings

    def as_manager(fn):
        def run():
            with server.test_request_context("/_dash-update-component", method="POST"):
                with session_scope(url) as s:
                    login_user(WebUser(authenticate(s, "bench-manager", "bench password 1")))
                fn()

        return run

    with session_scope(url) as s:
        from data import reports as r

        period = Period.last_days(90, datetime.now(UTC), zone(TZ))
        trend = r.trend(s, period)
        failed = trend[trend["failed_verification"] > 0].iloc[-1]
    bar = {"points": [{"customdata": [str(failed.bucket), str(failed.bucket_last),
                                      "failed_verification"]}]}  # fmt: skip
    reason = {"rowId": "verification:mismatch"}
    device = {"points": [{"customdata": ["device-0001"]}]}
    return {
        "render report (90 days)": as_manager(lambda: cb.render_report("90", None, None, None)),
        "drill-down: failed bar": as_manager(
            lambda: cb.drill_down_for(cb.ids.REPORT_TREND, bar, "90", None, None)
        ),
        "drill-down: reason": as_manager(
            lambda: cb.drill_down_for(cb.ids.REPORT_REASONS, reason, "90", None, None)
        ),
        "drill-down: device": as_manager(
            lambda: cb.drill_down_for(cb.ids.REPORT_BY_DEVICE, device, "90", None, None)
        ),
        "export XLSX (90 days)": as_manager(lambda: cb.export_for("xlsx", "90", None, None)),
    }


def exports(url: str, period: Period, out: Path) -> dict:
    try:
        from reports.exports import write_report
    except ImportError:
        return {}

    def one(fmt: str):
        def run():
            with session_scope(url) as s:
                write_report(s, period, fmt, out / f"weekly.{fmt}", now=datetime.now(UTC))

        return run

    def both():
        one("xlsx")()
        one("pdf")()

    return {
        "weekly XLSX": one("xlsx"),
        "weekly PDF": one("pdf"),
        "weekly XLSX + PDF": both,
        "90-day CSV": lambda: _csv(url, out),
    }


def _csv(url: str, out: Path) -> None:
    from reports.exports import write_report

    period = Period.last_days(90, datetime.now(UTC), zone(TZ))
    with session_scope(url) as s:
        write_report(s, period, "csv", out / "90d.csv", now=datetime.now(UTC))


def bench(url: str, repeats: int, label: str) -> list[tuple[str, str, float]]:
    now = datetime.now(UTC)
    period = Period.last_days(90, now, zone(TZ))
    week = Period.week_before(now, zone(TZ))
    out = Path(tempfile.mkdtemp(prefix="certpush-report-bench-"))
    rows = []
    groups = [
        ("data", data_functions(url, period)),
        ("callback", page_callbacks(url)),
        ("export", exports(url, week, out)),
    ]
    for group, items in groups:
        for name, fn in items.items():
            fn()  # warm: imports, the first connection, the page cache of the database
            seconds = timed(fn, repeats)
            rows.append((group, name, seconds))
            print(f"  {label:10} {group:8} {name:28} {seconds * 1000:9.1f} ms", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an already generated database (else one is made)")
    parser.add_argument("--postgres-url", help="also generate into and time this PostgreSQL")
    parser.add_argument("--work-orders", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {}
    url = args.url
    if not url:
        path = Path(tempfile.mkdtemp(prefix="certpush-report-db-")) / "reports.db"
        url = f"sqlite:///{path}"
        print(f"generating {args.work_orders} work orders into {url} ...", flush=True)
        print(" ", generate(url, work_orders=args.work_orders, days=120, connectors=500, seed=1))
    os.environ["DATABASE_URL"] = url
    results["SQLite"] = bench(url, args.repeats, "SQLite")
    if args.postgres_url:
        print(f"generating into {args.postgres_url} ...", flush=True)
        print(" ", generate(args.postgres_url, work_orders=args.work_orders, days=120,
                            connectors=500, seed=1))  # fmt: skip
        os.environ["DATABASE_URL"] = args.postgres_url
        engine_for(url).dispose()
        results["PostgreSQL"] = bench(args.postgres_url, args.repeats, "PostgreSQL")
    print()
    print(f"Push Validation Report benchmark: 90-day period ({TZ}), weekly exports of the")
    print(f"previous week; median of {args.repeats}; CPUs: {os.cpu_count()}")
    names = [(g, n) for g, n, _ in next(iter(results.values()))]
    head = f"{'what':10} {'':30}" + "".join(f"{db:>14}" for db in results)
    print(head)
    print("-" * len(head))
    for group, name in names:
        cells = "".join(
            f"{next(s for g, n, s in rows if (g, n) == (group, name)) * 1000:>11.0f} ms"
            for rows in results.values()
        )
        print(f"{group:10} {name:30}{cells}")


if __name__ == "__main__":
    main()
