"""Benchmark: from the Implement click to the push starting, through the real scheduler.

The web process only records the intent (status Push In Progress, no lease); the
scheduler process polls every 0.5 s and claims it. This measures, for N work
orders implemented one after another, the time between the implement event and
the scheduler's claim event (both written to the database with their times), and
until the push attempt finished. Uses a `local` connector writing to a temp folder.

Run: python bench/implement_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from data.config import Settings  # noqa: E402
from data.connectors import add_connector, bind  # noqa: E402
from data.crypto import generate_master_key, load_vault  # noqa: E402
from data.db import session_scope  # noqa: E402
from data.domain.workflow import Action, Actor, WorkOrderStatus  # noqa: E402
from data.importer import import_paths  # noqa: E402
from data.models import WorkOrderEvent  # noqa: E402
from data.profiles import load_book  # noqa: E402
from data.schema import upgrade  # noqa: E402
from data.workorders import act, get_work_order, request_push  # noqa: E402
from tests.servers import make_cert_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certpush-bench-implement-") as tmp:
        root = Path(tmp)
        settings = Settings.for_folder(root, master_key=generate_master_key())
        settings = replace(settings, local_connectors=True)
        # The administrator's device profile for this local "device": files only.
        settings.profiles_path.write_text(
            f'[profiles.bench-files]\nlayout = "separate"\nfolders = ["{root.resolve()}"]\n'
        )
        upgrade(settings.database_url)
        vault = load_vault(settings)
        now = datetime.now(UTC)
        certs = [make_cert_files(root / "in", f"c{i}.example") for i in range(args.runs)]
        with session_scope(settings.database_url) as db:
            import_paths(db, vault, [p for c in certs for p in c[:2]], now=now, actor="b")
            add_connector(
                db,
                vault,
                name="dev",
                type_name="local",
                settings={
                    "profile": "bench-files",
                    "cert_path": str(root / "site.crt"),
                    "key_path": str(root / "site.key"),
                },
                actor="b",
                role="admin",
                now=now,
                book=load_book(settings),
            )
            for _, _, fingerprint in certs:
                bind(db, "dev", fingerprint, actor="b", now=now)
        env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "CERTPUSH_MASTER_KEY": settings.master_key,
            "CERTPUSH_INSTANCE": tmp,
            "CERTPUSH_LOCAL_CONNECTORS": "on",
        }
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "jobs.scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        starts, ends = [], []
        try:
            time.sleep(3)  # the scheduler is up and polling
            for _, _, fingerprint in certs:
                t = datetime.now(UTC)
                with session_scope(settings.database_url) as db:
                    _, [wo] = request_push(db, fingerprint, actor=Actor("o", "operator"), now=t)
                    act(db, wo.id, Action.APPROVE, actor=Actor("r", "reviewer"), now=t)
                clicked = datetime.now(UTC)
                with session_scope(settings.database_url) as db:
                    act(db, wo.id, Action.IMPLEMENT, actor=Actor("i", "implementer"), now=clicked)
                while True:
                    with session_scope(settings.database_url) as db:
                        view = get_work_order(db, wo.id)
                        events = {
                            e.action: e.at
                            for e in db.scalars(
                                select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == wo.id)
                            )
                        }
                    if view.status in (WorkOrderStatus.COMPLETED, WorkOrderStatus.FAILED):
                        break
                    time.sleep(0.05)
                assert view.status is WorkOrderStatus.COMPLETED, view.reason
                starts.append((events["claim"] - events["implement"]).total_seconds() * 1000)
                ends.append((events["complete"] - events["implement"]).total_seconds() * 1000)
                time.sleep(0.37)  # de-phase from the 0.5 s poll between runs
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=15)
    print("certpush: Implement click -> push start, through the real scheduler process")
    print(f"CPUs: {os.cpu_count()}, runs: {args.runs}, scheduler poll: 0.5 s")
    print(f"{'measure':36} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, values in (("implement -> push started", starts), ("implement -> Completed", ends)):
        print(f"{name:36} {statistics.median(values):10.0f} {min(values):8.0f} {max(values):8.0f}")


if __name__ == "__main__":
    main()
