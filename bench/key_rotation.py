"""Benchmark: master key rotation speed, in values re-sealed per second, on SQLite (and
PostgreSQL when a server URL is given).

Fills a fresh database with ``--values`` sealed values (bench/sealed_data.py: four in five
private keys of an RSA-2048 PKCS#8's size, the rest connector secrets, and 10 queued task
secrets), all under one key. Then, for each batch size, makes a new key current and times
``rotate_values`` (what ``certpush keys rotate`` runs) moving every value to it; the
values are opened with the final key afterwards to prove the run. Last, the whole
``certpush keys rotate`` command, as a process (start-up included), at its default batch.

Run: python bench/key_rotation.py [--values 10000] [--batches 100,500,2000]
                                  [--postgres-url postgresql+psycopg://user@host/db]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.sealed_data import fill, open_all, split
from data.config import Settings
from data.crypto import Vault, create_key_file, load_vault
from data.db import engine_for
from data.keyring import rotate_values
from data.schema import upgrade

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new database on that server for this run, dropped afterwards."""
    name = f"certpush_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(label: str, url: str, folder: Path, values: int, batches: list[int]) -> None:
    upgrade(url)
    vault = Vault.of(os.urandom(32))
    began = time.perf_counter()
    fill(url, vault, split(values))
    print(f"{label}: {values:,} sealed values made in {time.perf_counter() - began:.1f} s")
    for batch in batches:
        vault = vault.with_current(os.urandom(32))
        report = rotate_values(url, vault, actor="bench", batch=batch)
        moved = report.total_moved
        assert moved == values and not report.failures, report.to_json()
        print(
            f"  rotate_values, batch {batch:>5}: {moved:,} values in {report.seconds:6.2f} s "
            f"= {moved / report.seconds:8,.0f} values/s ({report.batches} transactions)"
        )
    opened = open_all(url, Vault.of(vault.key))
    assert opened.total == values and not opened.failed, opened.failed[:3]

    settings = Settings.for_folder(folder, database_url=url)
    create_key_file(settings.master_key_file, vault.keys[:1])
    env = {**os.environ, "CERTPUSH_INSTANCE": str(folder), "DATABASE_URL": url}
    env.pop("CERTPUSH_MASTER_KEY", None)
    env.pop("CERTPUSH_MASTER_KEY_FILE", None)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "keys", "rotate", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - began
    report = json.loads(done.stdout)
    moved = sum(report["moved"].values())
    assert moved == values and load_vault(settings).key_id.hex() == report["current"]
    print(
        f"  certpush keys rotate (process, batch 500): {moved:,} values in {wall:.2f} s "
        f"= {moved / wall:,.0f} values/s (rotation itself {report['seconds']:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--values", type=int, default=10_000)
    parser.add_argument("--batches", default="100,500,2000")
    parser.add_argument("--postgres-url", help="a server where databases may be created")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(prefix="certpush-bench-keys-") as tmp:
        folder = Path(tmp)
        run(
            "SQLite",
            f"sqlite:///{folder / 'sqlite' / 'certpush.db'}",
            folder / "sqlite",
            args.values,
            batches,
        )
        if args.postgres_url:
            with postgres_database(args.postgres_url) as url:
                run("PostgreSQL", url, folder / "postgresql", args.values, batches)


if __name__ == "__main__":
    main()
