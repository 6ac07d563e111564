"""Preflight of a push plan, run by the scheduler before two people approve it.

Gathers the facts the pure rules in ``data.domain.preflight`` need: logs in to the
device with the pinned host key and the stored credential, looks at the target
folders, reads certificate, key and chain, and handshakes with every endpoint to
record what it serves now. The device checks and the probes run at the same time,
so a preflight costs about the slower of the two, whatever the number of endpoints.

Nothing here changes the device: the folder check writes an empty probe file and
removes it at once, as "Test connection" does.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import math
import os
import ssl
import stat
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import paramiko
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from data.domain.connector_specs import EndpointSpec
from data.domain.errors import CertpushError
from data.domain.preflight import (
    Check,
    CheckStatus,
    EndpointNow,
    certificate_sans,
    check_chain,
    check_endpoints_now,
    check_key_matches,
    check_sni,
    check_validity,
    listing,
    overall,
)
from jobs.connectors.base import ConnectorError
from jobs.connectors.ssh import SftpFiles, SshConnector
from jobs.probe import ProbeResult, probe_many

# Handshakes open at once, as the verification sweep's default (CERTPUSH_VERIFY_CONCURRENCY):
# many endpoints are often one listener with many SNI names, and a server that runs out of
# connections resets the rest, which would read as "nothing answers".
PROBE_CONCURRENCY = 128


class PlanMaterialMismatch(CertpushError):
    """The certificate or chain handed to preflight is not the one the plan pins."""


# ----------------------------------------------------------------------- trust roots


@functools.lru_cache(maxsize=1)
def _system_roots() -> tuple[x509.Certificate, ...]:
    paths = ssl_bundle_paths()
    for path in paths:
        try:
            bundle = Path(path).read_bytes()
        except OSError:
            continue
        with warnings.catch_warnings():  # some distributed roots have odd serial numbers
            warnings.simplefilter("ignore")
            try:
                return tuple(x509.load_pem_x509_certificates(bundle))
            except ValueError:  # one unreadable root: keep the others
                return tuple(_each_pem(bundle))
    return ()


def _each_pem(bundle: bytes) -> list[x509.Certificate]:
    end = b"-----END CERTIFICATE-----"
    found = []
    for block in bundle.split(end):
        if b"-----BEGIN CERTIFICATE-----" in block:
            with contextlib.suppress(ValueError):
                found.append(x509.load_pem_x509_certificate(block + end))
    return found


def ssl_bundle_paths() -> list[str]:
    """Where this host keeps its CA bundle, most specific first."""
    paths = ssl.get_default_verify_paths()
    return [p for p in (paths.cafile, paths.openssl_cafile) if p]


def system_roots() -> list[x509.Certificate]:
    """The system trust store's roots, read once per process (empty when there is none)."""
    return list(_system_roots())


# ------------------------------------------------------------------- device: folders


