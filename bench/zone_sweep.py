"""Benchmark: a verification sweep through zone agents and RabbitMQ, against the same
fleet probed in process; Implement → the agent starting the push; how long a zone takes
to show offline once its last agent dies.

What is measured
----------------
The fleet: N TLS endpoints (default 5,000) in two zones. Each zone is a Linux network
namespace running its own private nginx (Debian's) on 127.0.0.1:PORT with one
certificate; the endpoints differ by SNI name (``e123.zone-a.example``), so every probe
is a full TCP + TLS handshake. The central side cannot reach them: one agent per zone
runs inside the namespace (``certpush agent``, through ``ip netns exec``) and reaches the
broker (a private RabbitMQ on 127.0.0.1) over a veth pair; ``certpush central`` writes
their answers to the database (SQLite, made by the real migrations).

1. **In process**: the same fleet, the same nginx configuration, on the host's loopback,
   swept by ``jobs.verify.run_sweep`` with no broker (as the scheduler does today).
2. **Through the agents**: ``run_sweep`` with ``CERTPUSH_BROKER_URL``: the endpoints go
   to the zones' queues in batches of 500, each agent probes with the same engine, the
   central worker stores the signed answers, the sweep collects them.
3. **Implement → push start**: a work order of zone A is approved and implemented; the
   scheduler's dispatch (every 0.5 s, as in ``jobs/scheduler.py``) claims it, probes the
   endpoints through the agent (the baseline) and sends the sealed push; the time from
   Implement to the agent's log line receiving the push task.
4. **Offline after the last agent dies**: zone B's agent is killed (SIGKILL); the time
   until ``zone_online`` says offline.

Targets (issue 15): the distributed sweep within 25% of the in-process one on the same
2 cores; Implement → agent push start under 2 s.

Run (root: namespaces and RabbitMQ): python bench/zone_sweep.py [--endpoints 5000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORT = 9443
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def nginx_conf(folder: Path, cert: Path, key: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {folder}; proxy_temp_path {folder}; fastcgi_temp_path {folder};
  uwsgi_temp_path {folder}; scgi_temp_path {folder};
  server {{
    listen 127.0.0.1:{PORT} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    return 204;
  }}
}}
""")
    return conf


