"""sslyze side of bench/verify_sweep.py: run in a separate venv that has sslyze.

Reads a JSON list of [host, port] from the file named on the command line, scans every
address with sslyze's certificate-info scan only (ScanCommand.CERTIFICATE_INFO, default
Scanner settings), and prints one JSON object: elapsed seconds, CPU seconds, peak RSS and
each address's leaf-certificate SHA-256 (or its connectivity / scan error).

Run: /path/to/sslyze-venv/bin/python bench/verify_sslyze_driver.py addresses.json
"""

from __future__ import annotations

import json
import sys
import time

from cryptography.hazmat.primitives import hashes
from sslyze import (
    ScanCommand,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)


def peak_mb() -> float:
    """VmHWM: unlike ru_maxrss, not inherited from the parent across fork + exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    with open(sys.argv[1]) as f:
        addresses = json.load(f)
    start = time.perf_counter()
    cpu = time.process_time()
    scanner = Scanner()
    scanner.queue_scans(
        [
            ServerScanRequest(
                server_location=ServerNetworkLocation(hostname=host, port=port, ip_address=host),
                scan_commands={ScanCommand.CERTIFICATE_INFO},
            )
            for host, port in addresses
        ]
    )
    served: dict[str, str] = {}
    for result in scanner.get_results():
        key = f"{result.server_location.hostname}:{result.server_location.port}"
        if result.scan_status != ServerScanStatusEnum.COMPLETED or result.scan_result is None:
            served[key] = f"error: {result.connectivity_status.name}"
            continue
        attempt = result.scan_result.certificate_info
        if attempt.result is None:
            served[key] = f"error: {attempt.status.name}"
            continue
        leaf = attempt.result.certificate_deployments[0].received_certificate_chain[0]
        served[key] = leaf.fingerprint(hashes.SHA256()).hex()
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu,
                "peak_mb": peak_mb(),
                "served": served,
            }
        )
    )


if __name__ == "__main__":
    main()
