"""One bounded TLS handshake with one endpoint: what certificate does it serve?

No trust validation is needed to compare fingerprints, so the handshake accepts any
certificate; every failure becomes a typed outcome with a human reason. The
timeout covers connect and handshake together: a port that accepts TCP and never
speaks costs exactly that, never more.
"""

from __future__ import annotations

import _ssl
import contextlib
import errno
import functools
import hashlib
import heapq
import ipaddress
import os
import resource
import selectors
import socket
import ssl
import time
import warnings
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
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


@dataclass(frozen=True)
class TrustAnchors:
    """A root store plus what a quick "can this chain possibly lead here?" test needs."""

    store: Store
    subjects: frozenset[bytes]  # DER-encoded subject names of the roots
    roots: frozenset[bytes]  # DER of the roots themselves

    @classmethod
    def of(cls, roots: list[x509.Certificate]) -> TrustAnchors:
        return cls(
            Store(roots),
            frozenset(c.subject.public_bytes() for c in roots),
            frozenset(c.public_bytes(serialization.Encoding.DER) for c in roots),
        )


@functools.lru_cache(maxsize=1)
def system_anchors() -> TrustAnchors | None:
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
    return TrustAnchors.of(roots) if roots else None


def chain_validates(
    chain: list[bytes], endpoint: EndpointSpec, anchors: TrustAnchors | None = None
) -> bool | None:
    """Whether the served chain leads to a trusted root for the endpoint's name.

    Comparison does not need this (fingerprints decide); it is recorded so that a
    certificate served with a broken or untrusted chain is visible in reports.
    ``anchors`` defaults to the system trust store.
    """
    anchors = anchors or system_anchors()
    if anchors is None or not chain:
        return None
    return _validate(tuple(chain), endpoint.sni or endpoint.host, anchors)


@functools.lru_cache(maxsize=4096)
def _validate(chain: tuple[bytes, ...], name: str, anchors: TrustAnchors) -> bool:
    """Cached: a fleet usually serves one certificate on many endpoints.

    Building a verifier costs more than the handshake itself, so a chain whose leaf
    names an issuer that is neither a root nor among the served intermediates (every
    self-signed or private-CA certificate) is refused without one.
    """
    try:
        leaf, *intermediates = (x509.load_der_x509_certificate(der) for der in chain)
        known = anchors.subjects | {c.subject.public_bytes() for c in intermediates}
        if leaf.issuer.public_bytes() not in known and chain[0] not in anchors.roots:
            return False
        try:
            subject = IPAddress(ipaddress.ip_address(name))
        except ValueError:
            subject = DNSName(name)
        verifier = PolicyBuilder().store(anchors.store).build_server_verifier(subject)
        verifier.verify(leaf, intermediates)
        return True
    except Exception:  # VerificationError, unsupported names or algorithms: not valid
        return False


@functools.lru_cache(maxsize=4096)
def _describe(der: bytes) -> tuple[str | None, datetime | None]:
    try:
        cert = x509.load_der_x509_certificate(der)
        return cert.subject.rfc4514_string()[:1024], cert.not_valid_after_utc
    except Exception:  # an odd certificate still has a fingerprint to compare
        return None, None


# ----------------------------------------------------------------------- the engine
#
# One thread drives every handshake through a selector: threads would spend the CPU
# that the handshakes need on switching and the GIL (measured: 1.0-1.3 ms of client
# CPU per endpoint with 128 threads, about 0.6 ms here), and a hung endpoint only
# holds a socket until its own deadline.

_NOT_TLS_REASONS = frozenset(
    ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG")
)


@dataclass
class _Attempt:
    key: Hashable
    endpoint: EndpointSpec
    expected: str
    start: float
    deadline: float
    addresses: list[tuple] = field(default_factory=list)
    sock: socket.socket | ssl.SSLSocket | None = None
    tls: bool = False


def _failed(attempt: _Attempt, outcome: ProbeOutcome, reason: str) -> ProbeResult:
    return ProbeResult(outcome, reason, latency_ms=_elapsed(attempt))


def _elapsed(attempt: _Attempt) -> int:
    return int((time.monotonic() - attempt.start) * 1000)


def _connect_error(attempt: _Attempt, code: int) -> ProbeResult:
    if code == errno.ECONNREFUSED:
        return _failed(attempt, ProbeOutcome.REFUSED, "connection refused (nothing listens there)")
    if code in (errno.ECONNRESET, errno.ECONNABORTED):
        # on loopback the RST can arrive before connect() completes
        return _failed(attempt, ProbeOutcome.RESET, "the connection was reset as it opened")
    if code == errno.ETIMEDOUT:
        return _failed(attempt, ProbeOutcome.TIMEOUT, "the TCP connection timed out")
    return _failed(
        attempt, ProbeOutcome.UNREACHABLE, f"cannot reach {attempt.endpoint}: {os.strerror(code)}"
    )


