"""Benchmark: one certificate rolled out to 200 nginx connectors over SSH, canary then waves.

Through the product as the scheduler runs it: a temporary SQLite instance with a master
key; three people (an operator requests, a reviewer approves, an implementer implements);
one private OpenSSH server and one private nginx on 127.0.0.1 (tests/servers.py) with one
server block per connector, each listening on two ports (200 connectors: 400 endpoints)
and reading its certificate and key from the connector's own folder; 200 ``ssh``
connectors with a device profile running ``nginx -t`` and ``nginx -s reload`` against
that nginx, all bound to one new certificate whose key is imported. The push is
requested, the plans preflighted (the scheduler's preflight job, done here on 8 threads
before approval, as it is in practice: not timed), approved and implemented, then
``dispatch_due_work_orders()`` is called every 0.5 s, as the scheduler process does,
until every work order is final (or, in a halted rollout, Halted).

Timed: the whole rollout, each wave (canary, then waves of ``--wave``; while
data/rollouts.py has no ``rollout_view``, the batches of work orders one dispatch started
together), and the thread time of the pushes split into SSH connect and login, ``nginx
-t``, ``nginx -s reload``, the settle sleep before the first probe, the probe rounds,
and the rest. These are measured by wrapping the product's functions in this process
only (``SshConnector._connect``, ``SftpFiles`` methods, ``execute_plan``, ``session_scope``
as jobs/push.py and jobs/workorders.py call it, ``watch``'s sleep, ``probe_round``,
``claim_due``); no product code changes.

``--canary-fails``: the canary's device profile reloads nothing (``true``), so nginx
keeps serving the old certificate; the canary fails verification (after the grace
window) and is rolled back. The bench then shows that none of the other connectors'
files changed on disk (bytes and mtimes) and that all their endpoints still serve their
old certificate (a TLS handshake each).

``--nginx-count K`` spreads the server blocks over K nginx instances (each with its own
profile). With one nginx (the issue's setup) every ``nginx -t`` and ``nginx -s reload``
reads all 200 server blocks and certificates (0.16 CPU s each, against 0.013 s with 10
blocks), three times per connector counting the master's reload: that alone is about
100 CPU s, 50 s of two cores. ``--nginx-count 200`` gives each connector a device of its
own, as in production, and shows certpush's own cost.

Two simplifications of one host standing for 200 devices:
- every old certificate and the new one share one EC key. On 200 real devices each nginx
  reads only its own files; here one nginx reads all 200 folders at every ``nginx -t``
  and reload, and could catch another connector's new certificate beside its old key
  in the instant between the two renames of its install (a key mismatch failing someone
  else's config test).
- the private sshd takes up to 300 unauthenticated connections at once (``MaxStartups``;
  OpenSSH's default 10:30:100 drops some of a wave's simultaneous logins to one server,
  which 50 real devices would not do: 8 retried tries, +12 s, in one run at 50 at once).

Run: python bench/rollout.py [--connectors 200] [--wave 50] [--settle S] [--grace S]
     [--parallelism 25] [--nginx-count 1] [--canary-fails]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import inspect
import ipaddress
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import jobs.push as push  # noqa: E402
import jobs.push_verification as push_verification  # noqa: E402
import jobs.workorders as workorders  # noqa: E402
from data.config import Settings  # noqa: E402
from data.connectors import add_connector, bind  # noqa: E402
from data.crypto import generate_master_key, load_vault  # noqa: E402
from data.db import session_scope  # noqa: E402
from data.domain.workflow import FINAL, Action, Actor, WorkOrderStatus  # noqa: E402
from data.importer import import_paths  # noqa: E402
from data.models import PushAttempt, WorkOrder  # noqa: E402
from data.profiles import load_book  # noqa: E402
from data.push_plans import current_plan  # noqa: E402
from data.schema import upgrade  # noqa: E402
from data.users import add_user  # noqa: E402
from data.workorders import act, request_push  # noqa: E402
from jobs.connectors.ssh import SftpFiles, SshConnector  # noqa: E402
from jobs.plan_checks import check_plan  # noqa: E402
from tests.servers import (  # noqa: E402
    NginxSite,
    PrivateNginx,
    PrivateSshd,
    free_port_range,
    make_client_key,
    tls_fingerprint,
)

OPERATOR = Actor("olivia", "operator")
REVIEWER = Actor("ravi", "reviewer")
IMPLEMENTER = Actor("ines", "implementer")
POLL = 0.5  # jobs/scheduler.py WORK_ORDER_POLL_SECONDS
PROFILE, STUCK_PROFILE = "bench-nginx", "bench-nginx-stuck"
S = WorkOrderStatus

try:  # the rollout module's view (canary and waves), once rollouts are on main
    from data.rollouts import rollout_view
except ImportError:
    rollout_view = None


# ----------------------------------------------------------------------------- devices


@dataclass(frozen=True)
class Device:
    """One connector's share of the shared nginx: its folder, files and two ports."""

    name: str
    folder: Path
    cert: Path
    key: Path
    ports: tuple[int, int]
    old_fingerprint: str


