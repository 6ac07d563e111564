"""Benchmark: ``GET /api/v1/certificates`` at a million certificates, over real HTTP.

What is measured
----------------
bench/grid_paging.py times ``data.queries.certificate_page`` in-process. The REST API
(issue 14) answers the same query from another face: a client sends
``Authorization: Bearer <token>``, gunicorn hands the request to Flask, flask-smorest
parses the query string, ``dashboard.api.caller`` looks the token up (and records its
use, a write), ``certificate_page`` runs, and the page is serialised to JSON. This
script times all of that from the client's side of a socket, the way an integration
calling the API sees it:

* the database is made by the real migrations and filled with N realistic rows by
  bench/grid_paging.py's generator (default 1,000,000);
* an operator user and a ``read`` token are created through ``data.users`` and
  ``data.api_tokens`` (the token is revoked at the end);
* ``certpush serve`` (gunicorn, ``--workers``) runs on a free port with
  ``CERTPUSH_INSTANCE``, ``DATABASE_URL`` and ``CERTPUSH_MASTER_KEY_FILE`` pointing into
  a temporary folder, so ``./instance`` is never touched;
* each query is called ``--warmup`` times untimed, then ``--repeats`` times timed with
  ``http.client`` on one connection object (it reconnects only when the server closes
  the connection; the table says how often that happened).

Why: the grid's target is a median under 150 ms server side; an API page of 100
certificates should not cost much more than the grid's block of 100 rows. The table
shows the median, the 95th percentile and the maximum per query, and the total the
API reported (``page.total``). Two lines marked ``*`` split the cost: ``limit=1`` is
the first page's query and token check with one row to serialise instead of 100, and
``/api/v1/health`` (no token, a trivial query) is the floor of HTTP, gunicorn and Flask.

``certpush serve`` runs gunicorn's sync workers, which close the connection after every
response whatever the client asks; the "new conn" column counts the calls that had to
open a TCP connection (on loopback this costs well under a millisecond).

Usage
-----
    .venv/bin/python bench/api_latency.py                     # 1M rows in a temp folder
    .venv/bin/python bench/api_latency.py --rows 200000 --repeats 20
    .venv/bin/python bench/api_latency.py --db /tmp/grid.db   # keep and reuse the data

Without ``--db`` everything happens in a temporary folder that is removed at the end.
With ``--db`` the file is kept (the same file bench/grid_paging.py makes and reuses);
only missing rows are generated, and the bench user is reused.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.grid_paging import generate, row_count  # noqa: E402
from data.api_tokens import create_token, revoke_token  # noqa: E402
from data.crypto import create_key_file  # noqa: E402
from data.db import session_scope  # noqa: E402
from data.domain.errors import AuthError  # noqa: E402
from data.users import add_user, find_user  # noqa: E402

USERNAME = "bench-api"
PASSWORD = "bench api latency passphrase"  # 12+ characters, not a common password
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Query:
    """One request to time; ``token`` False for the public floor line."""

    name: str
    path: str
    token: bool = True
    extra: bool = False  # beyond the brief's list: shown with '*'


@dataclass
class Result:
    query: Query
    times_ms: list[float] = field(default_factory=list)
    total: int | None = None
    reconnects: int = 0
    error: str | None = None  # the first unexpected answer, if any

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        """Inclusive 95th percentile: with 50 samples, between the 48th and 49th."""
        if len(self.times_ms) < 2:
            return self.times_ms[0]
        return statistics.quantiles(self.times_ms, n=20, method="inclusive")[18]

    @property
    def worst(self) -> float:
        return max(self.times_ms)


def queries(total_rows: int) -> list[Query]:
    """The brief's queries; the deep page is the middle of the table (offset 500,000 at 1M)."""
    base = "/api/v1/certificates?"
    middle = total_rows // 2
    return [
        Query("first page", base + "limit=100"),
        Query(f"offset={middle:,}", base + f"limit=100&offset={middle}"),
        Query("status=orange", base + "status=orange&limit=100"),
        Query("cn=web", base + "cn=web&limit=100"),
        Query("expiring_within=30", base + "expiring_within=30&limit=100"),
        Query("sort=-not_after", base + "sort=-not_after&limit=100"),
        Query("limit=1", base + "limit=1", extra=True),
        Query("health (no token, floor)", "/api/v1/health", token=False, extra=True),
    ]


# --------------------------------------------------------------------------- setup


def bench_token(url: str) -> tuple[int, str]:
    """An operator (made once per database) and a fresh read token for this run."""
    now = datetime.now(UTC)
    with session_scope(url) as session:
        try:
            find_user(session, USERNAME)
        except AuthError:
            add_user(session, USERNAME, "operator", PASSWORD, now=now, actor="bench")
    with session_scope(url) as session:
        info, secret = create_token(
            session,
            USERNAME,
            f"api-latency-{now:%Y%m%d-%H%M%S}",
            scope="read",
            actor="bench",
            actor_role="admin",
            now=now,
        )
        return info.id, secret