def _handshake_error(attempt: _Attempt, exc: Exception) -> ProbeResult:
    if isinstance(exc, ssl.SSLEOFError) or (isinstance(exc, OSError) and "EOF" in str(exc)):
        return _failed(
            attempt, ProbeOutcome.RESET, "the server closed the connection during the handshake"
        )
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return _failed(attempt, ProbeOutcome.RESET, "the connection was reset during the handshake")
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason or exc}"
        if exc.reason in _NOT_TLS_REASONS:
            return _failed(
                attempt, ProbeOutcome.NOT_TLS, f"the port answers, but not with TLS ({text})"
            )
        return _failed(attempt, ProbeOutcome.TLS_ERROR, f"TLS handshake failed: {text}")
    if isinstance(exc, OSError) and exc.errno == errno.ENOTCONN:
        return _failed(attempt, ProbeOutcome.RESET, "the connection was reset as it opened")
    if isinstance(exc, OSError) and exc.errno:
        return _connect_error(attempt, exc.errno)
    return _failed(attempt, ProbeOutcome.UNREACHABLE, f"{attempt.endpoint}: {exc}")


def _timed_out(attempt: _Attempt, timeout: float) -> ProbeResult:
    if attempt.tls:
        reason = f"TCP connected but no TLS handshake within {timeout:g} s"
    else:
        reason = f"no TCP answer within {timeout:g} s"
    return _failed(attempt, ProbeOutcome.TIMEOUT, reason)


def _served(attempt: _Attempt, tls: ssl.SSLSocket) -> ProbeResult:
    der = tls.getpeercert(binary_form=True)
    if not der:
        return _failed(attempt, ProbeOutcome.TLS_ERROR, "the server sent no certificate")
    chain = [c.public_bytes(_ssl.ENCODING_DER) for c in tls._sslobj.get_unverified_chain() or []]
    served = hashlib.sha256(der).hexdigest()
    subject, not_after = _describe(der)
    valid = chain_validates(chain or [der], attempt.endpoint)
    if served == attempt.expected:
        outcome, reason = ProbeOutcome.MATCH, "serves the expected certificate"
    else:
        outcome = ProbeOutcome.MISMATCH
        reason = f"serves another certificate ({subject or served[:16]})"
    return ProbeResult(outcome, reason, served, subject, not_after, _elapsed(attempt), valid)


def _literal_address(host: str, port: int) -> list[tuple] | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return [(family, (host, port, 0, 0) if ip.version == 6 else (host, port))]


