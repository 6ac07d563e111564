"""Benchmark: the cost of one audit write, plain (before the chain) versus chained.

What is measured
----------------
One audit event written in a transaction of its own (``session_scope`` + one event +
commit), the way a refused action or a user change is audited, timed from the
session's opening to the commit's return:

- ``plain``: what ``data.audit.record`` did before the hash chain: one INSERT;
- ``chained``: ``data.audit.record`` now: the INSERT, then at the commit the chain lock
  (PostgreSQL ``pg_advisory_xact_lock``; on SQLite the INSERT's write lock), one SELECT
  of the head, one UPDATE with seq, prev_hash and hash.

The two are interleaved (plain, chained, plain, …) after a warm-up, over a table
that already holds ``--existing`` chained events, so both see the same cache and the
same index depth. The plain rows have no seq (the column and its unique index exist
for both: that small cost is in both figures). With ``--writers N`` it also reports
the throughput of N processes appending at once, plain and chained: on PostgreSQL the
advisory lock serializes chained commits; on SQLite every write is serialized anyway.

Usage
-----
    .venv/bin/python bench/audit_chain.py                           # SQLite, temp folder
    .venv/bin/python bench/audit_chain.py --postgres "$(bash .ci/postgres)"   # both

``--postgres`` is a server URL where a database may be created: the benchmark makes
``certpush_bench_<random>`` and drops it at the end. Nothing in ./instance is touched.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from data import audit  # noqa: E402
from data.audit_chain import verify_chain  # noqa: E402
from data.db import engine_for, session_scope  # noqa: E402
from data.models import AuditEvent  # noqa: E402
from data.schema import upgrade  # noqa: E402


def plain_write(url: str, i: int) -> None:
    """The audit write as it was before the chain: the row alone, nothing at the commit."""
    with session_scope(url) as session:
        session.add(
            AuditEvent(
                at=datetime.now(UTC), actor="bench", action="bench.plain", target=f"p{i}", detail=""
            )
        )


def chained_write(url: str, i: int) -> None:
    with session_scope(url) as session:
        audit.record(
            session, actor="bench", action="bench.chained", now=datetime.now(UTC), target=f"c{i}"
        )


def fill(url: str, events: int) -> None:
    """``events`` chained events, a thousand per transaction."""
    done = 0
    while done < events:
        with session_scope(url) as session:
            for _ in range(min(1000, events - done)):
                audit.record(session, actor="fill", action="bench.fill", now=datetime.now(UTC))
                done += 1


def timed(write: Callable[[str, int], None], url: str, i: int) -> float:
    start = time.perf_counter()
    write(url, i)
    return (time.perf_counter() - start) * 1000


def _append(kind: str, url: str, first: int, each: int, ready, results) -> None:
    """One writer process: connect, wait for the others, append ``each`` events, report
    when it started and when it was done."""
    write = plain_write if kind == "plain" else chained_write
    with session_scope(url) as session:  # connected and imported before the clock starts
        session.execute(sa.text("SELECT 1"))
    ready.wait()
    start = time.time()
    for i in range(each):
        write(url, first + i)
    results.put((start, time.time()))


def throughput(kind: str, url: str, writers: int, each: int) -> float:
    """Events per second with ``writers`` processes (as gunicorn workers and the scheduler
    are) appending ``each`` events each, all at once."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(target=_append, args=(kind, url, n * each, each, ready, results))
        for n in range(writers)
    ]
    for p in procs:
        p.start()
    spans = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return writers * each / (max(e for _, e in spans) - min(s for s, _ in spans))


def bench(name: str, url: str, args: argparse.Namespace) -> None:
    upgrade(url)
    fill(url, args.existing)
    for i in range(args.warmup):
        plain_write(url, i)
        chained_write(url, i)
    plain, chained = [], []
    for i in range(args.runs):
        plain.append(timed(plain_write, url, i))
        chained.append(timed(chained_write, url, i))
    p50, c50 = statistics.median(plain), statistics.median(chained)
    p95 = statistics.quantiles(plain, n=20)[-1]
    c95 = statistics.quantiles(chained, n=20)[-1]
    print(f"{name}: {args.runs} writes each, over {args.existing:,} existing events")
    print(f"  plain    median {p50:6.3f} ms   p95 {p95:6.3f} ms")
    print(f"  chained  median {c50:6.3f} ms   p95 {c95:6.3f} ms")
    print(f"  cost of the chain: {c50 - p50:+.3f} ms per write (median), x{c50 / p50:.2f}")
    if args.writers:
        each = max(1, args.runs // args.writers)
        tp = throughput("plain", url, args.writers, each)
        tc = throughput("chained", url, args.writers, each)
        print(f"  {args.writers} writers at once: plain {tp:,.0f}/s, chained {tc:,.0f}/s")
    with session_scope(url) as session:
        report = verify_chain(session)
    # The plain rows are, by design, outside the chain: everything before them holds.
    assert report.problem is None or report.problem.kind.value == "unchained", report.problem
    print(f"  chain after the run: {report.events:,} events, head seq {report.head.seq}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="timed writes of each kind")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--existing", type=int, default=100_000, help="events already there")
    parser.add_argument("--writers", type=int, default=8, help="threads for throughput (0: no)")
    parser.add_argument("--postgres", help="server URL where a bench database may be created")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certpush-bench-audit-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        bench("SQLite (WAL, synchronous=NORMAL)", url, args)
        engine_for(url).dispose()
    if args.postgres:
        name = f"certpush_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
        try:
            bench("PostgreSQL", url, args)
        finally:
            engine_for(url).dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
