"""Generate a large push history for the report benchmark: work orders, attempts, sweeps
and verification results, bulk-inserted into a migrated database (SQLite or PostgreSQL).

Defaults: 100,000 work orders over the last 120 days (so a 90-day period holds about
75,000), 500 connectors with 5 endpoints each, and about 1,000,000 verification result
rows (each swept push has its deciding sweep and one or two later sweeps, 5 rows each).
Outcomes: about 85 % verified, 7 % failed verification, 4 % push failed, 4 % pending.

Run: python bench/report_data.py --url sqlite:////tmp/reports.db [--work-orders 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from data.db import session_scope
from data.models import (
    Certificate,
    Connector,
    Endpoint,
    PushAttempt,
    PushRequest,
    VerificationResult,
    VerificationSweep,
    WorkOrder,
)
from data.schema import upgrade

ENDPOINTS_PER_CONNECTOR = 5
BATCH = 20_000
PUSH_FAILURES = ["auth", "unreachable", "timeout", "host_key", "reload_failed", "permission"]
VERIFY_FAILURES = ["mismatch", "timeout", "refused", "tls_error", "reset"]


def fp(i: int, kind: str = "c") -> str:
    return f"{kind}{i:063x}"[:64]


def _bulk(session, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(model), rows[start : start + BATCH])


def generate(url: str, *, work_orders: int, days: int, connectors: int, seed: int) -> dict:
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    upgrade(url)
    t0 = time.perf_counter()
    certs = max(100, work_orders // 50)
    with session_scope(url) as s:
        _bulk(
            s,
            Certificate,
            [
                {
                    "id": i + 1,
                    "fingerprint_sha256": fp(i),
                    "common_name": f"svc-{i:05d}.bench.example",
                    "subject": f"CN=svc-{i:05d}.bench.example",
                    "issuer": "CN=Bench CA",
                    "sans": "",
                    "serial": str(i),
                    "not_before": now - timedelta(days=300),
                    "not_after": now + timedelta(days=rnd.randint(-30, 400)),
                    "key_type": "EC",
                    "key_size": 256,
                    "signature_algorithm": "ecdsa-with-SHA256",
                    "extended_key_usage": "",
                    "is_ca": False,
                    "der": b"x",
                    "parse_warnings": "",
                    "source": "bench",
                    "imported_at": now - timedelta(days=300),
                    "push_failed": False,
                    "drift": False,
                }
                for i in range(certs)
            ],
        )
        _bulk(
            s,
            Connector,
            [
                {
                    "id": c + 1,
                    "name": f"device-{c:04d}",
                    "type": "ssh" if c % 10 < 7 else "local",
                    "settings": "{}",
                    "secret_kind": None,
                    "sealed_secret": None,
                    "created_at": now - timedelta(days=300),
                    "created_by": "bench",
                }
                for c in range(connectors)
            ],
        )
        _bulk(
            s,
            Endpoint,
            [
                {
                    "id": c * ENDPOINTS_PER_CONNECTOR + e + 1,
                    "connector_id": c + 1,
                    "host": f"10.0.{c // 250}.{c % 250}",
                    "port": 443 + e,
                    "sni": "",
                }
                for c in range(connectors)
                for e in range(ENDPOINTS_PER_CONNECTOR)
            ],
        )
    requests, orders, attempts, sweeps, results = [], [], [], [], []
    span = days * 86400
    result_id = 0
    for w in range(work_orders):
        wo_id = w + 1
        cert = rnd.randrange(certs) + 1
        conn = rnd.randrange(connectors) + 1
        pushed = now - timedelta(seconds=rnd.randrange(span))
        requested = pushed - timedelta(minutes=rnd.randint(5, 600))
        roll = rnd.random()
        installed = roll >= 0.04
        pending = 0.04 <= roll < 0.08
        failed_verification = 0.08 <= roll < 0.15
        requests.append(
            {
                "id": wo_id,
                "certificate_id": cert,
                "requester": "olivia",
                "comment": "",
                "created_at": requested,
            }
        )
        order = {
            "id": wo_id,
            "request_id": wo_id,
            "connector_id": conn,
            "status": "Completed" if installed else "Failed",
            "version": 5,
            "levels_done": 2,
            "reason": "" if installed else "push failed",
            "created_at": requested,
            "updated_at": pushed,
            "pushed_at": pushed,
            "verification": None,
            "verified_at": None,
        }
        reason_class = None if installed else rnd.choice(PUSH_FAILURES)
        attempts.append(
            {
                "certificate_id": cert,
                "connector_id": conn,
                "actor": "scheduler",
                "started_at": pushed - timedelta(seconds=3),
                "finished_at": pushed,
                "outcome": "installed" if installed else "failed",
                "reason_class": reason_class,
                "reason": reason_class or "",
                "duration_ms": 3000,
                "work_order_id": wo_id,
            }
        )
        if installed and not pending:
            bad = rnd.randrange(ENDPOINTS_PER_CONNECTOR) if failed_verification else -1
            failure = rnd.choice(VERIFY_FAILURES)
            delays = (15, 30, 45) if rnd.random() < 0.2 else (15, 30)
            for k, delay in enumerate(delays):
                at = pushed + timedelta(minutes=delay)
                sweep_id = len(sweeps) + 1
                sweeps.append(
                    {
                        "id": sweep_id,
                        "started_at": at - timedelta(seconds=2),
                        "finished_at": at,
                        "trigger": "schedule",
                        "endpoints": ENDPOINTS_PER_CONNECTOR,
                        "summary": "{}",
                    }
                )
                for e in range(ENDPOINTS_PER_CONNECTOR):
                    outcome = failure if (k == 0 and e == bad) else "match"
                    result_id += 1
                    results.append(
                        {
                            "id": result_id,
                            "sweep_id": sweep_id,
                            "endpoint_id": (conn - 1) * ENDPOINTS_PER_CONNECTOR + e + 1,
                            "connector_id": conn,
                            "certificate_id": cert,
                            "work_order_id": wo_id,
                            "at": at,
                            "expected_fingerprint": fp(cert - 1),
                            "served_fingerprint": fp(cert - 1) if outcome == "match" else None,
                            "served_subject": None,
                            "served_not_after": None,
                            "outcome": outcome,
                            "reason": outcome,
                            "latency_ms": 4,
                            "sni": None,
                            "drift": False,
                            "chain_valid": None,
                        }
                    )
                if k == 0:
                    order["verification"] = "failed" if bad >= 0 else "verified"
                    order["verified_at"] = at
        orders.append(order)
    with session_scope(url) as s:
        _bulk(s, PushRequest, requests)
        _bulk(s, WorkOrder, orders)
        _bulk(s, PushAttempt, attempts)
        _bulk(s, VerificationSweep, sweeps)
        _bulk(s, VerificationResult, results)
    if url.startswith("postgresql"):
        from data.db import engine_for

        with engine_for(url).connect() as conn:
            conn.exec_driver_sql("COMMIT")
            for table in ("work_orders", "verification_results", "push_attempts"):
                conn.exec_driver_sql(f"ANALYZE {table}")
    else:
        with session_scope(url) as s:
            s.connection().exec_driver_sql("ANALYZE")
    return {
        "work_orders": work_orders,
        "results": len(results),
        "sweeps": len(sweeps),
        "certificates": certs,
        "connectors": connectors,
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="database URL (a new, empty database)")
    parser.add_argument("--work-orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--connectors", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        generate(
            args.url,
            work_orders=args.work_orders,
            days=args.days,
            connectors=args.connectors,
            seed=args.seed,
        )
    )


if __name__ == "__main__":
    main()