def resolve_names(endpoints: list[EndpointSpec], timeout: float) -> dict[tuple[str, int], object]:
    """Addresses for every (host, port) that is a name: a list, or the error text.

    Names are resolved on a few threads before the sweep (getaddrinfo blocks and has
    no timeout of its own); a resolver that does not answer within ``timeout`` costs
    that name a ``dns_error``, never the sweep.
    """
    names = {(e.host, e.port) for e in endpoints if _literal_address(e.host, e.port) is None}
    answers: dict[tuple[str, int], object] = {}
    if not names:
        return answers

    def lookup(name: tuple[str, int]) -> object:
        try:
            infos = socket.getaddrinfo(*name, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return exc.strerror or str(exc)
        return [(family, address) for family, _t, _p, _c, address in infos]

    pool = ThreadPoolExecutor(max_workers=min(16, len(names)))
    futures = {pool.submit(lookup, name): name for name in names}
    done, _pending = wait(futures, timeout=timeout)
    for future, name in futures.items():
        answers[name] = future.result() if future in done else f"no answer within {timeout:g} s"
    pool.shutdown(wait=False, cancel_futures=True)
    return answers


def probe_many(
    requests: Iterable[tuple[Hashable, EndpointSpec, str]],
    *,
    concurrency: int = 128,
    timeout: float = 5.0,
    bound: float | None = None,
    on_result: Callable[[Hashable, ProbeResult], None] | None = None,
    resolved: dict[tuple[str, int], object] | None = None,
) -> dict[Hashable, ProbeResult]:
    """Handshake with every endpoint, at most ``concurrency`` at a time.

    ``requests`` are (key, endpoint, expected SHA-256 fingerprint). Each connection
    has ``timeout`` seconds for connect plus handshake; the whole run stops after
    ``bound`` seconds, and what is left then is reported as timed out.
    ``resolved`` (from ``resolve_names``) lets ``requests`` be a lazy iterator that
    is pulled only as connections free up (work shared between processes).
    """
    results: dict[Hashable, ProbeResult] = {}
    if resolved is None:
        requests = list(requests)
        if not requests:
            return results
        resolved = resolve_names([endpoint for _k, endpoint, _e in requests], timeout)
    concurrency = max(1, min(concurrency, _fd_budget()))
    run_deadline = time.monotonic() + (bound if bound is not None else float("inf"))
    selector = selectors.DefaultSelector()
    live: dict[int, _Attempt] = {}
    deadlines: list[tuple[float, int]] = []
    queue = iter(requests)

    def finish(attempt: _Attempt, result: ProbeResult) -> None:
        if attempt.sock is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                selector.unregister(attempt.sock)
            attempt.sock.close()
        live.pop(id(attempt), None)
        results[attempt.key] = result
        if on_result is not None:
            on_result(attempt.key, result)

    def connect(attempt: _Attempt) -> None:
        """Start a TCP connect to the next address, or finish with why none worked."""
        family, address = attempt.addresses.pop(0)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        attempt.sock = sock
        code = sock.connect_ex(address)
        if code in (0, errno.EINPROGRESS):
            selector.register(sock, selectors.EVENT_WRITE, attempt)
        else:
            failed(attempt, code)

    def failed(attempt: _Attempt, code: int) -> None:
        if attempt.addresses and time.monotonic() < attempt.deadline:
            attempt.sock.close()
            attempt.sock = None
            connect(attempt)  # the name has another address: try it
        else:
            finish(attempt, _connect_error(attempt, code))

    def start(key: Hashable, endpoint: EndpointSpec, expected: str) -> None:
        now = time.monotonic()
        attempt = _Attempt(key, endpoint, expected, now, now + timeout)
        addresses = _literal_address(endpoint.host, endpoint.port)
        if addresses is None:
            answer = resolved.get((endpoint.host, endpoint.port), "the name was not resolved")
            if isinstance(answer, str):
                results[key] = _failed(
                    attempt, ProbeOutcome.DNS_ERROR, f"cannot resolve {endpoint.host}: {answer}"
                )
                if on_result is not None:
                    on_result(key, results[key])
                return
            addresses = list(answer)
        attempt.addresses = addresses
        live[id(attempt)] = attempt
        heapq.heappush(deadlines, (attempt.deadline, id(attempt)))
        connect(attempt)

    def advance(attempt: _Attempt) -> None:
        """The socket is ready: finish the connect, or take the handshake one step on."""
        if not attempt.tls:
            code = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                selector.unregister(attempt.sock)
                failed(attempt, code)
                return
            selector.unregister(attempt.sock)
            try:  # wrapping checks the peer: a reset that raced the connect shows here
                attempt.sock = _CONTEXT.wrap_socket(
                    attempt.sock,
                    server_hostname=attempt.endpoint.sni,
                    do_handshake_on_connect=False,
                )
            except OSError as exc:
                finish(attempt, _handshake_error(attempt, exc))
                return
            attempt.tls = True
            selector.register(attempt.sock, selectors.EVENT_WRITE, attempt)
        try:
            attempt.sock.do_handshake()
        except ssl.SSLWantReadError:
            selector.modify(attempt.sock, selectors.EVENT_READ, attempt)
            return
        except ssl.SSLWantWriteError:
            selector.modify(attempt.sock, selectors.EVENT_WRITE, attempt)
            return
        except OSError as exc:  # ssl.SSLError is an OSError
            finish(attempt, _handshake_error(attempt, exc))
            return
        finish(attempt, _served(attempt, attempt.sock))

    try:
        while True:
            while len(live) < concurrency:
                item = next(queue, None)
                if item is None:
                    break
                start(*item)
            if not live:
                break
            now = time.monotonic()
            if now >= run_deadline:
                for attempt in list(live.values()):
                    finish(
                        attempt,
                        _failed(
                            attempt,
                            ProbeOutcome.TIMEOUT,
                            f"the sweep's time bound ({bound:.0f} s) ran out",
                        ),
                    )
                for key, endpoint, _expected in queue:
                    results[key] = ProbeResult(
                        ProbeOutcome.TIMEOUT,
                        f"the sweep's time bound ({bound:.0f} s) ran out before {endpoint}",
                    )
                    if on_result is not None:
                        on_result(key, results[key])
                break
            while deadlines and deadlines[0][0] <= now:
                _deadline, ident = heapq.heappop(deadlines)
                if ident in live:
                    finish(live[ident], _timed_out(live[ident], timeout))
            if not live:
                continue
            wait_for = min(deadlines[0][0], run_deadline) - now if deadlines else 0.05
            for selected, _events in selector.select(max(0.0, wait_for)):
                if id(selected.data) in live:
                    advance(selected.data)
    finally:
        for attempt in list(live.values()):
            if attempt.sock is not None:
                attempt.sock.close()
        selector.close()
    return results


def _fd_budget() -> int:
    """How many sockets may be open at once: most of this process's file limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, soft - 64) if soft != resource.RLIM_INFINITY else 65536


def probe(endpoint: EndpointSpec, expected: str, timeout: float = 5.0) -> ProbeResult:
    """Handshake with one endpoint (SNI when it names one) and compare with ``expected``."""
    return probe_many([(0, endpoint, expected)], concurrency=1, timeout=timeout)[0]
