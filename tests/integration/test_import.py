"""Importing through the public service: every input handled, every reason specific."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from data.db import session_scope
from data.domain.status import Status
from data.importer import Outcome, import_paths
from data.models import Certificate, PrivateKey
from data.queries import certificate_detail, certificate_page
from tests import certs as c


def run_import(settings, vault, paths, passwords=(), now=None, max_bytes=1 << 20):
    with session_scope(settings.database_url) as db:
        return import_paths(
            db,
            vault,
            paths,
            now=now or datetime.now(UTC),
            actor="test",
            passwords=passwords,
            max_bytes=max_bytes,
        )


def by_name(results):
    return {Path(r.path).name + (f"#{r.item}" if r.item else ""): r for r in results}


def test_pem_der_bundle_and_duplicates(settings, vault, tmp_path):
    a, _ = c.make_cert("a.example")
    b, _ = c.make_cert("b.example")
    d, _ = c.make_cert("d.example")
    (tmp_path / "a.pem").write_bytes(c.pem(a))
    (tmp_path / "bundle.pem").write_bytes(c.pem(b) + b"\n" + c.pem(d) + c.pem(a))
    (tmp_path / "b.der").write_bytes(c.der(b))
    results = by_name(run_import(settings, vault, [tmp_path]))
    assert results["a.pem"].result is Outcome.IMPORTED
    assert results["a.pem"].fingerprint_sha256 == a.fingerprint(c.hashes.SHA256()).hex()
    # folder order is sorted: a.pem, b.der, bundle.pem
    assert results["b.der"].result is Outcome.IMPORTED
    assert results["bundle.pem#1"].result is Outcome.DUPLICATE  # b again
    assert results["bundle.pem#2"].result is Outcome.IMPORTED
    assert results["bundle.pem#3"].result is Outcome.DUPLICATE
    assert "same SHA-256 fingerprint" in results["bundle.pem#3"].reason
    again = run_import(settings, vault, [tmp_path / "a.pem"])
    assert [r.result for r in again] == [Outcome.DUPLICATE]
    with session_scope(settings.database_url) as db:
        assert db.scalar(select(func.count()).select_from(Certificate)) == 3


def test_pkcs12_passwords(settings, vault, tmp_path):
    cert, key = c.make_cert("p12.example")
    (tmp_path / "locked.p12").write_bytes(c.p12(cert, key, b"s3cret"))
    (tmp_path / "open.p12").write_bytes(c.p12(*c.make_cert("open.example"), None))

    no_password = by_name(run_import(settings, vault, [tmp_path]))
    assert no_password["locked.p12"].result is Outcome.REJECTED
    assert "password-protected" in no_password["locked.p12"].reason
    assert no_password["open.p12#1"].result is Outcome.IMPORTED
    assert no_password["open.p12#2"].kind == "private_key"

    wrong = run_import(settings, vault, [tmp_path / "locked.p12"], passwords=[b"nope"])
    assert wrong[0].result is Outcome.REJECTED
    assert wrong[0].reason.startswith("wrong PKCS#12 password")

    right = run_import(settings, vault, [tmp_path / "locked.p12"], passwords=[b"nope", b"s3cret"])
    assert [(r.kind, r.result) for r in right] == [
        ("certificate", Outcome.IMPORTED),
        ("private_key", Outcome.IMPORTED),
    ]


@pytest.mark.parametrize(
    ("traditional", "password"), [(False, None), (True, None), (False, b"pw"), (True, b"pw")]
)
def test_private_keys_match_by_public_key(settings, vault, tmp_path, traditional, password):
    cert, key = c.make_cert("keyed.example", key=c.make_key("rsa"))
    (tmp_path / "cert.pem").write_bytes(c.pem(cert))
    (tmp_path / "key.pem").write_bytes(c.key_pem(key, password, traditional))
    results = by_name(run_import(settings, vault, [tmp_path], passwords=[b"pw"]))
    assert results["key.pem"].result is Outcome.IMPORTED
    assert results["key.pem"].kind == "private_key"
    assert results["key.pem"].common_name == "keyed.example"
    with session_scope(settings.database_url) as db:
        detail = certificate_detail(db, results["cert.pem"].fingerprint_sha256, datetime.now(UTC))
    assert detail.has_private_key


def test_key_errors_are_specific(settings, vault, tmp_path):
    cert, _ = c.make_cert("lonely.example")
    _, stranger = c.make_cert("stranger.example")
    (tmp_path / "cert.pem").write_bytes(c.pem(cert))
    (tmp_path / "stranger.key").write_bytes(c.key_pem(stranger))
    (tmp_path / "locked.key").write_bytes(c.key_pem(c.make_key(), b"right"))
    results = by_name(run_import(settings, vault, [tmp_path], passwords=[b"wrong"]))
    assert results["stranger.key"].result is Outcome.REJECTED
    assert results["stranger.key"].reason.startswith("private key does not match any certificate")
    assert results["locked.key"].reason.startswith("wrong private key passphrase")
    with session_scope(settings.database_url) as db:
        assert db.scalar(select(func.count()).select_from(PrivateKey)) == 0


def test_garbage_empty_large_and_missing_inputs(settings, vault, tmp_path):
    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "notes.txt").write_text("just some text\n")
    (tmp_path / "csr.pem").write_bytes(
        b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
    )
    (tmp_path / "broken.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "huge.pem").write_bytes(b"x" * 3000)
    results = by_name(
        run_import(settings, vault, [tmp_path, tmp_path / "missing.pem"], max_bytes=2048)
    )
    assert all(r.result is Outcome.REJECTED for r in results.values())
    assert results["empty.pem"].reason == "empty file"
    assert results["garbage.bin"].reason.startswith("not a certificate: unrecognised binary")
    assert results["notes.txt"].reason.startswith("not a certificate: text without")
    assert "signing request" in results["csr.pem"].reason
    assert "base64" in results["broken.pem"].reason
    assert results["huge.pem"].reason.startswith("file larger than 2 KiB")
    assert results["missing.pem"].reason == "no such file or folder"


def odd_certificates() -> dict[str, bytes]:
    """Odd names, serials, key types and validity, as cryptography's builders can make them."""
    now = datetime.now(UTC)
    out = {
        "unicode.pem": c.pem(c.make_cert("zertifikat-äöü-日本-🔐.example")[0]),
        "long-cn.pem": c.pem(
            c.make_cert(None, attributes=[x509.NameAttribute(NameOID.COMMON_NAME, "x" * 64)])[0]
        ),
        "no-cn.pem": c.pem(
            c.make_cert(
                None, attributes=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "No CN Inc")]
            )[0]
        ),
        "san-only.pem": c.pem(c.make_cert(None, attributes=[], sans=["san-only.example"])[0]),
        "html-cn.pem": c.pem(c.make_cert("<script>alert(1)</script>")[0]),
        "rsa1024.pem": c.pem(c.make_cert("rsa1024.example", key=c.make_key("rsa1024"))[0]),
        "dsa.pem": c.pem(c.make_cert("dsa.example", key=c.make_key("dsa"))[0]),
        "ed25519.pem": c.pem(c.make_cert("ed25519.example", key=c.make_key("ed25519"))[0]),
        "ed448.pem": c.pem(c.make_cert("ed448.example", key=c.make_key("ed448"))[0]),
        "expired.pem": c.pem(
            c.make_cert(
                "expired.example",
                not_before=now - timedelta(days=30),
                not_after=now - timedelta(days=1),
            )[0]
        ),
        "future.pem": c.pem(
            c.make_cert(
                "future.example",
                not_before=now + timedelta(days=30),
                not_after=now + timedelta(days=400),
            )[0]
        ),
        "big-serial.pem": c.pem(c.make_cert("big-serial.example", serial=2**159 - 1)[0]),
    }
    # A 200-character CN is longer than RFC 5280's 64, so the builder refuses it by default:
    long_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "y" * 200, _validate=False)])
    out["cn-200.pem"] = c.pem(c.make_cert(None, attributes=list(long_name))[0])
    return out


