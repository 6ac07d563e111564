"""Benchmark: building a push plan with its preflight, for 1 and for 200 endpoints.

Through the product, as a request does it: a SQLite instance with the certificate, its
key and intermediate imported, and an ``ssh`` connector (built-in ``nginx`` profile
pointed at a test folder) to a private OpenSSH server on 127.0.0.1, listing 1 or 200
endpoints of a private nginx (one port, a different SNI name each). Timed separately:

- ``request``: ``request_push`` (build the plan from the stored facts, digest, pin it);
- ``preflight``: ``check_plan`` as the scheduler runs it (decrypt key and credential,
  SSH login with the pinned host key, folder checks over SFTP, key/chain/validity/SNI,
  one TLS handshake per endpoint, result stored with the plan).

Run: python bench/push_plan.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.preflight import RoomyNginx  # noqa: E402
from data.config import Settings  # noqa: E402
from data.connectors import add_connector, bind, update_connector  # noqa: E402
from data.crypto import generate_master_key, load_vault  # noqa: E402
from data.db import session_scope  # noqa: E402
from data.domain.profiles import BUILT_IN, ProfileBook  # noqa: E402
from data.domain.workflow import Actor  # noqa: E402
from data.importer import import_paths  # noqa: E402
from data.push_plans import current_plan  # noqa: E402
from data.schema import upgrade  # noqa: E402
from data.workorders import request_push  # noqa: E402
from jobs.plan_checks import check_plan  # noqa: E402
from tests.chains import Pki, fingerprint, key_pem, pem  # noqa: E402
from tests.servers import (  # noqa: E402
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size (median)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="certpush-bench-plan-") as tmp:
        root = Path(tmp)
        settings = Settings.for_folder(root, master_key=generate_master_key())
        upgrade(settings.database_url)
        vault = load_vault(settings)
        pki = Pki.make(now, ["*.bench.test"], cn="*.bench.test")
        inventory = root / "inventory"
        inventory.mkdir()
        (inventory / "leaf.pem").write_bytes(pem(pki.leaf) + key_pem(pki.leaf_key))
        (inventory / "chain.pem").write_bytes(pem(pki.intermediate) + pem(pki.root))
        served_cert, served_key, _ = make_cert_files(
            root / "served", "old.bench.test", sans=["*.bench.test"]
        )
        folder = (root / "device" / "tls").resolve()
        folder.mkdir(parents=True)
        port = free_port()
        nginx = RoomyNginx(root / "nginx")
        nginx.add_site(port, served_cert, served_key)
        sshd = PrivateSshd(root / "sshd")
        key_path, public = make_client_key(root / "client")
        sshd.authorize(public)
        book = ProfileBook({**BUILT_IN, "nginx": replace(BUILT_IN["nginx"],
                                                         folders=(str(folder),))})  # fmt: skip
        nginx.start()
        sshd.start()
        try:
            with session_scope(settings.database_url) as db:
                import_paths(db, vault, [inventory], now=now, actor="b")
                add_connector(
                    db, vault, name="bench", type_name="ssh", actor="b", now=now, book=book,
                    settings={"profile": "nginx", "host": "127.0.0.1", "port": sshd.port,
                              "username": sshd.username,
                              "host_key_fingerprint": sshd.host_key_fingerprint,
                              "cert_path": str(folder / "site.crt"),
                              "key_path": str(folder / "site.key")},
                    secret=key_path.read_bytes(), secret_kind="private_key",
                )  # fmt: skip
                bind(db, "bench", fingerprint(pki.leaf), actor="b", now=now)
            for count in (1, 200):
                endpoints = [f"127.0.0.1:{port} h{i}.bench.test" for i in range(count)]
                with session_scope(settings.database_url) as db:
                    update_connector(db, vault, "bench", endpoints=endpoints, actor="b",
                                     role="admin", now=now, book=book)  # fmt: skip
                requests, checks, status = [], [], ""
                for _ in range(args.runs):
                    start = time.perf_counter()
                    with session_scope(settings.database_url) as db:
                        _, [wo] = request_push(db, fingerprint(pki.leaf), now=now, book=book,
                                               actor=Actor("olivia", "operator"))  # fmt: skip
                        plan = current_plan(db, wo.id)
                    built = time.perf_counter()
                    result = check_plan(settings.database_url, vault, plan, now=now,
                                        min_days_left=7)  # fmt: skip
                    done = time.perf_counter()
                    requests.append((built - start) * 1000)
                    checks.append((done - built) * 1000)
                    status = result["status"]
                totals = [a + b for a, b in zip(requests, checks, strict=True)]
                print(
                    f"{count:>3} endpoint(s): plan built and pinned "
                    f"{statistics.median(requests):6.1f} ms, "
                    f"preflight {statistics.median(checks):6.1f} ms, together "
                    f"{statistics.median(totals):6.1f} ms (median of {args.runs}; "
                    f"preflight status {status})"
                )
        finally:
            sshd.stop()
            nginx.stop()


if __name__ == "__main__":
    main()