def start_nginx(conf: Path, prefix: list[str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [*prefix, "nginx", "-c", str(conf), "-p", str(conf.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process


def fill(url: str, fingerprint: str, endpoints: int, zones: list[str]) -> dict[str, list[int]]:
    """One certificate pushed to 50-endpoint connectors, half the endpoints in each zone."""
    from sqlalchemy import insert, select

    from data.db import session_scope
    from data.models import Certificate, Connector, Endpoint, PushAttempt

    by_zone: dict[str, list[int]] = {z: [] for z in zones}
    with session_scope(url) as db:
        cert = db.scalar(select(Certificate).where(Certificate.fingerprint_sha256 == fingerprint))
        per = 50
        for zone in zones:
            share = endpoints // len(zones)
            for c in range(0, share, per):
                conn = Connector(
                    name=f"{zone}-{c // per}",
                    type="ssh",
                    settings="{}",
                    created_at=T0,
                    created_by="bench",
                    zone=zone,
                )
                db.add(conn)
                db.flush()
                by_zone[zone].append(conn.id)
                db.execute(
                    insert(Endpoint),
                    [
                        {
                            "connector_id": conn.id,
                            "host": "127.0.0.1",
                            "port": PORT,
                            "sni": f"e{c + i}.{zone}.example",
                        }
                        for i in range(min(per, share - c))
                    ],
                )
                db.add(
                    PushAttempt(
                        certificate_id=cert.id,
                        connector_id=conn.id,
                        actor="bench",
                        started_at=T0,
                        finished_at=T0,
                        outcome="installed",
                        kind="install",
                    )
                )
    return by_zone


def set_zones(url: str, by_zone: dict[str, list[int]], local: bool) -> None:
    from sqlalchemy import update

    from data.db import session_scope
    from data.models import Connector

    with session_scope(url) as db:
        for zone, ids in by_zone.items():
            db.execute(
                update(Connector)
                .where(Connector.id.in_(ids))
                .values(zone="local" if local else zone)
            )


def timed_sweep(url: str, broker: str | None) -> tuple[float, dict]:
    from jobs.verify import run_sweep

    start = time.monotonic()
    report = run_sweep(
        url, broker_url=broker, timeout=5, concurrency=128, processes=None, trigger="bench"
    )
    return time.monotonic() - start, report.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=5000)
    args = parser.parse_args()

    from data.agents import approve, zone_online
    from data.config import Settings
    from data.crypto import generate_master_key
    from data.db import session_scope
    from data.schema import upgrade
    from tests import broker as rabbit
    from tests import netns
    from tests.servers import make_cert_files
    from tests.zones import agent_process, agents_by_name, cli_env, wait_for

    work = Path(tempfile.mkdtemp(prefix="certpush-zone-bench-", dir="/var/tmp"))
    settings = Settings.for_folder(work, master_key=generate_master_key())
    upgrade(settings.database_url)
    cert, key, fingerprint = make_cert_files(
        work / "fleet",
        "fleet.example",
        sans=["fleet.example", "*.zone-a.example", "*.zone-b.example"],
    )
    from data.crypto import load_vault
    from data.importer import import_paths

    with session_scope(settings.database_url) as db:
        import_paths(db, load_vault(settings), [cert, key], now=datetime.now(UTC), actor="bench")
    zones = ["zone-a", "zone-b"]
    by_zone = fill(settings.database_url, fingerprint, args.endpoints, zones)
    total = sum(len(v) for v in by_zone.values())
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"{args.endpoints:,} endpoints in {len(zones)} zones ({total} connectors)"
    )

    # 1. In process, against the same nginx on the host's loopback.
    host_nginx = start_nginx(nginx_conf(work / "nginx-host", cert, key), [])
    set_zones(settings.database_url, by_zone, local=True)
    timed_sweep(settings.database_url, None)  # warm-up (probe workers, caches)
    local_s, local_summary = timed_sweep(settings.database_url, None)
    host_nginx.send_signal(signal.SIGQUIT)
    host_nginx.wait(timeout=20)

    # 2. Through the agents: a namespace, an nginx and an agent per zone.
    broker = rabbit.start_broker()
    spaces, forwards, processes = [], [], []
    env = cli_env(settings, broker.url)
    central_log = open(work / "central.log", "w")  # noqa: SIM115
    processes.append(
        subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "central"],
            env=env,
            stdout=central_log,
            stderr=subprocess.STDOUT,
        )
    )
    agents = {}
    try:
        for zone in zones:
            space = netns.make_zone()
            spaces.append(space)
            forwards.append(
                netns.Forward((space.host_address, broker.port), ("127.0.0.1", broker.port))
            )
            processes.append(
                start_nginx(nginx_conf(work / f"nginx-{zone}", cert, key), space.command())
            )
            url = f"amqp://guest:guest@{space.host_address}:{broker.port}//"
            agents[zone] = agent_process(
                url,
                zone,
                work / f"agent-{zone}",
                f"{zone}-1",
                work / f"agent-{zone}.log",
                prefix=space.command(),
            )
        names = {f"{z}-1" for z in zones}
        wait_for(lambda: names <= set(agents_by_name(settings)), "agents enrolled", 60)
        with session_scope(settings.database_url) as db:
            for name in names:
                approve(db, name, actor="bench", role="admin", now=datetime.now(UTC))
        wait_for(
            lambda: all(a.live(datetime.now(UTC)) for a in agents_by_name(settings).values()),
            "agents live",
            60,
        )
        set_zones(settings.database_url, by_zone, local=False)
        timed_sweep(settings.database_url, broker.url)  # warm-up
        zone_s, zone_summary = timed_sweep(settings.database_url, broker.url)

        # 3. Implement -> the agent receiving the push.
        latency = implement_latency(settings, broker.url, work, agents, by_zone, fingerprint)

        # 4. Offline after the last agent of zone-b dies.
        killed = time.monotonic()
        agents["zone-b"].send_signal(signal.SIGKILL)
        while True:
            with session_scope(settings.database_url) as db:
                if not zone_online(db, "zone-b", datetime.now(UTC)):
                    break
            time.sleep(0.2)
        offline_s = time.monotonic() - killed
    finally:
        for process in [*agents.values(), *processes]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        central_log.close()
        for forward in forwards:
            forward.close()
        for space in spaces:
            space.remove()
        broker.stop()

    rows = [
        ("in process (scheduler)", local_s, local_summary),
        ("through 2 agents + RabbitMQ", zone_s, zone_summary),
    ]
    print(f"\n{'sweep':32} {'seconds':>8} {'endpoints/s':>12}  outcomes")
    for name, seconds, summary in rows:
        print(f"{name:32} {seconds:8.2f} {args.endpoints / seconds:12.0f}  {summary}")
    overhead = (zone_s - local_s) / local_s * 100
    print(f"broker overhead: {overhead:+.0f}% (target: within +25%)")
    print(f"Implement -> agent starts the push: {latency:.2f} s (target: under 2 s)")
    print(
        f"zone offline after its last agent died: {offline_s:.1f} s "
        "(heartbeat every 10 s, offline after 30 s without)"
    )
    shutil.rmtree(work, ignore_errors=True)


