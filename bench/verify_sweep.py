"""Benchmark: the HTTPS verification sweep over a fleet of real TLS endpoints, vs sslyze.

Builds a fleet of N TLS endpoints on 127.0.0.1: one private nginx (Debian's, through
tests/servers.py) with one ``server {}`` block per port, each port with its own
certificate (one shared EC P-256 key). About 2% of the ports deliberately serve another
certificate than the one recorded as pushed, and (in the "hung" variant) a few extra
ports accept TCP and never handshake. Every port is registered as the endpoint of its
own ``local`` connector with a successful push attempt of its expected certificate, in a
temporary SQLite database.

The sweep is timed through the real job, ``jobs.verify.run_sweep`` (database reads,
probes, bulk result writes, verdicts), each run in a fresh subprocess of this script so
that CPU seconds and peak RSS belong to that run alone. Endpoints per second is the
median of ``--repeats`` runs. A sample of the same fleet is scanned by sslyze
(certificate-info scan only) in a separate venv, in the same run, and extrapolated.

Run: python bench/verify_sweep.py [--sizes 1000,5000] [--repeats 3]
     [--concurrency 64,128,256] [--skip-sslyze] [--sslyze-python PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
WRONG_SHARE = 0.02
DEFAULT_CONCURRENCY = 128
SSLYZE_VENV = Path(tempfile.gettempdir()) / "certpush-sslyze-venv"


# ----------------------------------------------------------------------------- the child


def peak_mb() -> float:
    """This program's peak RSS (VmHWM): unlike ru_maxrss it does not carry over the
    parent's size across fork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One measured sweep; prints a JSON line with timings and per-port outcomes."""
    import jobs.verify as verify

    phases: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    # Time the phases of the real job (module globals are looked up at call time).
    verify.targets = timed("read", verify.targets)
    verify.probe_all = timed("probe", verify.probe_all)
    verify._record = timed("write", verify._record)
    verify._decide = timed("decide", verify._decide)
    worker_usage: list[dict] = []  # the probing workers report their own CPU and memory
    sharded = verify.probe_sharded
    verify.probe_sharded = lambda *a, **k: sharded(*a, **k, usage=worker_usage)
    before = peak_mb()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    report = verify.run_sweep(
        args.child_db,
        concurrency=args.child_concurrency,
        timeout=args.timeout,
        trigger="bench",
        settle_seconds=0,
        processes=args.child_processes,
    )
    wall = time.perf_counter() - start
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    cpu += sum(w["cpu"] for w in worker_usage)
    worker_mb = sum(w["peak_mb"] for w in worker_usage)
    first_phases = dict(phases)
    # The scheduler is a long-lived process: its next sweep finds the forkserver and
    # the imports ready. Time that "warm" sweep too (its verdicts are already decided).
    start = time.perf_counter()
    verify.run_sweep(
        args.child_db,
        concurrency=args.child_concurrency,
        timeout=args.timeout,
        trigger="bench",
        settle_seconds=0,
        processes=args.child_processes,
    )
    warm = time.perf_counter() - start
    print(
        json.dumps(
            {
                "wall": wall,
                "warm": warm,
                "cpu": cpu,
                "peak_mb": peak_mb() + worker_mb,
                "base_mb": before,
                "phases": first_phases,
                "endpoints": len(report.endpoints),
                "summary": report.summary,
                "outcomes": {str(e["port"]): e["outcome"] for e in report.endpoints},
            }
        )
    )