class FleetNginx(PrivateNginx):
    """The test nginx with one server block per connector, each listening on its two ports,
    and room for a wave's handshakes (the test nginx allows 128 connections a worker)."""

    devices: tuple[Device, ...] = ()

    def config_text(self) -> str:
        saved, self.sites = self.sites, []
        try:
            head = super().config_text().rstrip().removesuffix("}")
        finally:
            self.sites = saved
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        head = head.replace(
            "worker_processes 1;", f"worker_processes 1;\nworker_rlimit_nofile {nofile};"
        )
        head = head.replace("worker_connections 128;", "worker_connections 4096;")
        blocks = [
            "\n".join(
                [
                    "    server {",
                    *(f"        listen 127.0.0.1:{port} ssl;" for port in d.ports),
                    f"        server_name {d.name}.bench.test;",
                    f'        ssl_certificate "{d.cert}";',
                    f'        ssl_certificate_key "{d.key}";',
                    '        return 200 "ok\\n";',
                    "    }",
                ]
            )
            for d in self.devices
        ]
        return head + "\n".join(blocks) + "\n}\n"

    def serve(self, devices: list[Device]) -> None:
        """Set the connectors' server blocks (``start`` waits for every port)."""
        self.devices = tuple(devices)
        self.sites = [
            NginxSite("127.0.0.1", port, d.cert, d.key, None) for d in devices for port in d.ports
        ]
        self.write_config()


class FleetSshd(PrivateSshd):
    """The test sshd taking a whole wave's logins at once (see the module docstring)."""

    def config_text(self) -> str:
        return super().config_text() + "MaxStartups 300\n"


