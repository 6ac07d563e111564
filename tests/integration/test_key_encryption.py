"""Private keys never reach the database, the views or the exports in the clear."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from data.crypto import Vault, load_vault
from data.db import engine_for, session_scope
from data.domain.errors import ConfigError
from data.importer import Outcome, import_paths
from data.models import PrivateKey
from data.queries import certificate_detail
from tests import certs as c


def secret_part(key) -> bytes:
    """The bytes that are the secret itself, whatever the key type."""
    if isinstance(key, rsa.RSAPrivateKey):
        d = key.private_numbers().d
        return d.to_bytes((d.bit_length() + 7) // 8, "big")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.private_numbers().private_value.to_bytes(32, "big")
    return key.private_bytes_raw()


def test_raw_database_file_holds_no_key_material(sqlite_settings, tmp_path):
    vault = load_vault(sqlite_settings)[0]
    keys = []
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, kind in enumerate(["rsa", "ec", "ed25519"]):
        cert, key = c.make_cert(f"k{i}.example", key=c.make_key(kind))
        (inputs / f"{i}.pem").write_bytes(c.pem(cert) + c.key_pem(key))
        keys.append(key)
    with session_scope(sqlite_settings.database_url) as db:
        results = import_paths(db, vault, [inputs], now=datetime.now(UTC), actor="test")
    assert sum(r.kind == "private_key" and r.result is Outcome.IMPORTED for r in results) == 3
    engine_for(sqlite_settings.database_url).dispose()  # checkpoint the WAL into the file
    db_path = Path(sqlite_settings.database_url.split("///", 1)[1])
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*") if p.is_file())
    assert b"PRIVATE KEY" not in raw
    for key in keys:
        assert c.key_der(key) not in raw
        assert secret_part(key) not in raw  # not even the bare private number
    with session_scope(sqlite_settings.database_url) as db:
        sealed = db.scalars(select(PrivateKey)).all()
        for row in sealed:
            opened = vault.open(row.sealed_pkcs8, f"private_key:{row.spki_sha256}")
            assert opened in [c.key_der(k) for k in keys]


def test_sealed_key_cannot_be_opened_with_another_master_key_or_row(sqlite_settings):
    vault = load_vault(sqlite_settings)[0]
    blob = vault.seal(b"secret", "private_key:aaa")
    with pytest.raises(ConfigError, match="another master key"):
        Vault(b"\x00" * 32).open(blob, "private_key:aaa")
    with pytest.raises(ConfigError, match="another record"):
        vault.open(blob, "private_key:bbb")
    assert vault.open(blob, "private_key:aaa") == b"secret"


def test_detail_view_says_a_key_exists_without_showing_it(settings, vault, tmp_path):
    cert, key = c.make_cert("shown.example")
    (tmp_path / "both.pem").write_bytes(c.pem(cert) + c.key_pem(key))
    with session_scope(settings.database_url) as db:
        [cert_result, _key_result] = import_paths(
            db, vault, [tmp_path / "both.pem"], now=datetime.now(UTC), actor="t"
        )
    with session_scope(settings.database_url) as db:
        detail = certificate_detail(db, cert_result.fingerprint_sha256, datetime.now(UTC))
    assert detail.has_private_key
    assert "PRIVATE" not in repr(detail)


def test_master_key_file_is_created_once_with_owner_only_mode(instance):
    from data.config import Settings

    settings = Settings.from_env({"CERTPUSH_INSTANCE": str(instance / "fresh")})
    with pytest.raises(ConfigError, match="no master key"):
        load_vault(settings)
    vault, created = load_vault(settings, create=True)
    assert created
    assert settings.master_key_file.stat().st_mode & 0o777 == 0o600
    again, created_again = load_vault(settings, create=True)
    assert not created_again and again.key == vault.key