# ----------------------------------------------------------------------------- the fleet


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def make_certs(n: int, wrong: set[int], out: Path):
    """N leaf certificates (plus one wrong one per ``wrong`` index) sharing one EC key."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    key_path = out / "shared.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    now = datetime.now(UTC)

    def one(cn: str) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(key, hashes.SHA256())
        )

    expected, served_paths = [], []
    for i in range(n):
        cn = f"ep{i}.bench.test"
        cert = one(cn)
        expected.append(cert)
        served = one(cn) if i in wrong else cert  # same name, another certificate
        path = out / f"ep{i}.crt"
        path.write_bytes(served.public_bytes(serialization.Encoding.PEM))
        served_paths.append(path)
    fingerprints = [
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in expected
    ]
    return expected, fingerprints, served_paths, key_path


def make_nginx(root: Path, base: int, served_paths: list[Path], key_path: Path, workers: int):
    from tests.servers import NginxSite, PrivateNginx

    class FleetNginx(PrivateNginx):
        def config_text(self) -> str:
            text = super().config_text()
            nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            text = text.replace(
                "worker_processes 1;",
                f"worker_processes {workers};\nworker_rlimit_nofile {nofile};",
            )
            return text.replace(
                "events { worker_connections 128; }",
                "events { worker_connections 16384; multi_accept on; }",
            )

    nginx = FleetNginx(root)
    nginx.sites = [
        NginxSite(HOST, base + i, path.absolute(), key_path.absolute(), f"ep{i}.bench.test")
        for i, path in enumerate(served_paths)
    ]
    nginx.write_config()
    return nginx


def build_database(url: str, expected, fingerprints, base: int, root: Path) -> None:
    """Certificates, one local connector + endpoint + installed push attempt per port."""
    from sqlalchemy import insert

    from data.db import session_scope
    from data.domain.connector_specs import LOCAL_SPEC, validate_settings
    from data.domain.parsing import parse_certificate
    from data.importer import _cert_row
    from data.models import Certificate, Connector, Endpoint, PushAttempt
    from data.schema import upgrade

    upgrade(url)
    now = datetime.now(UTC)
    settings = json.dumps(
        validate_settings(
            LOCAL_SPEC,
            {"cert_path": str(root / "dummy.crt"), "key_path": str(root / "dummy.key")},
        ),
        sort_keys=True,
    )
    with session_scope(url) as session:
        session.execute(
            insert(Certificate),
            [_cert_row(parse_certificate(c), "bench", now) for c in expected],
        )
        session.execute(
            insert(Connector),
            [
                {
                    "id": i + 1,
                    "name": f"bench-{i}",
                    "type": "local",
                    "settings": settings,
                    "created_at": now,
                    "created_by": "bench",
                }
                for i in range(len(expected))
            ],
        )
        session.execute(
            insert(Endpoint),
            [
                {"connector_id": i + 1, "host": HOST, "port": base + i, "sni": f"ep{i}.bench.test"}
                for i in range(len(expected))
            ],
        )
        cert_ids = dict(
            session.execute(
                Certificate.__table__.select().with_only_columns(
                    Certificate.fingerprint_sha256, Certificate.id
                )
            ).all()
        )
        session.execute(
            insert(PushAttempt),
            [
                {
                    "certificate_id": cert_ids[fp],
                    "connector_id": i + 1,
                    "actor": "bench",
                    "started_at": now - timedelta(minutes=5),
                    "finished_at": now - timedelta(minutes=5),
                    "outcome": "installed",
                    "reason_class": None,
                    "reason": "bench",
                    "duration_ms": 0,
                    "work_order_id": None,
                }
                for i, fp in enumerate(fingerprints)
            ],
        )


def add_hung(url: str, ports: list[int], expected_fp: str) -> None:
    """Each hung port: its own connector, with an installed push of an existing cert."""
    from sqlalchemy import func, insert, select

    from data.db import session_scope
    from data.models import Certificate, Connector, Endpoint, PushAttempt

    now = datetime.now(UTC)
    with session_scope(url) as session:
        cert_id = session.scalar(
            select(Certificate.id).where(Certificate.fingerprint_sha256 == expected_fp)
        )
        first = (session.scalar(select(func.max(Connector.id))) or 0) + 1
        for k, port in enumerate(ports):
            cid = first + k
            session.execute(
                insert(Connector).values(
                    id=cid,
                    name=f"bench-hung-{k}",
                    type="local",
                    settings="{}",
                    created_at=now,
                    created_by="bench",
                )
            )
            session.execute(
                insert(Endpoint).values(connector_id=cid, host=HOST, port=port, sni="hung.test")
            )
            session.execute(
                insert(PushAttempt).values(
                    certificate_id=cert_id,
                    connector_id=cid,
                    actor="bench",
                    started_at=now - timedelta(minutes=5),
                    finished_at=now - timedelta(minutes=5),
                    outcome="installed",
                    reason="bench",
                    duration_ms=0,
                )
            )


# ----------------------------------------------------------------------------- runs


def run_child(db_url: str, concurrency: int, timeout: float, processes: int) -> dict:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-processes",
        str(processes),
        "--child-db",
        db_url,
        "--child-concurrency",
        str(concurrency),
        "--timeout",
        str(timeout),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"sweep child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check(result: dict, wrong_ports: set[int], hung_ports: set[int]) -> dict:
    outcomes = {int(p): o for p, o in result["outcomes"].items()}
    wrong_ok = sum(1 for p in wrong_ports if outcomes.get(p) == "mismatch")
    hung_ok = sum(1 for p in hung_ports if outcomes.get(p) == "timeout")
    others = {p: o for p, o in outcomes.items() if p not in wrong_ports and p not in hung_ports}
    false_mismatch = sum(1 for o in others.values() if o == "mismatch")
    not_match = sum(1 for o in others.values() if o != "match")
    return {
        "wrong": (wrong_ok, len(wrong_ports)),
        "hung": (hung_ok, len(hung_ports)),
        "false_mismatch": false_mismatch,
        "other_not_match": not_match,
    }


def ensure_sslyze(python: str | None) -> str | None:
    if python:
        return python
    exe = SSLYZE_VENV / "bin" / "python"
    probe = [str(exe), "-c", "import sslyze"]
    if exe.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(exe)
    print(f"installing sslyze into {SSLYZE_VENV} ...", flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(SSLYZE_VENV)], check=True)
        subprocess.run(
            [str(exe), "-m", "pip", "install", "-q", "sslyze"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"sslyze could not be installed ({exc}); skipping sslyze", flush=True)
        return None
    return str(exe)


def run_sslyze(python: str, addresses: list[tuple[str, int]], tmp: Path) -> dict:
    path = tmp / f"sslyze-{len(addresses)}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(addresses))
    driver = Path(__file__).resolve().with_name("verify_sslyze_driver.py")
    proc = subprocess.run(
        [python, str(driver), str(path)], capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sslyze driver failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_size(n: int, args, tmp: Path, sslyze_python: str | None, rows: list, notes: list):
    from tests.servers import SilentServer, free_port_range

    root = tmp / f"n{n}"
    root.mkdir()
    step = max(1, round(1 / WRONG_SHARE))
    wrong_idx = set(range(step // 2, n, step))
    t0 = time.perf_counter()
    expected, fingerprints, served_paths, key_path = make_certs(n, wrong_idx, root)
    t_certs = time.perf_counter() - t0
    base = free_port_range(n)
    nginx = make_nginx(root / "nginx", base, served_paths, key_path, args.nginx_workers)
    hung_servers: list[SilentServer] = []
    try:
        t0 = time.perf_counter()
        nginx.start(timeout=300)
        t_nginx = time.perf_counter() - t0
        db_plain = root / "plain.db"
        t0 = time.perf_counter()
        build_database(f"sqlite:///{db_plain}", expected, fingerprints, base, root)
        t_db = time.perf_counter() - t0
        notes.append(
            f"N={n}: ports {base}-{base + n - 1}; {len(wrong_idx)} wrong certs; "
            f"certs generated in {t_certs:.1f} s; nginx ({args.nginx_workers} worker(s), "
            f"{n} server blocks) listening in {t_nginx:.1f} s; DB built in {t_db:.1f} s"
        )
        wrong_ports = {base + i for i in wrong_idx}
        hung_servers = [SilentServer(HOST) for _ in range(args.hung)]
        hung_ports = {s.port for s in hung_servers}
        db_hung = root / "hung.db"
        with sqlite3.connect(db_plain) as src, sqlite3.connect(db_hung) as dst:
            src.backup(dst)  # the backup API also carries what is still in the WAL
        add_hung(f"sqlite:///{db_hung}", sorted(hung_ports), fingerprints[0])
        variants = [("no hung", db_plain, set())]
        if args.hung:
            variants.append((f"{args.hung} hung", db_hung, hung_ports))
        for label, db, hung in variants:
            for conc, procs in [(c, p) for p in args.processes for c in args.concurrency]:
                runs = [
                    run_child(f"sqlite:///{db}", conc, args.timeout, procs)
                    for _ in range(args.repeats)
                ]
                walls = [r["wall"] for r in runs]
                eps = [r["endpoints"] / w for r, w in zip(runs, walls, strict=True)]
                checks = [check(r, wrong_ports, hung) for r in runs]
                worst = checks[0]
                for c in checks[1:]:
                    if c["wrong"][0] < worst["wrong"][0] or c["hung"][0] < worst["hung"][0]:
                        worst = c
                    worst = worst | {
                        "false_mismatch": max(worst["false_mismatch"], c["false_mismatch"]),
                        "other_not_match": max(worst["other_not_match"], c["other_not_match"]),
                    }
                med = sorted(range(len(runs)), key=lambda i: walls[i])[len(runs) // 2]
                row = {
                    "n": n,
                    "variant": label,
                    "endpoints": runs[0]["endpoints"],
                    "concurrency": conc,
                    "processes": procs,
                    "eps": statistics.median(eps),
                    "warm_eps": statistics.median(r["endpoints"] / r["warm"] for r in runs),
                    "eps_all": eps,
                    "wall": statistics.median(walls),
                    "bound": n / 1500 + (args.timeout if hung else 0),
                    "cpu": runs[med]["cpu"],
                    "peak_mb": max(r["peak_mb"] for r in runs),
                    "check": worst,
                    "summary": runs[-1]["summary"],
                    "phases": runs[med]["phases"],
                    "base_mb": runs[med]["base_mb"],
                }
                rows.append(row)
                print(
                    f"  N={n} {label:8} c={conc:<4} p={procs} {row['eps']:7.0f} ep/s "
                    f"(runs {', '.join(f'{e:.0f}' for e in eps)}) wall {row['wall']:.2f} s "
                    f"cpu {row['cpu']:.2f} s peak {row['peak_mb']:.0f} MB {worst} "
                    f"phases {', '.join(f'{k} {v:.2f}' for k, v in row['phases'].items())}",
                    flush=True,
                )
        if sslyze_python:
            sample = sorted(base + i for i in range(min(n, args.sslyze_sample)))
            res = run_sslyze(sslyze_python, [(HOST, p) for p in sample], tmp)
            served = res["served"]
            by_port = {int(k.rsplit(":", 1)[1]): v for k, v in served.items()}
            fp_of = {base + i: fp for i, fp in enumerate(fingerprints)}
            wrong_in = [p for p in sample if p in wrong_ports]
            ss_wrong = sum(1 for p in wrong_in if by_port.get(p) not in (None, fp_of[p]))
            ss_false = sum(1 for p in sample if p not in wrong_ports and by_port.get(p) != fp_of[p])
            entry = {
                "n": n,
                "sample": len(sample),
                "seconds": res["seconds"],
                "eps": len(sample) / res["seconds"],
                "cpu": res["cpu_seconds"],
                "peak_mb": res["peak_mb"],
                "wrong": (ss_wrong, len(wrong_in)),
                "false": ss_false,
            }
            if args.sslyze_hung and hung_servers and not notes_has_hung(notes):
                hres = run_sslyze(sslyze_python, [(HOST, hung_servers[0].port)], tmp)
                entry["hung_seconds"] = hres["seconds"]
                entry["hung_result"] = next(iter(hres["served"].values()), "?")
                notes.append(
                    f"sslyze on 1 hung port: {hres['seconds']:.1f} s ({entry['hung_result']})"
                )
            rows.append({"sslyze": entry})
            print(f"  sslyze sample: {entry}", flush=True)
    finally:
        for s in hung_servers:
            with contextlib.suppress(Exception):
                s.close()
        nginx.stop()


def notes_has_hung(notes: list[str]) -> bool:
    return any(n.startswith("sslyze on 1 hung port") for n in notes)


def print_table(rows: list, notes: list, args) -> None:
    ssl = {r["sslyze"]["n"]: r["sslyze"] for r in rows if "sslyze" in r}
    sweeps = [r for r in rows if "sslyze" not in r]
    print()
    print("certpush verification sweep benchmark (jobs.verify.run_sweep, 127.0.0.1, one nginx)")
    print(
        f"CPUs: {os.cpu_count()}; nginx worker_processes {args.nginx_workers}; probe timeout "
        f"{args.timeout:g} s; repeats {args.repeats} (median); each run a fresh process"
    )
    head = (
        f"{'N':>5} {'variant':8} {'eps':>5} {'conc':>4} {'proc':>4} {'ep/s med':>8} {'wall s':>6} "
        f"{'bound s':>7} {'CPU s':>5} {'peak MB':>7} {'wrong':>7} {'hung':>5} {'false':>5} "
        f"{'sslyze ep/s':>11} {'ratio':>6}  phases s (read/probe/write/decide)"
    )
    print(head)
    print("-" * len(head))
    for r in sweeps:
        c = r["check"]
        s = ssl.get(r["n"])
        s_eps = f"{s['eps']:.1f}" if s else "-"
        ratio = f"{r['eps'] / s['eps']:.0f}x" if s else "-"
        print(
            f"{r['n']:>5} {r['variant']:8} {r['endpoints']:>5} {r['concurrency']:>4} "
            f"{r['processes']:>4} {r['eps']:>8.0f} {r['warm_eps']:>5.0f} {r['wall']:>6.2f} "
            f"{r['bound']:>7.2f} {r['cpu']:>5.2f} "
            f"{r['peak_mb']:>7.0f} {c['wrong'][0]:>3}/{c['wrong'][1]:<3} "
            f"{c['hung'][0]:>2}/{c['hung'][1]:<2} {c['false_mismatch']:>5} {s_eps:>11} {ratio:>6}  "
            + "/".join(f"{r['phases'].get(k, 0):.2f}" for k in ("read", "probe", "write", "decide"))
        )
    print()
    print("columns: eps = endpoints swept; ep/s med = endpoints / wall, median of repeats,")
    print("  each the first sweep of a fresh process (cold: forkserver and imports included);")
    print("  warm = the same process's second sweep, as the long-lived scheduler runs them;")
    print("  bound s = N/1500 (+ one timeout with hung ports); CPU s = client user+sys of the")
    print("  median run, probing workers included; proc = processes probing (1: in-process)")
    print("  wrong/hung = detected")
    print("  as mismatch/timeout (worst run); false = other endpoints reported mismatch;")
    base = f"{sweeps[0]['base_mb']:.0f}" if sweeps else "?"
    print(
        f"  peak MB = VmHWM of the sweep process ({base} MB after imports) plus, with workers,"
        " each worker's own peak; phases: median run"
    )
    for n, s in sorted(ssl.items()):
        print(
            f"sslyze 6 (CERTIFICATE_INFO only, default Scanner) on a SAMPLE of {s['sample']} of"
            f" the N={n} fleet: {s['seconds']:.1f} s = {s['eps']:.1f} ep/s, CPU {s['cpu']:.1f} s,"
            f" peak {s['peak_mb']:.0f} MB; wrong certs seen {s['wrong'][0]}/{s['wrong'][1]},"
            f" false {s['false']}; extrapolated full fleet {n / s['eps']:.0f} s"
        )
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default=f"{DEFAULT_CONCURRENCY}")
    parser.add_argument("--processes", default="1,2", help="probing processes (1: in-process)")
    parser.add_argument("--timeout", type=float, default=5.0, help="probe timeout (s)")
    parser.add_argument("--hung", type=int, default=3, help="hung ports in the hung variant")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--skip-sslyze", action="store_true")
    parser.add_argument("--sslyze-python", help="python of a venv that has sslyze")
    parser.add_argument("--sslyze-sample", type=int, default=200)
    parser.add_argument(
        "--sslyze-hung", type=int, default=1, help="also time sslyze on one hung port (1/0)"
    )
    parser.add_argument("--child-db", help=argparse.SUPPRESS)
    parser.add_argument("--child-concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-processes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_db:
        child(args)
        return
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.processes = [int(p) for p in args.processes.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    limit = raise_fd_limit()
    if limit < max(sizes) + 2000:
        sys.exit(f"open-file limit {limit} is too low for N={max(sizes)}")
    sslyze_python = None if args.skip_sslyze else ensure_sslyze(args.sslyze_python)
    rows: list = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="certpush-bench-verify-") as tmp:
        try:
            for n in sizes:
                print(f"N={n}: building fleet ...", flush=True)
                try:
                    bench_size(n, args, Path(tmp), sslyze_python, rows, notes)
                except Exception as exc:  # report what we have, and why a size failed
                    notes.append(f"N={n} failed: {type(exc).__name__}: {exc}"[:2000])
                    print(notes[-1], flush=True)
        except KeyboardInterrupt:
            notes.append("interrupted")
        print_table(rows, notes, args)


if __name__ == "__main__":
    main()
