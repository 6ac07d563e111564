"""Benchmark: notification delivery to a local SMTP server (aiosmtpd on 127.0.0.1).

The server runs in a process of its own, as a real mail server does.

(a) latency: a work order is requested (its "approval needed" event is written with it);
    the real scheduler process's notifier job (every 2 s) mails the reviewer; measured
    from the request's commit to the SMTP server's acceptance, RUNS times.
(b) throughput: MESSAGES pending deliveries in the outbox, sent by the notifier's
    ``deliver_due`` (batches of 50 over one SMTP connection each, one short transaction
    per outcome) until none is left: messages per second.

Run: python bench/notify.py [--runs 20] [--messages 2000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
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

from data import notifications as outbox  # noqa: E402
from data.config import Settings  # noqa: E402
from data.connectors import add_connector, bind  # noqa: E402
from data.crypto import generate_master_key, load_vault  # noqa: E402
from data.db import session_scope  # noqa: E402
from data.domain.notifications import EventKind, Relevance  # noqa: E402
from data.domain.workflow import Actor  # noqa: E402
from data.importer import import_paths  # noqa: E402
from data.profiles import load_book  # noqa: E402
from data.schema import upgrade  # noqa: E402
from data.users import add_user  # noqa: E402
from data.workorders import request_push  # noqa: E402
from jobs.notify.notifier import BATCH, deliver_due  # noqa: E402
from tests.servers import free_port, make_cert_files  # noqa: E402


class SmtpProcess:
    """The test SMTP server (tests/notify_servers.py) in a process of its own, as a real
    mail server is: it does not compete with the notifier for this interpreter's lock."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.log = folder / "smtp-received.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.notify_servers", str(self.port), str(self.log)],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the SMTP server did not start"
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def accepted(self) -> list[float]:
        """Acceptance times, in order."""
        return [float(line.split()[0]) for line in self.log.read_text().splitlines() if line]

    def wait_count(self, count: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(times := self.accepted()) < count:
            assert time.monotonic() < deadline, f"{len(times)} of {count} messages arrived"
            time.sleep(0.01)
        return times

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def setup(root: Path, database_url: str | None, certs: int) -> tuple[Settings, list[str]]:
    settings = Settings.for_folder(root, master_key=generate_master_key(),
                                   database_url=database_url)  # fmt: skip
    settings = replace(settings, local_connectors=True)
    settings.profiles_path.write_text(
        f'[profiles.bench-files]\nlayout = "separate"\nfolders = ["{root.resolve()}"]\n'
    )
    # request_push reads the profile book and the local-connector switch from the environment
    os.environ["CERTPUSH_PROFILES_FILE"] = str(settings.profiles_path)
    os.environ["CERTPUSH_LOCAL_CONNECTORS"] = "on"
    upgrade(settings.database_url)
    vault = load_vault(settings)
    now = datetime.now(UTC)
    made = [make_cert_files(root / "in", f"n{i}.example") for i in range(certs)]
    with session_scope(settings.database_url) as db:
        for name, role in (("olivia", "operator"), ("ravi", "reviewer")):
            add_user(db, name, role, "long-password-1", now)
            outbox.set_email(db, name, f"{name}@example.org", actor="b", now=now)
        import_paths(db, vault, [p for c in made for p in c[:2]], now=now, actor="b")
        add_connector(db, vault, name="dev", type_name="local", actor="b", role="admin",
                      now=now, book=load_book(settings),
                      settings={"profile": "bench-files", "cert_path": str(root / "site.crt"),
                                "key_path": str(root / "site.key")})  # fmt: skip
        for _, _, fingerprint in made:
            bind(db, "dev", fingerprint, actor="b", now=now)
    return settings, [fp for _, _, fp in made]


def latency(settings: Settings, fingerprints: list[str], smtp: SmtpProcess) -> list[float]:
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "CERTPUSH_MASTER_KEY": settings.master_key,
           "CERTPUSH_INSTANCE": str(settings.instance_dir),
           "CERTPUSH_LOCAL_CONNECTORS": "on", "CERTPUSH_SMTP_URL": smtp.url,
           "CERTPUSH_PROFILES_FILE": str(settings.profiles_path),
           "CERTPUSH_STATIC_CHARTS": "native"}  # fmt: skip
    scheduler = subprocess.Popen([sys.executable, "-m", "jobs.scheduler"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    values = []
    try:
        time.sleep(4)  # up, and the weekly catch-up run done
        for fingerprint in fingerprints:
            seen = len(smtp.accepted())
            with session_scope(settings.database_url) as db:
                request_push(db, fingerprint, actor=Actor("olivia", "operator"),
                             now=datetime.now(UTC))  # fmt: skip
            committed = time.time()
            times = smtp.wait_count(seen + 1, timeout=20)
            values.append((times[seen] - committed) * 1000)
            time.sleep(random.uniform(0.1, 2.1))  # land anywhere in the 2 s poll
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
    return values


def throughput(settings: Settings, smtp: SmtpProcess, messages: int) -> tuple[float, int]:
    payload = {"event": "approval_needed", "work_order": "WO-000001", "request": "REQ-000001",
               "requester": "olivia", "status": "Push-Approval Pending", "actor": "olivia",
               "action": "request", "at": datetime.now(UTC).isoformat(), "level": "Approve",
               "certificate": {"common_name": "bench.example", "fingerprint": "ab" * 32,
                               "not_after": "2030-01-01T00:00:00+00:00"},
               "connector": {"name": "dev", "zone": "local"},
               "path": f"/certificates/{'ab' * 32}/topology"}  # fmt: skip
    with session_scope(settings.database_url) as db:
        for _ in range(messages):
            outbox.emit(db, EventKind.APPROVAL_NEEDED, now=datetime.now(UTC), payload=payload,
                        actor="olivia", audience={"ravi": Relevance.MAY_ACT})  # fmt: skip
    before = len(smtp.accepted())
    vault = load_vault(settings)
    settings = replace(settings, smtp_url=smtp.url)
    start = time.perf_counter()
    while deliver_due(settings, vault, now=datetime.now(UTC), limit=BATCH).claimed:
        pass
    elapsed = time.perf_counter() - start
    sent = len(smtp.wait_count(before + messages, timeout=30)) - before
    return elapsed, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certpush-bench-notify-") as tmp:
        settings, fingerprints = setup(Path(tmp), args.database_url, args.runs)
        smtp = SmtpProcess(Path(tmp))
        try:
            values = latency(settings, fingerprints, smtp)
            elapsed, sent = throughput(settings, smtp, args.messages)
        finally:
            smtp.stop()
    database = settings.database_url.split(":", 1)[0]
    print("certpush: notification delivery to a local SMTP server (aiosmtpd, 127.0.0.1)")
    print(f"CPUs: {os.cpu_count()}, database: {database}, notifier poll: 2 s, batch: {BATCH}")
    print(f"{'measure':44} {'median':>9} {'p95':>9} {'min':>9} {'max':>9}")
    p95 = statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]
    name = f"event -> SMTP receipt, ms ({len(values)} runs)"
    median, low, high = statistics.median(values), min(values), max(values)
    print(f"{name:44} {median:9.0f} {p95:9.0f} {low:9.0f} {high:9.0f}")
    print(f"{'outbox throughput':44} {sent / elapsed:9.0f} messages/s "
          f"({sent} of {args.messages} in {elapsed:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