def implement_latency(settings, broker_url, work, agents, by_zone, fingerprint) -> float:
    """Implement of a zone-a work order → the agent's log shows the push task received."""
    from sqlalchemy import select, update

    from data.db import session_scope
    from data.domain.workflow import Action, Actor
    from data.models import Binding, Certificate, Connector
    from data.workorders import act
    from jobs import workorders as runner

    with session_scope(settings.database_url) as db:
        cert_id = db.scalar(select(Certificate.id))
        conn_id = by_zone["zone-a"][0]
        db.add(
            Binding(certificate_id=cert_id, connector_id=conn_id, created_at=T0, created_by="bench")
        )
        # A local connector the plan can describe (writes files in the agent's zone).
        db.execute(
            update(Connector)
            .where(Connector.id == conn_id)
            .values(
                type="local",
                settings=f'{{"profile": "bench-files", "cert_path": "{work}/a.crt", '
                f'"key_path": "{work}/a.key"}}',
            )
        )
    from tests.zones import cli_env

    os.environ.update(cli_env(settings, broker_url))
    os.environ["CERTPUSH_PROFILES_FILE"] = str(work / "profiles.toml")
    os.environ["CERTPUSH_LOCAL_CONNECTORS"] = "on"
    from tests.profiles import define

    define("bench-files", folders=[str(work)])
    from data.workorders import request_push

    with session_scope(settings.database_url) as db:
        name = db.scalar(select(Connector.name).where(Connector.id == conn_id))
        _label, [order] = request_push(
            db,
            fingerprint,
            actor=Actor("olivia", "operator"),
            now=datetime.now(UTC),
            connectors=[name],
        )
        assert act(
            db, order.id, Action.APPROVE, actor=Actor("ravi", "reviewer"), now=datetime.now(UTC)
        ).ok
    stop = threading.Event()

    def scheduler() -> None:  # the scheduler's dispatch job, every 0.5 s
        while not stop.is_set():
            runner.dispatch_due_work_orders()
            stop.wait(0.5)

    with session_scope(settings.database_url) as db:
        implemented = datetime.now(UTC)
        assert act(
            db, order.id, Action.IMPLEMENT, actor=Actor("ines", "implementer"), now=implemented
        ).ok
    threading.Thread(target=scheduler, daemon=True).start()
    log = work / "agent-zone-a.log"
    pattern = re.compile(r"^(\S+ \S+) celery.worker.strategy Task certpush.agent.push\[")
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            for line in log.read_text().splitlines():
                found = pattern.match(line)
                if found:
                    at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f")
                    at = at.replace(tzinfo=datetime.now().astimezone().tzinfo)
                    return (at - implemented).total_seconds()
            time.sleep(0.1)
    finally:
        stop.set()
    raise RuntimeError("the agent never received the push")


if __name__ == "__main__":
    main()