def _folders(plan: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each target folder with the plan's files that go into it, in plan order."""
    folders: dict[str, list[str]] = {}
    for entry in plan.get("files") or []:
        path = str(entry["path"])
        folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    return folders


def _folders_check(
    folders: dict[str, list[str]],
    where: str,
    user: str,
    kind: Callable[[str], str],
    writable: Callable[[str], bool],
) -> Check:
    """``kind(folder)`` is "folder", "missing", "file" or a reason it cannot be looked at."""
    if not folders:
        return Check("folders", CheckStatus.OK, "the plan writes no files")
    problems = []
    for folder, files in folders.items():
        found = kind(folder)
        needed = f"needed for {listing(files)}"
        if found == "missing":
            problems.append(f"folder {folder} does not exist on {where} ({needed})")
        elif found == "file":
            problems.append(f"{folder} on {where} is a file, not a folder ({needed})")
        elif found != "folder":
            problems.append(f"cannot look at folder {folder} on {where}: {found} ({needed})")
        elif not writable(folder):
            problems.append(f"folder {folder} on {where} is not writable for {user} ({needed})")
    if problems:
        return Check(
            "folders",
            CheckStatus.BLOCKER,
            "; ".join(problems) + ": create the folder, let "
            f"{user} write there, or correct the device profile's paths",
        )
    names = list(folders)
    verb = "exists" if len(names) == 1 else "exist"
    return Check(
        "folders",
        CheckStatus.OK,
        f"{listing(names)} {verb} on {where} and {user} can write there",
    )


def _local_kind(folder: str) -> str:
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"  # a parent is a file: the folder cannot exist
    except OSError as exc:
        return exc.strerror or str(exc)
    return "folder" if stat.S_ISDIR(mode) else "file"


def _local_writable(folder: str) -> bool:
    """Create and remove a probe file: mode bits alone say nothing when we run as root
    (read-only mounts and immutable folders still refuse)."""
    probe = os.path.join(folder, f".certpush-probe-{os.urandom(4).hex()}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _sftp_kind(files: SftpFiles) -> Callable[[str], str]:
    def kind(folder: str) -> str:
        try:
            mode = files.sftp.stat(folder).st_mode or 0
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return exc.strerror or str(exc) or "refused by the server"
        except (paramiko.SSHException, EOFError) as exc:
            return f"the SFTP session failed ({exc})"
        return "folder" if stat.S_ISDIR(mode) else "file"

    return kind


# ----------------------------------------------------------------------- device: ssh


def _ssh_settings(plan: Mapping[str, Any]) -> dict[str, Any]:
    target = plan["connector"]["target"]
    timeouts = plan.get("timeouts") or {}
    return {
        "host": target["host"],
        "port": int(target.get("port") or 22),
        "username": target["username"],
        "host_key_fingerprint": target.get("host_key"),
        "connect_timeout": float(timeouts.get("connect") or 10),
        "command_timeout": float(timeouts.get("command") or 60),
    }


def _ssh_checks(
    plan: Mapping[str, Any], secret: bytes | None, secret_kind: str | None
) -> tuple[Check, Check]:
    settings = _ssh_settings(plan)
    name = plan["connector"].get("name") or settings["host"]
    where = f"{name} ({settings['host']}:{settings['port']})"
    user = settings["username"]
    connector = SshConnector(settings, secret=secret, secret_kind=secret_kind)
    try:
        # One login for both checks; check() would log in again for the folders.
        transport = connector._connect()
    except ConnectorError as exc:
        return (
            Check("ssh", CheckStatus.BLOCKER, f"cannot log in to {where}: {exc}"),
            Check(
                "folders",
                CheckStatus.BLOCKER,
                f"not checked: SSH failed, so {listing(list(_folders(plan)))} could not be "
                "looked at; fix the ssh check and run preflight again",
            ),
        )
    try:
        ssh = Check(
            "ssh",
            CheckStatus.OK,
            f"logged in to {where} as {user}; the host key matches the pinned "
            f"{settings['host_key_fingerprint']}",
        )
        try:
            files = SftpFiles(transport, settings["connect_timeout"])
        except (paramiko.SSHException, EOFError, OSError) as exc:
            return ssh, Check(
                "folders",
                CheckStatus.BLOCKER,
                f"cannot open SFTP on {where} ({exc}): enable the sftp subsystem for {user}",
            )
        return ssh, _folders_check(_folders(plan), where, user, _sftp_kind(files), files.writable)
    finally:
        transport.close()


def device_checks(
    plan: Mapping[str, Any], secret: bytes | None, secret_kind: str | None
) -> tuple[Check, Check]:
    """The "ssh" and "folders" checks for the plan's connector."""
    connector = plan["connector"]
    kind = connector.get("type")
    if kind == "ssh":
        return _ssh_checks(plan, secret, secret_kind)
    if kind == "local":
        host = (connector.get("target") or {}).get("host") or "this host"
        where = f"{connector.get('name') or 'local'} ({host})"
        return (
            Check("ssh", CheckStatus.OK, "runs on this host: no SSH login needed"),
            _folders_check(_folders(plan), where, getpass.getuser(), _local_kind, _local_writable),
        )
    unknown = (
        f"connector type {kind!r} has no preflight check: certpush learns whether "
        f"{connector.get('name')} is reachable only when the push runs"
    )
    return Check("ssh", CheckStatus.WARNING, unknown), Check(
        "folders", CheckStatus.WARNING, unknown
    )


# ------------------------------------------------------------------------- endpoints


def _spec(endpoint: Mapping[str, Any]) -> EndpointSpec:
    return EndpointSpec(str(endpoint["host"]), int(endpoint["port"]), endpoint.get("sni") or None)


def _where(endpoint: Mapping[str, Any]) -> str:
    return str(_spec(endpoint))


def probe_endpoints(
    endpoints: list[Mapping[str, Any]], expected: str, timeout: float
) -> list[ProbeResult]:
    """One handshake per endpoint, all at once (up to PROBE_CONCURRENCY), in plan order."""
    specs = [_spec(e) for e in endpoints]
    if not specs:
        return []
    concurrency = min(len(specs), PROBE_CONCURRENCY)
    rounds = math.ceil(len(specs) / concurrency)
    results = probe_many(
        [(i, spec, expected) for i, spec in enumerate(specs)],
        concurrency=concurrency,
        timeout=timeout,
        bound=timeout * (rounds + 1),
    )
    return [results[i] for i in range(len(specs))]


def _endpoint_record(endpoint: Mapping[str, Any], result: ProbeResult, after: str) -> dict:
    return {
        "host": endpoint["host"],
        "port": endpoint["port"],
        "sni": endpoint.get("sni"),
        "now": {
            "outcome": result.outcome.value,
            "reason": result.reason,
            "fingerprint": result.served_fingerprint,
            "subject": result.served_subject,
            "not_after": result.served_not_after.isoformat() if result.served_not_after else None,
        },
        "after": after,
    }


# -------------------------------------------------------------------------- material


def _certificate_checks(
    plan: Mapping[str, Any],
    cert: x509.Certificate,
    key_pem: bytes,
    chain: list[x509.Certificate],
    roots: list[x509.Certificate],
    now: datetime,
    min_days_left: int,
) -> list[Check]:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        key_match = Check(
            "key_match",
            CheckStatus.BLOCKER,
            f"certpush holds no readable private key for {cert.subject.rfc4514_string()} "
            f"({exc}): import the certificate's key",
        )
    else:
        key_match = check_key_matches(cert, key)
    return [
        key_match,
        check_chain(cert, chain, roots),
        check_validity(cert.not_valid_before_utc, cert.not_valid_after_utc, now, min_days_left),
        check_sni(list(plan.get("endpoints") or []), certificate_sans(cert)),
    ]


def _load_material(
    plan: Mapping[str, Any], cert_pem: bytes, chain_pem: bytes
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Certificate and chain, refused unless they are exactly what the plan pins."""
    pinned = plan["certificate"]
    cert = x509.load_pem_x509_certificate(cert_pem)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    if fingerprint != pinned["fingerprint"]:
        raise PlanMaterialMismatch(
            f"the certificate given to preflight ({fingerprint}) is not the plan's "
            f"({pinned['fingerprint']}): load the certificate by the plan's fingerprint"
        )
    chain = x509.load_pem_x509_certificates(chain_pem) if chain_pem.strip() else []
    fingerprints = [c.fingerprint(hashes.SHA256()).hex() for c in chain]
    if "chain" in pinned and fingerprints != list(pinned["chain"] or []):
        raise PlanMaterialMismatch(
            "the chain given to preflight is not the one the plan pins: load the "
            "intermediates by the plan's chain fingerprints, in that order"
        )
    return cert, chain


DeviceFacts = tuple[Check, Check, list[ProbeResult]]


def device_facts(
    plan: Mapping[str, Any],
    secret: bytes | None,
    secret_kind: str | None,
    probe_timeout: float,
) -> DeviceFacts:
    """What only the device's side of the network can see: the "ssh" and "folders"
    checks and one handshake per endpoint (in plan order), at the same time.

    The scheduler runs this for zone ``local``; a zone's agent runs it for its zone
    (jobs/zones/agent.py), so a device the central host cannot reach is still checked."""
    endpoints = list(plan.get("endpoints") or [])
    expected = plan["certificate"]["fingerprint"]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="preflight-device") as pool:
        device = pool.submit(device_checks, plan, secret, secret_kind)
        probed = probe_endpoints(endpoints, expected, probe_timeout)
        ssh, folders = device.result()
    return ssh, folders, probed


def run_preflight(
    plan: dict,
    *,
    cert_pem: bytes,
    key_pem: bytes,
    chain_pem: bytes,
    secret: bytes | None,
    secret_kind: str | None,
    roots: list[x509.Certificate],
    now: datetime,
    min_days_left: int = 7,
    probe_timeout: float = 5.0,
    device: Callable[..., DeviceFacts] = device_facts,
) -> dict:
    """Every preflight check of ``plan``, as JSON-able data to store with the plan.

    ``roots`` are the trusted roots (the inventory's plus ``system_roots()``);
    ``secret``/``secret_kind`` are the connector's decrypted credential. ``device``
    gathers the device's side (``device_facts`` here, or a zone's agent). Raises
    PlanMaterialMismatch when the certificate or chain is not the plan's; every
    finding about the device or the certificate is a check instead.
    """
    cert, chain = _load_material(plan, cert_pem, chain_pem)
    expected = plan["certificate"]["fingerprint"]
    endpoints = list(plan.get("endpoints") or [])
    ssh, folders, probed = device(plan, secret, secret_kind, probe_timeout)
    material = _certificate_checks(plan, cert, key_pem, chain, roots, now, min_days_left)
    seen = [
        EndpointNow(_where(e), r.outcome, r.reason) for e, r in zip(endpoints, probed, strict=True)
    ]
    checks = [ssh, folders, *material, check_endpoints_now(seen)]
    return {
        "at": now.isoformat(),
        "status": overall(checks).value,
        "checks": [c.to_json() for c in checks],
        "endpoints": [
            _endpoint_record(e, r, expected) for e, r in zip(endpoints, probed, strict=True)
        ],
    }
