"""Reading certificates and private keys from bytes, whatever their shape.

Every field is read here, once, at import time: some certificates load and then
raise only when a field (subject, extensions, public key) is touched, and a list
or detail page must never be the place where that happens. What cannot be read
becomes a warning stored with the certificate, not a crash later.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from data.domain.errors import CertificateParseError, WrongPasswordError

MAX_TEXT = 1024

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\s*?\r?\n(.*?)-----END \1-----", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
    b"OPENSSH PRIVATE KEY",
}
_OTHER_LABELS = {
    b"CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    b"NEW CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    b"PUBLIC KEY": "a public key without a certificate",
    b"RSA PUBLIC KEY": "a public key without a certificate",
    b"X509 CRL": "a certificate revocation list (CRL)",
    b"PKCS7": "a PKCS#7 container: export its certificates as PEM",
    b"TRUSTED CERTIFICATE": "an OpenSSL 'TRUSTED CERTIFICATE': convert it with 'openssl x509'",
    b"EC PARAMETERS": "EC parameters",
    b"DH PARAMETERS": "DH parameters",
}
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


@dataclass(frozen=True)
class ParsedCertificate:
    """All we store about one X.509 certificate, already made safe to display."""

    der: bytes = field(repr=False)
    fingerprint_sha256: str
    common_name: str | None
    subject: str
    issuer: str
    sans: tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_size: int | None
    signature_algorithm: str
    extended_key_usage: tuple[str, ...]
    is_ca: bool
    spki_sha256: str | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedKey:
    """A private key in PKCS#8 DER. Never printed: ``repr`` leaves the bytes out."""

    pkcs8_der: bytes = field(repr=False)
    spki_sha256: str
    key_type: str
    key_size: int | None


@dataclass(frozen=True)
class ParsedItem:
    """One thing found in an input: a certificate, a key, or why a part was refused."""

    certificate: ParsedCertificate | None = None
    key: ParsedKey | None = None
    error: str | None = None


@dataclass
class ParsedInput:
    """What one input file held, in order of appearance."""

    items: list[ParsedItem] = field(default_factory=list)


def printable(text: str, limit: int = MAX_TEXT) -> str:
    """Make a name safe to store and show: control characters become ``\\xNN`` escapes.

    NUL bytes break PostgreSQL text columns and other control characters
    confuse terminals and logs; lone surrogates (from invalid UTF-8) cannot be encoded.
    """
    if text.isprintable():  # the common case, and False for every character escaped below
        return text if len(text) <= limit else text[: limit - 1] + "…"
    out = []
    for ch in text:
        code = ord(ch)
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    result = "".join(out)
    return result if len(result) <= limit else result[: limit - 1] + "…"


