"""Preflight checks of a push plan: the pure rules, one verdict per check.

The scheduler gathers the facts (certificate, key, chain, trust roots, endpoints,
what the device answered) and these functions turn them into checks that the two
approvers read before a push. Nothing here touches the network, the disk or the
clock: ``now`` is always passed in.

Every message is one sentence a person can act on, naming what it is about.
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from data.domain.status import days_left, is_expired
from data.domain.verification import ProbeOutcome

WARN_DAYS_LEFT = 30
MAX_LISTED = 5  # names listed in one message before "and N more"


class CheckStatus(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    BLOCKER = "blocker"


_RANK = {CheckStatus.OK: 0, CheckStatus.WARNING: 1, CheckStatus.BLOCKER: 2}


@dataclass(frozen=True)
class Check:
    """One preflight verdict. ``name`` is a stable id: ssh, folders, key_match, chain,
    validity, sni, endpoints_now."""

    name: str
    status: CheckStatus
    message: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "message": self.message}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Check:
        return cls(str(data["name"]), CheckStatus(data["status"]), str(data["message"]))


def overall(checks: Iterable[Check]) -> CheckStatus:
    """The worst status among ``checks`` (OK when there are none)."""
    return max((c.status for c in checks), key=_RANK.__getitem__, default=CheckStatus.OK)


def listing(items: Sequence[str]) -> str:
    """``a, b and c``, cut after a few with "and N more"."""
    shown = list(items[:MAX_LISTED])
    rest = len(items) - len(shown)
    if rest:
        return ", ".join(shown) + f" and {rest} more"
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _name(name: x509.Name) -> str:
    text = name.rfc4514_string()
    return (text[:200] + "…") if len(text) > 200 else (text or "(empty name)")


# ------------------------------------------------------------------------- key match


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> Check:
    """Whether ``key`` is the private half of ``cert``'s public key."""
    try:
        matches = _spki(cert.public_key()) == _spki(key.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        matches = False
    if matches:
        return Check(
            "key_match", CheckStatus.OK, f"the private key belongs to {_name(cert.subject)}"
        )
    return Check(
        "key_match",
        CheckStatus.BLOCKER,
        "the private key in certpush does not belong to this certificate: its public key "
        f"differs from the one in {_name(cert.subject)}, so the device would refuse the "
        "pair; import the key that was generated with this certificate's request",
    )


# ----------------------------------------------------------------------------- chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches and ``issuer``'s key verifies ``cert``'s signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _issued_by(cert, cert)


def check_chain(
    leaf: x509.Certificate, chain: list[x509.Certificate], roots: list[x509.Certificate]
) -> Check:
    """Whether ``leaf`` plus ``chain`` (leaf-side first) is ordered and leads to a root.

    ``roots`` are the trusted roots: the inventory's plus the system store's. The last
    certificate must be issued by one of them or be self-signed (a root sent along).
    """
    if not chain and _self_signed(leaf):
        return Check(
            "chain",
            CheckStatus.WARNING,
            f"{_name(leaf.subject)} is self-signed: only clients that trust it explicitly "
            "will connect",
        )
    path = [leaf, *chain]
    for position, (cert, issuer) in enumerate(itertools.pairwise(path), start=1):
        if cert.issuer != issuer.subject:
            later = any(c.subject == cert.issuer for c in path[position + 1 :])
            problem = (
                "the chain is out of order"
                if later
                else "the chain holds a certificate that does not belong to it"
            )
            return Check(
                "chain",
                CheckStatus.BLOCKER,
                f"{problem}: {_name(cert.subject)} is issued by {_name(cert.issuer)}, but "
                f"the next certificate is {_name(issuer.subject)}; list the intermediates "
                "leaf-side first, each followed by its issuer",
            )
        if not _issued_by(cert, issuer):
            return Check(
                "chain",
                CheckStatus.BLOCKER,
                f"the signature of {_name(cert.subject)} does not verify with the key of "
                f"{_name(issuer.subject)}: the chain holds another certificate of that name; "
                "import the intermediate that really issued it",
            )
    last = path[-1]
    if _self_signed(last):
        return Check(
            "chain",
            CheckStatus.OK,
            f"the chain is complete up to the root {_name(last.subject)}, which it includes",
        )
    named = [r for r in roots if r.subject == last.issuer]
    root = next((r for r in named if _issued_by(last, r)), None)
    if root is not None:
        return Check(
            "chain",
            CheckStatus.OK,
            f"the chain is complete and ordered up to the trusted root {_name(root.subject)}",
        )
    wrong_key = " (one of that name exists, but its key did not sign it)" if named else ""
    return Check(
        "chain",
        CheckStatus.WARNING,
        f"no certificate for issuer {_name(last.issuer)} in the inventory or the system "
        f"store{wrong_key}: clients that lack it will fail; import the intermediate",
    )


# -------------------------------------------------------------------------- validity


def _days(n: int) -> str:
    if n == 0:
        return "today"
    return f"in {n} day" + ("" if n == 1 else "s")


def check_validity(
    not_before: datetime, not_after: datetime, now: datetime, min_days_left: int
) -> Check:
    """Whether the certificate is valid at ``now`` and for long enough afterwards.

    Fewer than ``min_days_left`` whole days left blocks (CERTPUSH_MIN_DAYS_LEFT);
    fewer than 30 warns.
    """
    if now < not_before:
        return Check(
            "validity",
            CheckStatus.BLOCKER,
            f"not valid yet: it becomes valid on {not_before:%Y-%m-%d %H:%M} UTC; "
            "schedule the push after that or check the issuer's clock",
        )
    if is_expired(not_after, now):
        return Check(
            "validity",
            CheckStatus.BLOCKER,
            f"expired on {not_after:%Y-%m-%d}: renew the certificate and push the new one",
        )
    left = days_left(not_after, now)
    when = f"expires on {not_after:%Y-%m-%d}, {_days(left)}"
    if left < min_days_left:
        return Check(
            "validity",
            CheckStatus.BLOCKER,
            f"{when}; certpush requires at least {min_days_left} (CERTPUSH_MIN_DAYS_LEFT): "
            "renew it and push the renewed certificate",
        )
    if left < WARN_DAYS_LEFT:
        return Check(
            "validity",
            CheckStatus.WARNING,
            f"{when}: plan its renewal now, this push will need repeating soon",
        )
    return Check("validity", CheckStatus.OK, f"valid until {not_after:%Y-%m-%d} ({left} days)")


# ------------------------------------------------------------------------------- SNI


def certificate_sans(cert: x509.Certificate) -> list[str]:
    """The certificate's DNS and IP subject alternative names, as text."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
    return names + [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _dns_key(name: str) -> str:
    return name.strip().rstrip(".").lower()


def name_covered(name: str, dns_sans: Iterable[str]) -> bool:
    """Whether a DNS SAN covers ``name``; ``*.example.com`` covers exactly one label."""
    name = _dns_key(name)
    for san in dns_sans:
        san = _dns_key(san)
        if san == name:
            return True
        if san.startswith("*.") and "." in name:
            first, rest = name.split(".", 1)
            if first and rest == san[2:]:
                return True
    return False


def _where(endpoint: Mapping[str, Any]) -> str:
    host = str(endpoint["host"])
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{host}:{endpoint['port']}"


def check_sni(endpoints: list[dict], sans: list[str]) -> Check:
    """Whether every endpoint's name is one the certificate covers.

    ``sans`` mixes DNS names and IP addresses (``certificate_sans``). An SNI name not
    covered blocks (those clients certainly fail); an endpoint without SNI whose host
    is not covered only warns (clients may reach it under another name).
    """
    dns_sans = [s for s in sans if _ip(s) is None]
    ip_sans = {ip for s in sans if (ip := _ip(s)) is not None}
    refused: list[str] = []
    doubtful: list[str] = []
    for endpoint in endpoints:
        sni = endpoint.get("sni")
        host = str(endpoint["host"])
        if sni and _ip(sni) is None:
            if not name_covered(sni, dns_sans):
                refused.append(f"{sni} ({_where(endpoint)})")
        elif (ip := _ip(sni or host)) is not None:
            if ip not in ip_sans:
                doubtful.append(f"{_where(endpoint)} (no IP SAN {ip}, no SNI)")
        elif not name_covered(host, dns_sans):
            doubtful.append(f"{_where(endpoint)} (host name not in the SANs, no SNI)")
    covered = listing(sans) or "no names"
    if refused:
        also = f"; also unsure: {listing(doubtful)}" if doubtful else ""
        return Check(
            "sni",
            CheckStatus.BLOCKER,
            f"the certificate (SANs: {covered}) does not cover the SNI names "
            f"{listing(refused)}: clients asking for them will get a name mismatch; "
            f"fix the endpoints' SNI or push a certificate that names them{also}",
        )
    if doubtful:
        return Check(
            "sni",
            CheckStatus.WARNING,
            f"the certificate (SANs: {covered}) may not match the name clients use for "
            f"{listing(doubtful)}: set each endpoint's SNI to the name clients ask for",
        )
    if not endpoints:
        return Check("sni", CheckStatus.OK, "the plan lists no endpoints to match names with")
    return Check(
        "sni",
        CheckStatus.OK,
        f"the certificate covers the names of all {len(endpoints)} endpoints",
    )


# --------------------------------------------------------------------- endpoints now

_ANSWERED = (ProbeOutcome.MATCH, ProbeOutcome.MISMATCH)
_SPOKE = (ProbeOutcome.TLS_ERROR, ProbeOutcome.NOT_TLS)


@dataclass(frozen=True)
class EndpointNow:
    """What one endpoint answered to a handshake just before the push."""

    where: str  # "127.0.0.1:8443 www.example.test"
    outcome: ProbeOutcome
    reason: str


def check_endpoints_now(seen: list[EndpointNow]) -> Check:
    """Whether every endpoint answers now; one that does not cannot be verified later.

    Serving another certificate is the normal case (the push replaces it); already
    serving the new one is fine too.
    """
    if not seen:
        return Check(
            "endpoints_now",
            CheckStatus.WARNING,
            "the plan lists no endpoints, so certpush cannot verify this push afterwards; "
            "add the addresses where the device serves the certificate",
        )
    silent = [
        f"{e.where} answers but completes no TLS handshake now: {e.reason}"
        if e.outcome in _SPOKE
        else f"nothing answers at {e.where} now: {e.reason}"
        for e in seen
        if e.outcome not in _ANSWERED
    ]
    if silent:
        more = len(silent) - MAX_LISTED
        return Check(
            "endpoints_now",
            CheckStatus.WARNING,
            "; ".join(silent[:MAX_LISTED])
            + (f"; and {more} more endpoints do not answer" if more > 0 else "")
            + ": start the service or correct the endpoint list, "
            "or verification after the push will fail there",
        )
    other = [e.where for e in seen if e.outcome is ProbeOutcome.MISMATCH]
    same = [e.where for e in seen if e.outcome is ProbeOutcome.MATCH]
    parts = []
    if other:
        verb = "serves" if len(other) == 1 else "serve"
        parts.append(f"{listing(other)} {verb} another certificate now, which the push replaces")
    if same:
        verb = "serves" if len(same) == 1 else "serve"
        parts.append(f"{listing(same)} already {verb} it")
    return Check("endpoints_now", CheckStatus.OK, "; ".join(parts))
