"""Benchmark: how many certificates per second ``certpush import`` takes in.

What is measured
----------------
A folder of N real PEM certificates (default 5,000, one per file, signed by a
throw-away EC P-256 CA, with the usual extensions: SAN, EKU, key usage, basic
constraints, key identifiers) is imported four ways, each into a fresh SQLite
database made by ``certpush db upgrade``:

* CLI, new: ``certpush import FOLDER --json`` as a subprocess, wall time, the
  way an operator or a script runs it (interpreter start-up, imports, parsing,
  bulk INSERTs with the FTS triggers, the commit and the JSON report included);
* CLI, duplicates: the same command again on the same database, where every
  certificate is already present;
* CLI fixed cost: the same command on an empty folder, so the per-certificate
  rate can be told apart from start-up;
* in process: ``data.importer.import_paths`` inside ``session_scope`` (commit
  included), new and then duplicates, without start-up or JSON.

Every run checks that all N results are "imported" (or "duplicate" on the
second pass). The target is at least 2,000 certificates per second; when a
median falls short (or with ``--profile``) the in-process import is run once
more under cProfile and the top functions are printed.

Usage
-----
    .venv/bin/python bench/import_throughput.py            # 5,000 certificates
    .venv/bin/python bench/import_throughput.py --certs 20000 --repeats 1
    .venv/bin/python bench/import_throughput.py --profile

Everything happens in a temporary folder that is removed at the end (``--keep``
keeps it); ``CERTPUSH_INSTANCE`` points into it, so ``./instance`` is never touched.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from data.config import Settings
from data.crypto import load_vault
from data.db import engine_for, session_scope
from data.importer import import_paths
from data.schema import upgrade

TARGET_PER_SECOND = 2000.0
FILES_PER_FOLDER = 1000
LEAF_KEYS_PER_WORKER = 4

# --------------------------------------------------------------------------- certificates


def make_ca() -> tuple[bytes, bytes]:
    """A throw-away EC P-256 CA: (key PEM, certificate PEM), to hand to worker processes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "certpush bench CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=800))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def cert_path(folder: Path, index: int) -> Path:
    return folder / f"{index // FILES_PER_FOLDER:03d}" / f"cert-{index:06d}.pem"