def _spki_hash(public_key: object) -> str:
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def describe_key(public_key: object) -> tuple[str, int | None]:
    """Key type and size as people say them: ("RSA", 2048), ("EC P-256", 256), ("Ed25519", 256)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}", public_key.curve.key_size
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(public_key, x25519.X25519PublicKey):
        return "X25519", 256
    if isinstance(public_key, x448.X448PublicKey):
        return "X448", 448
    return type(public_key).__name__, None


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    name = getattr(oid, "_name", None)
    return name if name and name != "Unknown OID" else oid.dotted_string


def _name_text(name_getter, what: str, warnings_out: list[str]) -> tuple[x509.Name | None, str]:
    try:
        name = name_getter()
        return name, printable(name.rfc4514_string())
    except Exception as exc:  # any parse failure of a lazily decoded field
        warnings_out.append(f"{what} cannot be read: {exc}")
        return None, f"(unreadable {what})"


def _common_name(name: x509.Name | None, warnings_out: list[str]) -> str | None:
    if name is None:
        return None
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception as exc:
        warnings_out.append(f"common name cannot be read: {exc}")
        return None
    if not attrs:
        return None
    value = attrs[0].value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    return printable(str(value))


def _general_name(gn: x509.GeneralName) -> str:
    if isinstance(gn, x509.DNSName):
        return f"DNS:{gn.value}"
    if isinstance(gn, x509.IPAddress):
        return f"IP:{gn.value}"
    if isinstance(gn, x509.RFC822Name):
        return f"email:{gn.value}"
    if isinstance(gn, x509.UniformResourceIdentifier):
        return f"URI:{gn.value}"
    if isinstance(gn, x509.DirectoryName):
        return f"DirName:{gn.value.rfc4514_string()}"
    if isinstance(gn, x509.RegisteredID):
        return f"RID:{gn.value.dotted_string}"
    if isinstance(gn, x509.OtherName):
        return f"othername:{gn.type_id.dotted_string}"
    return str(gn)


def parse_certificate(cert: x509.Certificate) -> ParsedCertificate:
    """Read every field of a loaded certificate; refuse only when validity is unreadable."""
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        der = cert.public_bytes(serialization.Encoding.DER)
        try:
            not_before = cert.not_valid_before_utc
            not_after = cert.not_valid_after_utc
        except Exception as exc:
            raise CertificateParseError(f"validity dates cannot be read: {exc}") from None
        subject_name, subject = _name_text(lambda: cert.subject, "subject", notes)
        _, issuer = _name_text(lambda: cert.issuer, "issuer", notes)
        common_name = _common_name(subject_name, notes)
        try:
            serial = str(cert.serial_number)
        except Exception as exc:
            notes.append(f"serial number cannot be read: {exc}")
            serial = "(unreadable)"
        try:
            signature_algorithm = _oid_name(cert.signature_algorithm_oid)
        except Exception as exc:
            notes.append(f"signature algorithm cannot be read: {exc}")
            signature_algorithm = "(unreadable)"
        key_type, key_size, spki = "(unreadable)", None, None
        try:
            public_key = cert.public_key()
            key_type, key_size = describe_key(public_key)
            spki = _spki_hash(public_key)
        except (UnsupportedAlgorithm, ValueError) as exc:
            notes.append(f"public key cannot be read: {exc}")
            with contextlib.suppress(Exception):
                key_type = _oid_name(cert.public_key_algorithm_oid)
        sans: tuple[str, ...] = ()
        eku: tuple[str, ...] = ()
        is_ca = False
        try:
            extensions = cert.extensions
        except Exception as exc:
            notes.append(f"extensions cannot be read: {exc}")
            extensions = None
        if extensions is not None:
            for ext in extensions:
                value = ext.value
                if isinstance(value, x509.SubjectAlternativeName):
                    sans = tuple(printable(_general_name(gn), 512) for gn in value)
                elif isinstance(value, x509.ExtendedKeyUsage):
                    eku = tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in value)
                elif isinstance(value, x509.BasicConstraints):
                    is_ca = value.ca
    return ParsedCertificate(
        der=der,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        common_name=common_name,
        subject=subject,
        issuer=issuer,
        sans=sans[:200],
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=signature_algorithm,
        extended_key_usage=eku,
        is_ca=is_ca,
        spki_sha256=spki,
        warnings=tuple(notes),
    )


def parse_private_key(private_key: object) -> ParsedKey:
    """Normalise a loaded private key to PKCS#8 DER plus the hash that matches its certificate."""
    try:
        pkcs8 = private_key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_key = private_key.public_key()  # type: ignore[attr-defined]
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateParseError(f"private key cannot be re-encoded as PKCS#8: {exc}") from None
    key_type, key_size = describe_key(public_key)
    return ParsedKey(
        pkcs8_der=pkcs8, spki_sha256=_spki_hash(public_key), key_type=key_type, key_size=key_size
    )


def _what_der_is(der: bytes) -> str | None:
    """Name the common non-certificate DER structures so the reason says what the file is."""
    for loader, what in (
        (x509.load_der_x509_crl, "a certificate revocation list (CRL)"),
        (x509.load_der_x509_csr, "a certificate signing request (CSR)"),
    ):
        try:
            loader(der)
            return what
        except Exception:
            continue
    return None


def _asn1_reason(exc: Exception) -> str:
    text = str(exc)
    if "ParseError" in text:
        kind = re.search(r"kind: (\w+)", text)
        where = re.findall(r'"([A-Za-z]+)', text)
        detail = kind.group(1) if kind else "invalid"
        location = f" at {'.'.join(where[:4])}" if where else ""
        return f"malformed ASN.1 ({detail}{location})"
    return text


def _load_certificate(loader, der: bytes) -> ParsedCertificate:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cert = loader(der)
    except Exception as exc:  # ValueError, InvalidVersion, and whatever the parser raises
        if isinstance(exc, x509.InvalidVersion):
            raise CertificateParseError(
                f"not a certificate: unsupported X.509 version {exc.parsed_version}"
            ) from None
        what = _what_der_is(der)
        if what:
            raise CertificateParseError(f"not a certificate: {what}") from None
        raise CertificateParseError(f"not a certificate: {_asn1_reason(exc)}") from None
    return parse_certificate(cert)


