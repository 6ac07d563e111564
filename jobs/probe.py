"""One bounded TLS handshake with one endpoint: what certificate does it serve?

No trust validation is needed to compare fingerprints, so the handshake accepts any
certificate; every failure becomes a typed outcome with a human reason. The
timeout covers connect and handshake together: a port that accepts TCP and never
speaks costs exactly that, never more.
"""

from __future__ import annotations

import _ssl
import functools
import hashlib
import ipaddress
import socket
import ssl
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, Store

from data.domain.connector_specs import EndpointSpec
from data.domain.verification import ProbeOutcome

_CONTEXT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_CONTEXT.check_hostname = False
_CONTEXT.verify_mode = ssl.CERT_NONE


@dataclass(frozen=True)
class ProbeResult:
    outcome: ProbeOutcome
    reason: str
    served_fingerprint: str | None = None
    served_subject: str | None = None
    served_not_after: datetime | None = None
    latency_ms: int = 0
    chain_valid: bool | None = None  # against the system trust store; None: not checked


@functools.lru_cache(maxsize=1)
def _trust_store() -> Store | None:
    """The system's CA bundle, loaded once per process (None when there is none)."""
    path = ssl.get_default_verify_paths().cafile
    try:
        bundle = Path(path).read_bytes() if path else b""
    except OSError:
        return None
    roots = []
    for block in bundle.split(b"-----END CERTIFICATE-----"):
        if b"-----BEGIN CERTIFICATE-----" not in block:
            continue
        with warnings.catch_warnings():  # some distributed roots have odd serial numbers
            warnings.simplefilter("ignore")
            try:
                roots.append(x509.load_pem_x509_certificate(block + b"-----END CERTIFICATE-----"))
            except ValueError:
                continue
    return Store(roots) if roots else None


def chain_validates(chain: list[bytes], endpoint: EndpointSpec) -> bool | None:
    """Whether the served chain leads to a trusted root for the endpoint's name.

    Comparison does not need this (fingerprints decide); it is recorded so that a
    certificate served with a broken or untrusted chain is visible in reports.
    """
    store = _trust_store()
    if store is None or not chain:
        return None
    try:
        leaf, *intermediates = (x509.load_der_x509_certificate(der) for der in chain)
        name = endpoint.sni or endpoint.host
        try:
            subject = IPAddress(ipaddress.ip_address(name))
        except ValueError:
            subject = DNSName(name)
        verifier = PolicyBuilder().store(store).build_server_verifier(subject)
        verifier.verify(leaf, intermediates)
        return True
    except Exception:  # VerificationError, unsupported names or algorithms: not valid
        return False


def _describe(der: bytes) -> tuple[str | None, datetime | None]:
    try:
        cert = x509.load_der_x509_certificate(der)
        return cert.subject.rfc4514_string()[:1024], cert.not_valid_after_utc
    except Exception:  # an odd certificate still has a fingerprint to compare
        return None, None


def probe(endpoint: EndpointSpec, expected: str, timeout: float = 5.0) -> ProbeResult:
    """Handshake with ``endpoint`` (SNI when it names one) and compare with ``expected``."""
    start = time.monotonic()
    deadline = start + timeout
    where = str(endpoint)

    def elapsed() -> int:
        return int((time.monotonic() - start) * 1000)

    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except TimeoutError:
        return ProbeResult(
            ProbeOutcome.TIMEOUT, f"no TCP answer within {timeout:g} s", latency_ms=elapsed()
        )
    except (ConnectionResetError, ConnectionAbortedError):
        # on loopback the RST can arrive before connect() returns
        return ProbeResult(
            ProbeOutcome.RESET, "the connection was reset as it opened", latency_ms=elapsed()
        )
    except ConnectionRefusedError:
        return ProbeResult(
            ProbeOutcome.REFUSED, "connection refused (nothing listens there)", latency_ms=elapsed()
        )
    except socket.gaierror as exc:
        return ProbeResult(
            ProbeOutcome.DNS_ERROR,
            f"cannot resolve {endpoint.host}: {exc.strerror}",
            latency_ms=elapsed(),
        )
    except OSError as exc:
        return ProbeResult(
            ProbeOutcome.UNREACHABLE,
            f"cannot reach {where}: {exc.strerror or exc}",
            latency_ms=elapsed(),
        )
    try:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        with _CONTEXT.wrap_socket(sock, server_hostname=endpoint.sni) as tls:
            der = tls.getpeercert(binary_form=True)
            chain = [
                c.public_bytes(_ssl.ENCODING_DER) for c in tls._sslobj.get_unverified_chain() or []
            ]
    except TimeoutError:
        return ProbeResult(
            ProbeOutcome.TIMEOUT,
            f"TCP connected but no TLS handshake within {timeout:g} s",
            latency_ms=elapsed(),
        )
    except ConnectionResetError:
        return ProbeResult(
            ProbeOutcome.RESET,
            "the connection was reset during the handshake",
            latency_ms=elapsed(),
        )
    except ssl.SSLError as exc:
        text = f"{exc.reason or exc}"
        if exc.reason in (
            "WRONG_VERSION_NUMBER",
            "RECORD_LAYER_FAILURE",
            "HTTP_REQUEST",
            "PACKET_LENGTH_TOO_LONG",
        ):
            return ProbeResult(
                ProbeOutcome.NOT_TLS,
                f"the port answers, but not with TLS ({text})",
                latency_ms=elapsed(),
            )
        return ProbeResult(
            ProbeOutcome.TLS_ERROR, f"TLS handshake failed: {text}", latency_ms=elapsed()
        )
    except OSError as exc:
        if "EOF" in str(exc) or isinstance(exc, ssl.SSLEOFError):
            return ProbeResult(
                ProbeOutcome.RESET,
                "the server closed the connection during the handshake",
                latency_ms=elapsed(),
            )
        return ProbeResult(
            ProbeOutcome.UNREACHABLE, f"{where}: {exc.strerror or exc}", latency_ms=elapsed()
        )
    finally:
        sock.close()
    if not der:
        return ProbeResult(
            ProbeOutcome.TLS_ERROR, "the server sent no certificate", latency_ms=elapsed()
        )
    served = hashlib.sha256(der).hexdigest()
    subject, not_after = _describe(der)
    valid = chain_validates(chain, endpoint)
    if served == expected:
        return ProbeResult(
            ProbeOutcome.MATCH,
            "serves the expected certificate",
            served,
            subject,
            not_after,
            elapsed(),
            valid,
        )
    return ProbeResult(
        ProbeOutcome.MISMATCH,
        f"serves another certificate ({subject or served[:16]})",
        served,
        subject,
        not_after,
        elapsed(),
        valid,
    )