def certificates(folder: Path, names: list[str], new_name: str):
    """Self-signed EC certificates for ``names`` and one ``new_name`` certificate (with
    127.0.0.1 as a SAN: the endpoints are addresses), all on one key; PEM bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = datetime.now(UTC)

    def one(cn: str, sans: list[x509.GeneralName]) -> tuple[bytes, str]:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        return cert.public_bytes(serialization.Encoding.PEM), hashlib.sha256(der).hexdigest()

    old = {n: one(f"{n}.bench.test", [x509.DNSName(f"{n}.bench.test")]) for n in names}
    new = one(new_name, [x509.DNSName(new_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "new.crt").write_bytes(new[0])
    (folder / "new.key").write_bytes(key_pem)
    (folder / "new.key").chmod(0o600)
    return key_pem, old, new[1], [folder / "new.crt", folder / "new.key"]


# ----------------------------------------------------------------------------- timing


@dataclass
class Probe:
    """What the wrapped product functions saw, from every push thread."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter = field(default_factory=Counter)
    runs: dict[int, list[tuple[float, float, bool]]] = field(default_factory=dict)
    claims: list[tuple[float, list[int]]] = field(default_factory=list)
    claim_costs: list[tuple[float, float]] = field(default_factory=list)  # wall, CPU
    t0: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def timed(self, name: str | Callable[..., str], fn: Callable) -> Callable:
        """``fn`` with its time added under ``name`` (or ``name(*args)``)."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                label = name(*args, **kwargs) if callable(name) else name
                self.add(label, time.perf_counter() - start)

        return wrapper


CONNECT, TEST, RELOAD = "SSH connect + login", "test command", "reload command"
EXECUTE, SETTLE, WAIT = "install/rollback (execute_plan)", "settle sleep", "wait between rounds"
VERIFY_PROBES, BASELINE = "probe rounds (verification)", "probe round before the install"
PREFLIGHT, SFTP = "preflight at push time", "SFTP"
PUSH_DB, RUN_DB = "database in execute_plan", "database in run_work_order"


def timed_scope(probe: Probe, name: str, scope: Callable) -> Callable:
    """``session_scope`` with the time from opening to the commit's end added to ``name``
    (what the caller does inside is database work there; SQLite's lock waits included),
    in the push threads only (the dispatch's claim runs in the scheduler's own thread)."""

    @contextlib.contextmanager
    def wrapper(url: str):
        start = time.perf_counter()
        try:
            with scope(url) as session:
                yield session
        finally:
            if threading.current_thread().name.startswith("push"):
                probe.add(name, time.perf_counter() - start)

    return wrapper


def instrument(probe: Probe) -> None:
    """Wrap the product's functions in this process to see where push threads spend time."""
    SshConnector._connect = probe.timed(CONNECT, SshConnector._connect)
    SftpFiles.run = probe.timed(
        lambda _self, argv, *a, **k: TEST if "-t" in argv else RELOAD, SftpFiles.run
    )
    for name in ("__init__", "read", "write", "rename", "remove", "exists", "realpath", "is_link"):
        setattr(SftpFiles, name, probe.timed(SFTP, getattr(SftpFiles, name)))
    workorders.execute_plan = probe.timed(EXECUTE, workorders.execute_plan)
    push.session_scope = timed_scope(probe, PUSH_DB, push.session_scope)
    workorders.session_scope = timed_scope(probe, RUN_DB, workorders.session_scope)
    workorders.check_plan = probe.timed(PREFLIGHT, workorders.check_plan)
    workorders.probe_round = probe.timed(BASELINE, workorders.probe_round)
    push_verification.probe_round = probe.timed(VERIFY_PROBES, push_verification.probe_round)
    watch = workorders.watch

    def timed_watch(checks, timing, *, timeout, sleep=time.sleep, **kwargs):
        first = [True]

        def timed_sleep(seconds: float) -> None:
            name = SETTLE if first[0] else WAIT  # watch sleeps the settle delay first
            first[0] = False
            start = time.perf_counter()
            sleep(seconds)
            probe.add(name, time.perf_counter() - start)

        return watch(checks, timing, timeout=timeout, sleep=timed_sleep, **kwargs)

    workorders.watch = timed_watch
    run = workorders.run_work_order

    def timed_run(database_url, vault, wo_id, *args, **kwargs):
        start = time.perf_counter() - probe.t0
        ok = False
        try:
            ok = run(database_url, vault, wo_id, *args, **kwargs)
            return ok
        finally:
            with probe.lock:
                probe.runs.setdefault(wo_id, []).append((start, time.perf_counter() - probe.t0, ok))

    workorders.run_work_order = timed_run
    claim = workorders.claim_due

    def recorded_claim(session, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        claimed = claim(session, **kwargs)
        with probe.lock:
            probe.claim_costs.append((time.perf_counter() - wall, time.thread_time() - cpu))
            if claimed:
                probe.claims.append((time.perf_counter() - probe.t0, list(claimed)))
        return claimed

    workorders.claim_due = recorded_claim


# ----------------------------------------------------------------------------- the instance


@dataclass
class Fleet:
    settings: Settings
    devices: list[Device]
    new_fingerprint: str
    nginxes: list[FleetNginx]
    sshd: FleetSshd
    request: str = ""
    work_orders: list[int] = field(default_factory=list)


def build(root: Path, args: argparse.Namespace) -> Fleet:
    """The instance, the servers, the connectors and the bound certificate."""
    settings = Settings.for_folder(root, master_key=generate_master_key())
    upgrade(settings.database_url)
    vault = load_vault(settings)
    names = [f"c{i:03d}" for i in range(args.connectors)]
    key_pem, old, new_fingerprint, new_files = certificates(
        root / "inventory", names, "rollout.bench.test"
    )
    base = free_port_range(2 * len(names))
    devices = []
    for i, name in enumerate(names):
        folder = (root / "devices" / name).resolve()
        folder.mkdir(parents=True)
        (folder / "site.crt").write_bytes(old[name][0])
        (folder / "site.key").write_bytes(key_pem)
        (folder / "site.key").chmod(0o600)
        ports = (base + 2 * i, base + 2 * i + 1)
        devices.append(
            Device(name, folder, folder / "site.crt", folder / "site.key", ports, old[name][1])
        )
    # Connector i is served by nginx i // per_nginx; each nginx has its own profile.
    per_nginx = -(-len(devices) // args.nginx_count)
    nginxes = []
    for k in range(0, len(devices), per_nginx):
        nginx = FleetNginx(root / f"nginx{len(nginxes)}")
        nginx.serve(devices[k : k + per_nginx])
        nginxes.append(nginx)
    # SHLVL=1 with a PATH of its own (tests/servers.py): root's ~/.bashrc on development
    # machines (pyenv init, 0.15 s of CPU) then does not run before every command.
    sshd = FleetSshd(root / "sshd", path_prefix=root / "bin")
    key_path, public = make_client_key(root / "client")
    sshd.authorize(public)
    host_key = sshd.host_key_fingerprint
    # The administrator's device profiles: each nginx's own test and reload commands, and
    # (for --canary-fails) one whose reload does nothing.
    folders = json.dumps([str((root / "devices").resolve())])
    profiles = [(f"{PROFILE}{k}", n.test_argv, n.reload_argv) for k, n in enumerate(nginxes)] + [
        (STUCK_PROFILE, nginxes[0].test_argv, ["true"])
    ]
    settings.profiles_path.write_text(
        "\n".join(
            f'[profiles.{name}]\nlayout = "separate"\nfolders = {folders}\n'
            f"test = {json.dumps(test)}\nreload = {json.dumps(reload)}\n"
            for name, test, reload in profiles
        )
    )  # a JSON list of strings is a TOML array
    book = load_book(settings)
    now = datetime.now(UTC)
    with session_scope(settings.database_url) as db:
        for actor in (OPERATOR, REVIEWER, IMPLEMENTER):
            add_user(db, actor.username, actor.role, "bench-password-1", now)
        import_paths(db, vault, new_files, now=now, actor="bench")
        for i, d in enumerate(devices):
            profile = f"{PROFILE}{i // per_nginx}"
            if args.canary_fails and i == 0:
                profile = STUCK_PROFILE
            add_connector(
                db, vault, name=d.name, type_name="ssh", actor="bench", now=now, book=book,
                settings={"profile": profile, "host": "127.0.0.1", "port": sshd.port,
                          "username": sshd.username, "host_key_fingerprint": host_key,
                          "cert_path": str(d.cert), "key_path": str(d.key)},
                endpoints=[f"127.0.0.1:{p}" for p in d.ports],
                secret=key_path.read_bytes(), secret_kind="private_key",
            )  # fmt: skip
            bind(db, d.name, new_fingerprint, actor="bench", now=now)
    return Fleet(settings, devices, new_fingerprint, nginxes, sshd)


def request_and_implement(fleet: Fleet, wave: int) -> dict[str, float]:
    """Request (a rollout, when the product knows them), preflight, approve, implement."""
    settings, times = fleet.settings, {}
    accepted = inspect.signature(request_push).parameters
    rollout = {}
    if "wave_size" in accepted:
        rollout["wave_size"] = wave
    if "canary" in accepted:
        rollout["canary"] = fleet.devices[0].name
    start = time.perf_counter()
    with session_scope(settings.database_url) as db:
        fleet.request, views = request_push(db, fleet.new_fingerprint, actor=OPERATOR,
                                            now=datetime.now(UTC), comment="bench rollout",
                                            **rollout)  # fmt: skip
        fleet.work_orders = [v.id for v in views]
        plans = [current_plan(db, i) for i in fleet.work_orders]
    times["request (plans built and pinned)"] = time.perf_counter() - start
    start = time.perf_counter()
    vault = load_vault(settings)

    def preflight(plan) -> dict:
        return check_plan(settings.database_url, vault, plan, now=datetime.now(UTC),
                          min_days_left=settings.min_days_left)  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(preflight, plans))
    said = Counter(r.get("status") for r in results)
    label = ", ".join(f"{n} {s}" for s, n in said.most_common())
    times[f"preflight of every plan (8 threads): {label}"] = time.perf_counter() - start
    start = time.perf_counter()
    with session_scope(settings.database_url) as db:
        for wo_id in fleet.work_orders:
            result = act(db, wo_id, Action.APPROVE, actor=REVIEWER, now=datetime.now(UTC))
            assert result.ok, result.message
    with session_scope(settings.database_url) as db:
        for wo_id in fleet.work_orders:
            result = act(db, wo_id, Action.IMPLEMENT, actor=IMPLEMENTER, now=datetime.now(UTC))
            assert result.ok, result.message
    times["approve + implement every work order"] = time.perf_counter() - start
    return times


# ----------------------------------------------------------------------------- the run


def statuses(fleet: Fleet) -> dict[int, WorkOrderStatus]:
    with session_scope(fleet.settings.database_url) as db:
        return {
            wo_id: WorkOrderStatus(status)
            for wo_id, status in db.execute(
                select(WorkOrder.id, WorkOrder.status).where(WorkOrder.id.in_(fleet.work_orders))
            )
        }


def drive(fleet: Fleet, probe: Probe, limit: float) -> float:
    """Call the scheduler's dispatch every POLL seconds until nothing more will happen:
    every work order final, or the rest Halted with nothing in flight. Returns the time of
    the last work order's end (from the first dispatch)."""
    probe.t0 = time.perf_counter()
    while True:
        workorders.dispatch_due_work_orders()
        time.sleep(POLL)
        with probe.lock:
            claimed = {i for _, ids in probe.claims for i in ids}
            ended = {i for i, runs in probe.runs.items() if len(runs) >= 1}
        now = statuses(fleet)
        open_ = {i: s for i, s in now.items() if s not in FINAL}
        in_flight = claimed - ended
        if not in_flight and all(s is S.HALTED for s in open_.values()):
            break
        if time.perf_counter() - probe.t0 > limit:
            print(f"note: stopped after {limit:.0f} s with {len(open_)} work order(s) open")
            break
    with probe.lock:
        return max((end for runs in probe.runs.values() for _, end, _ in runs), default=0.0)


def waves(fleet: Fleet, probe: Probe) -> tuple[str, list[tuple[str, list[int]]]]:
    """The rollout's waves, from the product when it has rollouts, else start batches."""
    if rollout_view is not None:
        with session_scope(fleet.settings.database_url) as db:
            view = rollout_view(db, fleet.request)
            found = [[m.id for m in w.work_orders] for w in view.waves]
            state = f"rollout {view.label}: {view.progress} ({view.state.value})"
        names = ["canary"] + [f"wave {k}" for k in range(1, len(found))]
        return state, list(zip(names, found, strict=True))
    batches = [(f"batch {k + 1}", ids) for k, (_, ids) in enumerate(probe.claims)]
    return "no rollouts on this branch (data/rollouts.py has no rollout_view): rows are the "\
        "batches of work orders one dispatch started together", batches  # fmt: skip


def snapshot(devices: list[Device]) -> dict[str, dict[str, tuple[int, int, str]]]:
    """Every file in each connector's folder: size, mtime (ns) and SHA-256."""

    def files(folder: Path) -> dict[str, tuple[int, int, str]]:
        return {
            p.name: (
                p.stat().st_size,
                p.stat().st_mtime_ns,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
            for p in sorted(folder.iterdir())
        }

    return {d.name: files(d.folder) for d in devices}


def cpu_busy() -> tuple[float, float]:
    """Busy and total jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=200)
    parser.add_argument("--wave", type=int, default=50, help="connectors per wave after the canary")
    parser.add_argument("--settle", type=float, default=None,
                        help="CERTPUSH_VERIFY_SETTLE (default: the product's, 3 s)")  # fmt: skip
    parser.add_argument("--grace", type=float, default=None,
                        help="CERTPUSH_VERIFY_GRACE (default: the product's, 60 s)")  # fmt: skip
    parser.add_argument("--parallelism", type=int, default=25, help="CERTPUSH_PUSH_PARALLELISM")
    parser.add_argument("--canary-fails", action="store_true",
                        help="the canary's reload does nothing: it fails verification")  # fmt: skip
    parser.add_argument("--nginx-count", type=int, default=1,
                        help="nginx instances the server blocks are spread over")  # fmt: skip
    parser.add_argument("--limit", type=float, default=600, help="give up after this many s")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with tempfile.TemporaryDirectory(prefix="certpush-bench-rollout-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        fleet = build(root, args)
        os.environ.update(
            {
                "DATABASE_URL": fleet.settings.database_url,
                "CERTPUSH_INSTANCE": str(root),
                "CERTPUSH_MASTER_KEY": fleet.settings.master_key or "",
                "CERTPUSH_PROFILES_FILE": str(fleet.settings.profiles_path),
                "CERTPUSH_PUSH_PARALLELISM": str(args.parallelism),
            }
        )
        if args.settle is not None:
            os.environ["CERTPUSH_VERIFY_SETTLE"] = str(args.settle)
        if args.grace is not None:
            os.environ["CERTPUSH_VERIFY_GRACE"] = str(args.grace)
        effective = Settings.from_env()
        for nginx in fleet.nginxes:
            nginx.start()
        fleet.sshd.start()
        try:
            setup = {"instance, certificates, servers, connectors": time.perf_counter() - started}
            setup |= request_and_implement(fleet, args.wave)
            before = snapshot(fleet.devices)
            probe = Probe()
            instrument(probe)
            idle0 = cpu_busy()
            time.sleep(2)  # what the rest of the machine uses, just before
            cpu0 = cpu_busy()
            usage0 = resource.getrusage(resource.RUSAGE_SELF)
            total = drive(fleet, probe, args.limit)
            usage1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu1 = cpu_busy()
            final = statuses(fleet)
            after = snapshot(fleet.devices)
            served = {d.name: [served_by(p) for p in d.ports] for d in fleet.devices}
            with session_scope(fleet.settings.database_url) as db:
                retried = db.scalar(
                    select(func.count()).select_from(PushAttempt).where(PushAttempt.try_number > 1)
                )
            machine = (idle0, cpu0, cpu1, usage0, usage1)
            report(args, effective, fleet, probe, setup, total, final, before, after, served,
                   retried or 0, machine)  # fmt: skip
        finally:
            fleet.sshd.stop()
            for nginx in fleet.nginxes:
                nginx.stop()


def served_by(port: int) -> str:
    try:
        return tls_fingerprint("127.0.0.1", port, timeout=5)
    except OSError as exc:
        return f"error: {exc}"


def report(args, settings, fleet, probe, setup, total, final, before, after, served, retried,
           machine) -> None:  # fmt: skip
    idle0, cpu0, cpu1, usage0, usage1 = machine
    earlier = (cpu0[0] - idle0[0]) / max(1.0, cpu0[1] - idle0[1])
    busy = (cpu1[0] - cpu0[0]) / max(1.0, cpu1[1] - cpu0[1])
    own_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    scenario = "the canary fails verification" if args.canary_fails else "every device verifies"
    print(f"certpush rollout benchmark: one certificate to {len(fleet.devices)} nginx connectors "
          f"over SSH (127.0.0.1), {scenario}")  # fmt: skip
    print(f"CPUs: {os.cpu_count()}; machine CPU busy {earlier:.0%} in the 2 s before, "
          f"{busy:.0%} during the rollout; this process {own_cpu:.1f} CPU s in it")  # fmt: skip
    nginxes = f"{len(fleet.nginxes)} nginx" + ("es" if len(fleet.nginxes) > 1 else "")
    print(f"endpoints: {2 * len(fleet.devices)} (2 ports per server block, {nginxes}); "
          f"CERTPUSH_PUSH_PARALLELISM={settings.push_parallelism}, wave {args.wave}, "
          f"settle {settings.verify_settle_seconds:g} s, "
          f"grace {settings.verify_grace_seconds:g} s, dispatch every {POLL} s")  # fmt: skip
    print()
    print(f"{'setup (not timed in the rollout)':52} {'s':>7}")
    for name, seconds in setup.items():
        print(f"{name:52} {seconds:7.1f}")
    print()
    heading, rows = waves(fleet, probe)
    print(heading)
    print(f"{'wave':10} {'work orders':>11} {'start s':>8} {'end s':>8} {'dur s':>7} "
          f"{'gap s':>6}  statuses")  # fmt: skip
    previous_end = None
    for name, ids in rows:
        spans = [r for i in ids for r in probe.runs.get(i, [])]
        counts = Counter(final[i].value for i in ids)
        said = ", ".join(f"{n} {s}" for s, n in counts.most_common())
        if not spans:
            print(f"{name:10} {len(ids):>11} {'-':>8} {'-':>8} {'-':>7} {'-':>6}  {said}")
            continue
        start, end = min(s for s, _, _ in spans), max(e for _, e, _ in spans)
        gap = "" if previous_end is None else f"{start - previous_end:6.1f}"
        print(f"{name:10} {len(ids):>11} {start:8.1f} {end:8.1f} {end - start:7.1f} {gap:>6}  "
              f"{said}")  # fmt: skip
        previous_end = end
    counts = Counter(s.value for s in final.values())
    print(
        f"{'total':10} {len(final):>11} {0:8.1f} {total:8.1f} {total:7.1f} {'':>6}  "
        + ", ".join(f"{n} {s}" for s, n in counts.most_common())
    )
    print()
    thread = sum(e - s for runs in probe.runs.values() for s, e, _ in runs)
    reload_said = "the canary's: true" if args.canary_fails else "nginx -s reload"
    sec = probe.seconds
    in_execute = sec[EXECUTE] - sec[CONNECT] - sec[TEST] - sec[RELOAD] - sec[SFTP] - sec[PUSH_DB]
    rest = thread - sec[EXECUTE] - sec[PREFLIGHT] - sec[BASELINE] - sec[SETTLE] - sec[WAIT] \
        - sec[VERIFY_PROBES] - sec[RUN_DB]  # fmt: skip
    print(f"{'thread time of the pushes':40} {'s':>8} {'share':>6} {'calls':>6}")
    lines = [
        ("all work orders (run_work_order)", thread, len(probe.runs)),
        ("  probe round before the install", sec[BASELINE], probe.calls[BASELINE]),
        ("  install/rollback (execute_plan)", sec[EXECUTE], probe.calls[EXECUTE]),
        ("    SSH connect + login", sec[CONNECT], probe.calls[CONNECT]),
        ("    test command (nginx -t)", sec[TEST], probe.calls[TEST]),
        (f"    reload command ({reload_said})", sec[RELOAD], probe.calls[RELOAD]),
        ("    SFTP (open, read, write, rename)", sec[SFTP], probe.calls[SFTP]),
        ("    database (attempt rows, audit)", sec[PUSH_DB], probe.calls[PUSH_DB]),
        ("    other (key, files plan, threads)", in_execute, None),
        ("  settle sleep", sec[SETTLE], probe.calls[SETTLE]),
        ("  probe rounds (verification)", sec[VERIFY_PROBES], probe.calls[VERIFY_PROBES]),
        ("  waits between probe rounds", sec[WAIT], probe.calls[WAIT]),
        ("  preflight at push time", sec[PREFLIGHT], probe.calls[PREFLIGHT]),
        ("  database (statuses, probe rows, audit)", sec[RUN_DB], probe.calls[RUN_DB]),
        ("  other", rest, None),
    ]
    for name, seconds, calls in lines:
        share = seconds / thread if thread else 0.0
        print(f"{name:40} {seconds:8.1f} {share:6.1%} {'' if calls is None else calls:>6}")
    print(f"retried tries (transient failures, backoff from {settings.retry_base_seconds:g} s): "
          f"{retried}")  # fmt: skip
    walls = sorted(w for w, _ in probe.claim_costs)
    cpu = sum(c for _, c in probe.claim_costs)
    print(f"scheduler thread: {len(walls)} dispatches; claim_due median "
          f"{1000 * walls[len(walls) // 2]:.0f} ms, max {1000 * walls[-1]:.0f} ms, "
          f"{sum(walls):.1f} s in all ({cpu:.1f} CPU s)")  # fmt: skip
    print()
    old = {d.name: d.old_fingerprint for d in fleet.devices}
    if args.canary_fails:
        canary = fleet.devices[0].name
        others = [d.name for d in fleet.devices if d.name != canary]
        changed = [n for n in others if after[n] != before[n]]
        still_old = sum(fp == old[n] for n in others for fp in served[n])
        kept = all(f == old[canary] for f in served[canary])
        print(f"canary {canary}: {final[fleet.work_orders[0]].value}; its endpoints serve "
              f"{'its old certificate' if kept else served[canary]}")  # fmt: skip
        print(f"the other {len(others)} connectors: files changed on disk (bytes or mtime) in "
              f"{len(changed)}; endpoints serving their old certificate by handshake: "
              f"{still_old} of {2 * len(others)}")  # fmt: skip
        if changed:
            print(f"  changed: {', '.join(changed[:10])}{' …' if len(changed) > 10 else ''}")
    else:
        new = sum(fp == fleet.new_fingerprint for fps in served.values() for fp in fps)
        print(f"endpoints serving the new certificate by handshake: {new} of "
              f"{2 * len(fleet.devices)}")  # fmt: skip


if __name__ == "__main__":
    main()