@pytest.mark.filterwarnings("ignore:Attribute's length")
def test_generated_odd_corpus(settings, vault, tmp_path):
    for name, data in odd_certificates().items():
        (tmp_path / name).write_bytes(data)
    results = by_name(run_import(settings, vault, [tmp_path]))
    assert all(r.result is Outcome.IMPORTED for r in results.values()), [
        (k, r.reason) for k, r in results.items() if r.result is not Outcome.IMPORTED
    ]
    assert results["unicode.pem"].common_name == "zertifikat-äöü-日本-🔐.example"
    assert results["no-cn.pem"].common_name is None
    assert results["cn-200.pem"].common_name == "y" * 200
    assert results["html-cn.pem"].common_name == "<script>alert(1)</script>"
    assert results["expired.pem"].status == Status.RED.value
    with session_scope(settings.database_url) as db:
        details = {
            name: certificate_detail(db, r.fingerprint_sha256, datetime.now(UTC))
            for name, r in results.items()
        }
        page = certificate_page(db, start=0, end=100, now=datetime.now(UTC))
    assert page.total == len(results)
    assert details["dsa.pem"].key_type == "DSA"
    assert details["ed448.pem"].key_type == "Ed448"
    assert (details["rsa1024.pem"].key_type, details["rsa1024.pem"].key_size) == ("RSA", 1024)
    assert details["big-serial.pem"].row.serial == str(2**159 - 1)
    assert details["san-only.pem"].row.sans == ("DNS:san-only.example",)