def _load_key(loader, data: bytes, passwords: Sequence[bytes]) -> ParsedKey:
    """Try no password, then each given password; say which of those cases failed."""
    encrypted = False
    for password in (None, *passwords):
        try:
            key = loader(data, password)
        except TypeError:
            encrypted = True  # "password was not given but private key is encrypted"
            continue
        except ValueError as exc:
            if password is not None or "password" in str(exc).lower() or encrypted:
                encrypted = True
                continue
            raise CertificateParseError(f"not a private key: {exc}") from None
        except UnsupportedAlgorithm as exc:
            raise CertificateParseError(f"unsupported private key type: {exc}") from None
        return parse_private_key(key)
    if not passwords:
        raise WrongPasswordError(
            "private key is passphrase-protected: give its passphrase with --password-file"
        )
    raise WrongPasswordError(f"wrong private key passphrase (tried {len(passwords)} given)")


def looks_like_pkcs12(data: bytes) -> bool:
    """PFX = SEQUENCE { INTEGER 3, ContentInfo(pkcs7-data) ... }: check the first bytes."""
    head = data[:40]
    return head[:1] == b"\x30" and b"\x02\x01\x03\x30" in head and _PKCS7_DATA_OID in head


def _parse_pkcs12(data: bytes, passwords: Sequence[bytes]) -> ParsedInput:
    attempts: list[bytes | None] = [None, b"", *passwords]
    for password in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            continue
        except UnsupportedAlgorithm as exc:
            raise CertificateParseError(f"PKCS#12 uses an unsupported algorithm: {exc}") from None
        result = ParsedInput()
        for c in ([cert] if cert else []) + list(extra or []):
            try:
                result.items.append(ParsedItem(certificate=parse_certificate(c)))
            except CertificateParseError as exc:
                result.items.append(ParsedItem(error=str(exc)))
        if key is not None:
            try:
                result.items.append(ParsedItem(key=parse_private_key(key)))
            except CertificateParseError as exc:
                result.items.append(ParsedItem(error=str(exc)))
        if not result.items:
            raise CertificateParseError("PKCS#12 file holds no certificate and no key")
        return result
    if not passwords:
        raise WrongPasswordError(
            "PKCS#12 file is password-protected: give its password with --password-file"
        )
    raise WrongPasswordError(f"wrong PKCS#12 password (tried {len(passwords)} given)")


def _parse_pem(data: bytes, passwords: Sequence[bytes]) -> ParsedInput:
    result = ParsedInput()
    for match in _PEM_BLOCK.finditer(data):
        label, body = match.group(1), match.group(2)
        block = match.group(0)
        if label in _CERT_LABELS:
            try:
                der = base64.b64decode(b"".join(body.split()), validate=True)
                item = ParsedItem(
                    certificate=_load_certificate(x509.load_der_x509_certificate, der)
                )
            except (binascii.Error, ValueError):
                item = ParsedItem(error="not a certificate: the PEM block's base64 is damaged")
            except CertificateParseError as exc:
                item = ParsedItem(error=str(exc))
        elif label in _KEY_LABELS:
            loader = (
                serialization.load_ssh_private_key
                if label == b"OPENSSH PRIVATE KEY"
                else serialization.load_pem_private_key
            )
            try:
                item = ParsedItem(key=_load_key(loader, block, passwords))
            except CertificateParseError as exc:
                item = ParsedItem(error=str(exc))
        else:
            what = _OTHER_LABELS.get(
                label, f"a PEM block labelled {label.decode(errors='replace')!r}"
            )
            item = ParsedItem(error=f"not a certificate: {what}")
        result.items.append(item)
    if not result.items:
        raise CertificateParseError(
            "not a certificate: text without a '-----BEGIN CERTIFICATE-----' block"
        )
    return result


def parse_input(data: bytes, passwords: Sequence[bytes] = ()) -> ParsedInput:
    """Parse one input file: PEM (any number of blocks), DER, PKCS#12 or a DER private key.

    Raises CertificateParseError (or WrongPasswordError) when nothing in it is usable;
    a PEM file with some bad blocks returns those blocks as error items instead.
    """
    if not data.strip():
        raise CertificateParseError("empty file")
    if b"-----BEGIN " in data:
        return _parse_pem(data, passwords)
    if looks_like_pkcs12(data):
        return _parse_pkcs12(data, passwords)
    if data[:1] == b"\x30":
        try:
            cert = _load_certificate(x509.load_der_x509_certificate, data)
            return ParsedInput([ParsedItem(certificate=cert)])
        except CertificateParseError as cert_error:
            try:
                key = _load_key(serialization.load_der_private_key, data, passwords)
                return ParsedInput([ParsedItem(key=key)])
            except WrongPasswordError:
                raise
            except CertificateParseError:
                raise cert_error from None
    try:
        data.decode("utf-8")
        kind = "text without a '-----BEGIN CERTIFICATE-----' block"
    except UnicodeDecodeError:
        kind = "unrecognised binary data (not PEM, DER or PKCS#12)"
    raise CertificateParseError(f"not a certificate: {kind}")