def drop_token(url: str, token_id: int) -> None:
    """A reused --db file keeps no live token of ours."""
    with session_scope(url) as session:
        revoke_token(session, token_id, actor="bench", actor_role="admin", now=datetime.now(UTC))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def certpush_serve(instance: Path, url: str, port: int, workers: int) -> Iterator[Path]:
    """``certpush serve`` on ``port`` until the block ends; yields the server's log file.

    Its own process group, so that gunicorn's workers are found even if ``serve`` dies
    before passing SIGTERM on; the group is killed only if a polite stop fails.
    """
    key_file = instance / "master.key"
    create_key_file(key_file)
    env = {
        **os.environ,
        "CERTPUSH_INSTANCE": str(instance),
        "DATABASE_URL": url,
        "CERTPUSH_MASTER_KEY_FILE": str(key_file),
    }
    env.pop("CERTPUSH_MASTER_KEY", None)
    log_path = instance / "server.log"
    command = [sys.executable, "-m", "jobs.cli", "serve", "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            wait_healthy(process, port, log_path)
            yield log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_healthy(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until /healthz answers 200; a server that exits or hangs fails with its log."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("certpush serve did not come up:\n" + log_path.read_text())
        time.sleep(0.2)


# --------------------------------------------------------------------------- timing


def call(conn: http.client.HTTPConnection, query: Query, headers: dict[str, str]):
    """One request; returns (ms, status, body, whether a new TCP connection was needed)."""
    reconnect = conn.sock is None
    began = time.perf_counter()
    conn.request("GET", query.path, headers=headers if query.token else {})
    response = conn.getresponse()
    body = response.read()
    return (time.perf_counter() - began) * 1000, response.status, body, reconnect


def check(query: Query, status: int, body: bytes) -> tuple[int | None, str | None]:
    """The reported total, or what was wrong with the answer."""
    if status != 200:
        return None, f"HTTP {status}: {body[:200].decode(errors='replace')}"
    if not query.path.startswith("/api/v1/certificates"):
        return None, None
    data = json.loads(body)
    page = data["page"]
    total = page["total"]
    expected = max(0, min(page["limit"], total - page["offset"]))
    if len(data["items"]) != expected:
        return total, f"{len(data['items'])} items, expected {expected}"
    return total, None


def time_query(
    conn: http.client.HTTPConnection, query: Query, token: str, warmup: int, repeats: int
) -> Result:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    result = Result(query)
    for _ in range(warmup):  # each gunicorn worker warms its caches and its engine
        call(conn, query, headers)
    for _ in range(repeats):
        ms, status, body, reconnect = call(conn, query, headers)
        total, error = check(query, status, body)
        result.times_ms.append(ms)
        result.reconnects += reconnect
        result.total = total if total is not None else result.total
        result.error = result.error or error
    return result


# --------------------------------------------------------------------------- report


def machine_line(workers: int) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores (os.cpu_count()), Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}, gunicorn --workers {workers}, load average {load}"
    )


def print_table(results: list[Result], repeats: int, warmup: int) -> None:
    width = max(len(r.query.name) for r in results) + 4
    header = f"{'query':{width}}{'total':>11}{'median':>9}{'p95':>9}{'max':>9}{'new conn':>10}"
    print(f"times in ms, client side, over {repeats} calls after {warmup} warm-up call(s);")
    print("total = page.total as reported; new conn = calls that had to open a TCP connection")
    print(header)
    print("-" * len(header))
    for r in results:
        name = ("* " if r.query.extra else "  ") + r.query.name
        total = f"{r.total:,}" if r.total is not None else "-"
        print(
            f"{name:{width}}{total:>11}{r.median:>9.1f}{r.p95:>9.1f}{r.worst:>9.1f}"
            f"{r.reconnects:>10}"
        )
    for r in results:
        if r.error:
            print(f"ERROR in '{r.query.name}': {r.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="certificates in the table")
    parser.add_argument(
        "--db", type=Path, help="SQLite file to create or reuse (kept); default: a temp folder"
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per query")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per query first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the synthetic rows")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="certpush-bench-api-"))
    db_path = args.db.resolve() if args.db else workdir / "certpush.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{db_path}"
    try:
        print(f"preparing {args.rows:,} rows in {db_path}", file=sys.stderr)
        added, gen_seconds = generate(db_path, args.rows, args.seed)
        total_rows = row_count(db_path)
        token_id, token = bench_token(url)
        port = free_port()
        results: list[Result] = []
        try:
            with certpush_serve(workdir, url, port, args.workers):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                try:
                    for query in queries(total_rows):
                        print(f"  timing: {query.name}", file=sys.stderr)
                        results.append(time_query(conn, query, token, args.warmup, args.repeats))
                finally:
                    conn.close()
        finally:
            drop_token(url, token_id)

        print()
        print("certpush REST API latency: GET /api/v1/certificates over HTTP (certpush serve)")
        print(machine_line(args.workers))
        if added:
            print(f"generation: {added:,} rows in {gen_seconds:.1f} s")
        else:
            print(f"generation: skipped, the database already holds {total_rows:,} rows")
        print(f"rows in table: {total_rows:,}; database: {db_path}")
        print()
        print_table(results, args.repeats, args.warmup)
        return 1 if any(r.error for r in results) else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