@pytest.mark.filterwarnings("ignore:Attribute's length")
def test_nul_and_control_characters_in_names_are_escaped(settings, vault, tmp_path):
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "evil\x00.example\x1b[31m", _validate=False)]
    )
    cert, _ = c.make_cert(None, attributes=list(name))
    (tmp_path / "nul.pem").write_bytes(c.pem(cert))
    [result] = run_import(settings, vault, [tmp_path / "nul.pem"])
    assert result.result is Outcome.IMPORTED
    assert result.common_name == "evil\\x00.example\\x1b[31m"


def _vectors_root() -> Path:
    vectors = pytest.importorskip("cryptography_vectors")
    return Path(vectors.__file__).parent


def _openssl_fingerprint(data: bytes, fmt: str) -> str | None:
    done = subprocess.run(
        ["openssl", "x509", "-inform", fmt, "-noout", "-fingerprint", "-sha256"],
        input=data,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    return done.stdout.decode().strip().split("=", 1)[1].replace(":", "").lower()


def test_cryptography_vectors_corpus(sqlite_settings, tmp_path, capsys):
    """~1,800 real-world and deliberately broken files: none may crash the import."""
    from data.crypto import load_vault

    root = _vectors_root()
    vault = load_vault(sqlite_settings)
    results = run_import(
        sqlite_settings,
        vault,
        [root / "x509", root / "pkcs12"],
        passwords=[b"cryptography", b"password"],
    )
    files = {p for d in ("x509", "pkcs12") for p in (root / d).rglob("*") if p.is_file()}
    assert {Path(r.path) for r in results} == files  # every input has a result
    counts: dict[str, int] = {}
    for r in results:
        counts[r.result.value] = counts.get(r.result.value, 0) + 1
        assert r.reason or r.result is Outcome.IMPORTED
    reasons: dict[str, int] = {}
    for r in results:
        if r.result is Outcome.REJECTED:
            key = r.reason.split(":")[0] if r.reason.startswith("not a") else r.reason[:40]
            reasons[key] = reasons.get(key, 0) + 1
    with capsys.disabled():
        print(f"\ncryptography_vectors import: {counts}; rejected by reason: {reasons}")
    assert counts["imported"] > 500
    # The list and detail views read every stored certificate without failing.
    now = datetime.now(UTC)
    with session_scope(sqlite_settings.database_url) as db:
        total = certificate_page(db, start=0, end=1, now=now).total
        start = 0
        while start < total:
            for row in certificate_page(db, start=start, end=start + 500, now=now).rows:
                certificate_detail(db, row.fingerprint_sha256, now)
                row.to_grid()
            start += 500
    # Fingerprints equal OpenSSL's, for every single-certificate PEM/DER file OpenSSL reads.
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    checked = 0
    for r in results:
        path = Path(r.path)
        if r.kind != "certificate" or r.item is not None or path.suffix not in (".pem", ".der"):
            continue
        data = path.read_bytes()
        expected = _openssl_fingerprint(data, "PEM" if b"-----BEGIN" in data else "DER")
        if expected is not None:
            assert r.fingerprint_sha256 == expected, path
            checked += 1
    assert checked > 100
