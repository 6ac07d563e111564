"""Private keys never reach the database, the views or the exports in the clear."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from data.config import Settings
from data.crypto import (
    Vault,
    blob_key_id,
    create_key_file,
    encode_key,
    generate_master_key,
    key_id,
    load_vault,
)
from data.db import engine_for, session_scope
from data.domain.errors import ConfigError, MasterKeyMissing, SealedValueError
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
    vault = load_vault(sqlite_settings)
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
    vault = load_vault(sqlite_settings)
    blob = vault.seal(b"secret", "private_key:aaa")
    with pytest.raises(SealedValueError, match="another master key"):
        Vault.of(b"\x00" * 32).open(blob, "private_key:aaa")
    with pytest.raises(SealedValueError, match="another record"):
        vault.open(blob, "private_key:bbb")
    assert vault.open(blob, "private_key:aaa") == b"secret"


def test_a_keyring_seals_with_its_first_key_and_opens_with_the_key_a_blob_names():
    old, new = os.urandom(32), os.urandom(32)
    by_old = Vault.of(old).seal(b"sealed before", "ctx")
    keyring = Vault.of(new, old)
    assert keyring.open(by_old, "ctx") == b"sealed before"
    by_new = keyring.seal(b"sealed after", "ctx")
    assert blob_key_id(by_new) == key_id(new) == keyring.key_id
    assert keyring.is_current(by_new) and not keyring.is_current(by_old)
    assert keyring.without(key_id(old)).open(by_new, "ctx") == b"sealed after"
    with pytest.raises(SealedValueError, match=key_id(old).hex()):
        keyring.without(key_id(old)).open(by_old, "ctx")
    empty = Vault((), missing="no master key: run 'certpush keys generate'")
    for attempt in (lambda: empty.seal(b"x", "ctx"), lambda: empty.open(by_new, "ctx")):
        with pytest.raises(MasterKeyMissing, match="certpush keys generate"):
            attempt()


def test_keyring_from_the_file_one_key_a_line_or_the_variable_comma_separated(instance):
    first, second = generate_master_key(), generate_master_key()
    folder = instance / "ring"
    from_file = Settings.for_folder(folder)
    create_key_file(from_file.master_key_file)
    single = load_vault(from_file)
    assert len(single.keys) == 1
    from_file.master_key_file.write_text(f"{first}\n\n# older, kept to open\n{second}\n")
    assert [encode_key(k) for k in load_vault(from_file).keys] == [first, second]
    from_env = Settings.for_folder(folder, master_key=f" {second} , {first}")
    assert [encode_key(k) for k in load_vault(from_env).keys] == [second, first]
    broken = Settings.for_folder(folder, master_key=f"{first},not-a-key")
    with pytest.raises(ConfigError, match="not 32 bytes"):
        load_vault(broken)


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


def test_no_key_is_ever_made_by_loading_and_the_file_is_made_once_with_owner_only_mode(
    instance,
):
    settings = Settings.from_env({"CERTPUSH_INSTANCE": str(instance / "fresh")})
    with pytest.raises(MasterKeyMissing, match="certpush keys generate"):
        load_vault(settings)
    lazy = load_vault(settings, required=False)
    assert lazy.keys == () and "certpush keys generate" in lazy.missing
    assert not settings.master_key_file.exists()
    assert create_key_file(settings.master_key_file)
    assert settings.master_key_file.stat().st_mode & 0o777 == 0o600
    vault = load_vault(settings)
    assert not create_key_file(settings.master_key_file)  # never overwritten
    assert load_vault(settings).keys == vault.keys
