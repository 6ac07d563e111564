"""Certificate chains for preflight tests: root -> intermediate -> leaf, at a given time.

tests/certs.py signs everything with one CA and the wall clock; preflight needs real
chains (issuer names and signatures that line up, or deliberately do not), SANs of
both kinds, and validity placed around an injected ``now``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DAY = timedelta(days=1)


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(
    cn: str,
    *,
    now: datetime,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
    sans: list[str] | None = None,
    days: float = 365,
    starts: float = -1,
    key: ec.EllipticCurvePrivateKey | None = None,
    issuer_name: x509.Name | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``cn`` valid from ``now + starts days`` to ``now + days days``.

    Self-signed unless ``issuer`` (certificate, key) is given. ``sans`` entries that
    parse as IP addresses become IP SANs. ``issuer_name`` overrides the issuer field
    (with ``issuer``'s key still signing: a certificate that claims another parent).
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer_cert, signer_key = issuer if issuer else (None, key)
    alt: list[x509.GeneralName] = []
    for san in sans or []:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            alt.append(x509.DNSName(san))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_name or (signer_cert.subject if signer_cert else name(cn)))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + timedelta(days=starts))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(signer_key, hashes.SHA256()), key


@dataclass
class Pki:
    """A root, an intermediate it signed, and a leaf the intermediate signed."""

    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls, now: datetime, sans: list[str], *, days: float = 365, cn: str = "") -> Pki:
        root, root_key = issue("Preflight Test Root", now=now, ca=True, days=3650)
        inter, inter_key = issue(
            "Preflight Test Intermediate", now=now, ca=True, issuer=(root, root_key), days=1825
        )
        leaf, leaf_key = issue(
            cn or (sans[0] if sans else "leaf"),
            now=now,
            sans=sans,
            days=days,
            issuer=(inter, inter_key),
        )
        return cls(root, root_key, inter, inter_key, leaf, leaf_key)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