def write_certificates(job: tuple[Path, int, int, bytes, bytes, int]) -> int:
    """Worker: write leaf certificates first .. first+count-1 as PEM files; return the count.

    Leaves share a few EC keys (only certificates are imported, so key generation is not
    worth paying per file); validity spreads over [now - 1 year, now + 3 years].
    """
    folder, first, count, ca_key_pem, ca_cert_pem, seed = job
    rng = random.Random(seed * 1_000_003 + first)
    ca_key = serialization.load_pem_private_key(ca_key_pem, None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    leaf_keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(LEAF_KEYS_PER_WORKER)]
    now = datetime.now(UTC)
    for index in range(first, first + count):
        host = f"svc-{index:06d}.{rng.choice(('eu', 'us', 'ap'))}.corp.example"
        key = leaf_keys[index % len(leaf_keys)]
        not_after = now + timedelta(days=rng.uniform(-365, 3 * 365))
        not_before = not_after - timedelta(days=rng.choice((90, 365, 397)))
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, host),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(host), x509.DNSName(f"www.{host}")]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        path = cert_path(folder, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return count


def generate_folder(folder: Path, count: int, jobs: int, seed: int) -> float:
    """Write ``count`` PEM files below ``folder`` with ``jobs`` processes; return the seconds."""
    began = time.perf_counter()
    ca_key_pem, ca_cert_pem = make_ca()
    chunk = max(1, -(-count // max(1, jobs)))
    work = [
        (folder, first, min(chunk, count - first), ca_key_pem, ca_cert_pem, seed)
        for first in range(0, count, chunk)
    ]
    if jobs > 1 and len(work) > 1:
        with multiprocessing.Pool(jobs) as pool:
            written = sum(pool.map(write_certificates, work))
    else:
        written = sum(write_certificates(job) for job in work)
    assert written == count
    return time.perf_counter() - began


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One import: how long it took and what the results said."""

    seconds: float
    outcomes: Counter[str]


def cli_command() -> list[str]:
    """The installed ``certpush`` console script beside this interpreter, else ``-m jobs.cli``."""
    script = Path(sys.executable).with_name("certpush")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jobs.cli"]


def cli_env(instance: Path) -> dict[str, str]:
    """This environment without any certpush setting, pointed at ``instance``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CERTPUSH_") and k != "DATABASE_URL"
    }
    env["CERTPUSH_INSTANCE"] = str(instance)
    return env


def run_cli(args: list[str], instance: Path, cwd: Path) -> tuple[float, str]:
    began = time.perf_counter()
    proc = subprocess.run(
        [*cli_command(), *args],
        env=cli_env(instance),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(
            f"certpush {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    return seconds, proc.stdout


def cli_import(folder: Path, instance: Path, cwd: Path) -> Run:
    seconds, stdout = run_cli(["import", str(folder), "--json"], instance, cwd)
    return Run(seconds, Counter(item["result"] for item in json.loads(stdout)))


def fresh_instance(workdir: Path, name: str) -> Path:
    """A new instance folder with the schema, made the way an operator makes one (the CLI)."""
    instance = workdir / name
    run_cli(["db", "upgrade"], instance, workdir)
    run_cli(["keys", "generate"], instance, workdir)
    return instance


def in_process_import(folder: Path, instance: Path) -> Run:
    settings = Settings.from_env({"CERTPUSH_INSTANCE": str(instance)})
    vault = load_vault(settings)
    began = time.perf_counter()
    with session_scope(settings.database_url) as session:
        results = import_paths(
            session,
            vault,
            [folder],
            now=datetime.now(UTC),
            actor="bench",
            max_bytes=settings.max_file_bytes,
        )
    seconds = time.perf_counter() - began
    return Run(seconds, Counter(r.result.value for r in results))


def dispose(instance: Path) -> None:
    """Close the cached engine of an instance so its SQLite file can be removed."""
    engine_for(Settings.from_env({"CERTPUSH_INSTANCE": str(instance)}).database_url).dispose()


def profile_in_process(folder: Path, instance: Path, top: int) -> str:
    """The in-process import once more under cProfile: top functions by own and total time."""
    settings = Settings.from_env({"CERTPUSH_INSTANCE": str(instance)})
    upgrade(settings.database_url)
    profiler = cProfile.Profile()
    profiler.enable()
    run = in_process_import(folder, instance)
    profiler.disable()
    out = io.StringIO()
    out.write(f"cProfile of import_paths ({run.seconds:.2f} s under the profiler)\n")
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    dispose(instance)
    return out.getvalue()


# --------------------------------------------------------------------------- report


@dataclass
class Line:
    label: str
    runs: list[Run]
    expected: str | None  # outcome every certificate must have, None for the empty folder
    count: int

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def best(self) -> float:
        return min(r.seconds for r in self.runs)

    @property
    def rate(self) -> float:
        return self.count / self.median if self.count else float("nan")

    def check(self) -> str:
        if self.expected is None:
            return "-"
        bad = [r for r in self.runs if r.outcomes != Counter({self.expected: self.count})]
        if bad:
            return "WRONG " + ", ".join(f"{n} {k}" for k, n in bad[0].outcomes.items())
        return f"all {self.count:,} {self.expected}"


def print_table(lines: list[Line], repeats: int) -> None:
    width = max(len(line.label) for line in lines) + 2
    header = (
        f"{'run':{width}}{'median s':>10}{'best s':>9}{'certs/s':>10}"
        f"  {'target':8}{'results check'}"
    )
    print(f"median and best of {repeats} run(s), each into a fresh database")
    print(header)
    print("-" * (len(header) + 16))
    for line in lines:
        if line.count:
            verdict = "PASS" if line.rate >= TARGET_PER_SECOND else "FAIL"
            rate = f"{line.rate:>10,.0f}"
        else:
            verdict, rate = "-", f"{'-':>10}"
        print(
            f"{line.label:{width}}{line.median:>10.2f}{line.best:>9.2f}{rate}"
            f"  {verdict:8}{line.check()}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certs", type=int, default=5000, help="PEM files to generate")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each import")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes generating certificates"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", action="store_true", help="profile the in-process import even if it passes"
    )
    parser.add_argument("--top", type=int, default=25, help="functions shown by the profile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="certpush-bench-import-"))
    try:
        folder = workdir / "certs"
        empty = workdir / "empty"
        empty.mkdir()
        print(f"writing {args.certs:,} PEM files to {folder}", file=sys.stderr)
        gen_seconds = generate_folder(folder, args.certs, args.jobs, args.seed)

        cli_new, cli_dup, cli_empty, inproc_new, inproc_dup = [], [], [], [], []
        for n in range(args.repeats):
            print(f"  run {n + 1}/{args.repeats}", file=sys.stderr)
            instance = fresh_instance(workdir, f"cli-{n}")
            cli_new.append(cli_import(folder, instance, workdir))
            cli_dup.append(cli_import(folder, instance, workdir))
            cli_empty.append(cli_import(empty, instance, workdir))
            instance = fresh_instance(workdir, f"inproc-{n}")
            inproc_new.append(in_process_import(folder, instance))
            inproc_dup.append(in_process_import(folder, instance))
            dispose(instance)

        lines = [
            Line("certpush import --json, new", cli_new, "imported", args.certs),
            Line("certpush import --json, duplicates", cli_dup, "duplicate", args.certs),
            Line("certpush import --json, empty folder", cli_empty, None, 0),
            Line("import_paths in process, new", inproc_new, "imported", args.certs),
            Line("import_paths in process, duplicates", inproc_dup, "duplicate", args.certs),
        ]
        fixed = lines[2].median
        print()
        print("certpush import throughput benchmark")
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        print(f"CPUs: os.cpu_count()={os.cpu_count()}, usable={affinity}")
        print(
            f"Python {sys.version.split()[0]}, cryptography {cryptography.__version__}, "
            f"SQLite {sqlite3.sqlite_version}"
        )
        print(
            f"generation: {args.certs:,} PEM files (EC P-256 leaves, ECDSA-SHA256) in "
            f"{gen_seconds:.1f} s with {args.jobs} process(es)"
        )
        print(f"CLI: {' '.join(cli_command())}")
        print(f"target: >= {TARGET_PER_SECOND:,.0f} certificates/s")
        print()
        print_table(lines, args.repeats)
        print()
        for line in lines[:2]:
            net = line.median - fixed
            if net > 0:
                print(
                    f"{line.label} without the fixed cost of {fixed:.2f} s: "
                    f"{args.certs / net:,.0f} certs/s"
                )
        failed = [
            line
            for line in lines
            if line.count and (line.rate < TARGET_PER_SECOND or line.check().startswith("WRONG"))
        ]
        if failed or args.profile:
            print()
            print(profile_in_process(folder, workdir / "profile", args.top))
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
