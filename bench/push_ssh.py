"""Benchmark: one certificate pushed to one nginx over SSH, end to end.

Starts a private OpenSSH server and a private nginx on 127.0.0.1 (the same helpers
the tests use), imports two certificates with their keys, binds one ssh connector to
both, then alternates pushes between them so every push really installs (no
"already installed" shortcut). Each push goes through jobs.push.push_certificate:
database reads, key decryption, SSH connect with host-key pinning and key auth,
SFTP upload of certificate and key, rename into place, `nginx -t`, `nginx -s reload`,
and the attempt row write. After each push a TLS handshake confirms nginx serves it.

Run: python bench/push_ssh.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.config import Settings  # noqa: E402
from data.connectors import add_connector, bind  # noqa: E402
from data.crypto import generate_master_key, load_vault  # noqa: E402
from data.db import session_scope  # noqa: E402
from data.domain.profiles import BUILT_IN, Layout, Profile, ProfileBook  # noqa: E402
from data.importer import import_paths  # noqa: E402
from data.schema import upgrade  # noqa: E402
from jobs.connectors.base import InstallOutcome  # noqa: E402
from jobs.push import push_certificate  # noqa: E402
from tests.servers import (  # noqa: E402
    PrivateNginx,
    PrivateSshd,
    free_port,
    make_cert_files,
    make_client_key,
    wait_for_fingerprint,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed pushes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="certpush-bench-push-") as tmp:
        root = Path(tmp)
        settings = Settings.for_folder(root, master_key=generate_master_key())
        upgrade(settings.database_url)
        vault = load_vault(settings)
        tls = root / "device"
        cert0, key0, _ = make_cert_files(tls, "bench.example", stem="site")
        candidates = [make_cert_files(root / "new", "bench.example", stem=f"c{i}") for i in (1, 2)]
        now = datetime.now(UTC)
        with session_scope(settings.database_url) as db:
            import_paths(db, vault, [p for c in candidates for p in c[:2]], now=now, actor="b")
        port = free_port()
        nginx = PrivateNginx(root / "nginx")
        nginx.add_site(port, cert0, key0)
        sshd = PrivateSshd(root / "sshd")
        key_path, public = make_client_key(root / "client")
        sshd.authorize(public)
        nginx.start()
        sshd.start()
        # The device profile an administrator would define for this nginx.
        book = ProfileBook(
            {
                **BUILT_IN,
                "bench-nginx": Profile(
                    "bench-nginx",
                    Layout.SEPARATE,
                    tuple(nginx.test_argv),
                    tuple(nginx.reload_argv),
                    (str(cert0.parent),),
                ),
            }
        )
        try:
            with session_scope(settings.database_url) as db:
                add_connector(
                    db,
                    vault,
                    name="bench-ssh",
                    type_name="ssh",
                    settings={
                        "host": "127.0.0.1",
                        "port": sshd.port,
                        "username": sshd.username,
                        "host_key_fingerprint": sshd.host_key_fingerprint,
                        "profile": "bench-nginx",
                        "cert_path": str(cert0),
                        "key_path": str(key0),
                    },
                    endpoints=[{"host": "127.0.0.1", "port": port}],
                    secret=key_path.read_bytes(),
                    secret_kind="private_key",
                    actor="b",
                    now=now,
                    book=book,
                )
                for _, _, fingerprint in candidates:
                    bind(db, "bench-ssh", fingerprint, actor="b", now=now)
            push_times, live_times = [], []
            for run in range(args.runs + 1):  # the first push warms caches and is not counted
                fingerprint = candidates[run % 2][2]
                start = time.perf_counter()
                report = push_certificate(
                    settings.database_url, vault, fingerprint, "bench-ssh", actor="b", book=book
                )
                pushed = time.perf_counter()
                assert report.outcome is InstallOutcome.INSTALLED, report.reason
                wait_for_fingerprint("127.0.0.1", port, fingerprint)
                live = time.perf_counter()
                if run:
                    push_times.append((pushed - start) * 1000)
                    live_times.append((live - start) * 1000)
        finally:
            sshd.stop()
            nginx.stop()
    print("certpush push benchmark: one certificate to one nginx over SSH (127.0.0.1)")
    print(f"CPUs: {os.cpu_count()}, runs: {args.runs} (after 1 warm-up)")
    print(f"{'measure':45} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for name, values in (
        ("push_certificate (connect .. reload, recorded)", push_times),
        ("until a TLS handshake serves the new cert", live_times),
    ):
        print(f"{name:45} {statistics.median(values):10.0f} {min(values):8.0f} {max(values):8.0f}")


if __name__ == "__main__":
    main()
