"""Benchmark: run_preflight for a plan with 1 endpoint and with 200 endpoints.

Starts a private OpenSSH server and a private nginx on 127.0.0.1 (the same helpers the
tests use). nginx serves another certificate on one port for every name under
``*.bench.test``; the 200-endpoint plan lists that port 200 times with a different SNI
name each (h0.bench.test ... h199.bench.test), so every probe is a full TLS handshake
answered by a real server. Each run does everything a preflight does: SSH login with
the pinned host key and key auth, SFTP stat and write probe of the target folder, key,
chain (against the system store too), validity and SNI checks, and one handshake per
endpoint.

The test nginx allows 128 connections per worker (tests/servers.py); a device serving
200 names is configured for more (Debian's default is 768), so the bench raises it to
``--worker-connections`` (1024). With 128, part of the 200 handshakes are reset by nginx
itself, which shows what preflight reports against an overloaded listener.

Run: python bench/preflight.py [--runs 3] [--worker-connections 1024]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.preflight import run_preflight, system_roots  # noqa: E402
from tests.chains import Pki, fingerprint, key_pem, pem  # noqa: E402
from tests.servers import (  # noqa: E402
    PrivateNginx,
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
)


class RoomyNginx(PrivateNginx):
    """The test nginx with more connections per worker."""

    worker_connections = 1024

    def config_text(self) -> str:
        return (
            super()
            .config_text()
            .replace(
                "events { worker_connections 128; }",
                f"events {{ worker_connections {self.worker_connections}; }}",
            )
        )


def plan_for(pki: Pki, sshd: PrivateSshd, folder: Path, port: int, count: int) -> dict:
    return {
        "certificate": {
            "fingerprint": fingerprint(pki.leaf),
            "common_name": "*.bench.test",
            "chain": [fingerprint(pki.intermediate)],
        },
        "connector": {
            "name": "bench",
            "type": "ssh",
            "target": {
                "host": "127.0.0.1",
                "port": sshd.port,
                "username": sshd.username,
                "host_key": sshd.host_key_fingerprint,
            },
        },
        "profile": {"name": "nginx", "layout": "fullchain", "folders": [str(folder)]},
        "files": [
            {"path": str(folder / "site.crt"), "mode": "0644", "parts": ["certificate", "chain"]},
            {"path": str(folder / "site.key"), "mode": "0600", "parts": ["key"]},
        ],
        "commands": {"test": None, "reload": None},
        "timeouts": {"command": 60, "push": 180, "connect": 10},
        "endpoints": [
            {"host": "127.0.0.1", "port": port, "sni": f"h{i}.bench.test"} for i in range(count)
        ],
        "digest": "0" * 64,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per plan (median)")
    parser.add_argument("--worker-connections", type=int, default=1024, help="nginx's limit")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="certpush-bench-preflight-") as tmp:
        root = Path(tmp)
        pki = Pki.make(now, ["*.bench.test"], cn="*.bench.test")
        served_cert, served_key, _ = make_cert_files(
            root / "served", "old.bench.test", sans=["*.bench.test"]
        )
        folder = root / "device" / "tls"
        folder.mkdir(parents=True)
        port = free_port()
        RoomyNginx.worker_connections = args.worker_connections
        nginx = RoomyNginx(root / "nginx")
        nginx.add_site(port, served_cert, served_key)
        sshd = PrivateSshd(root / "sshd")
        key_path, public = make_client_key(root / "client")
        sshd.authorize(public)
        roots = [pki.root, *system_roots()]
        nginx.start()
        sshd.start()
        try:
            for count in (1, 200):
                plan = plan_for(pki, sshd, folder, port, count)
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    result = run_preflight(
                        plan,
                        cert_pem=pem(pki.leaf),
                        key_pem=key_pem(pki.leaf_key),
                        chain_pem=pem(pki.intermediate),
                        secret=key_path.read_bytes(),
                        secret_kind="private_key",
                        roots=roots,
                        now=now,
                    )
                    times.append(time.perf_counter() - start)
                outcomes = collections.Counter(e["now"]["outcome"] for e in result["endpoints"])
                statuses = {c["name"]: c["status"] for c in result["checks"]}
                print(
                    f"{count:>3} endpoint(s): median {statistics.median(times) * 1000:7.1f} ms "
                    f"over {args.runs} runs (min {min(times) * 1000:.1f}, "
                    f"max {max(times) * 1000:.1f}); status {result['status']}; "
                    f"outcomes {dict(outcomes)}; checks {statuses}"
                )
        finally:
            sshd.stop()
            nginx.stop()


if __name__ == "__main__":
    main()
