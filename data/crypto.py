"""Encryption at rest for private keys and connector secrets.

AES-256-GCM with a master key that never enters the database. Each ciphertext
carries the id of the key that sealed it (so a rotation can find what to
re-encrypt) and is bound to its row by associated data (so a blob copied onto
another row fails to open instead of silently decrypting).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from data.config import Settings
from data.domain.errors import ConfigError

_VERSION = b"\x01"
_NONCE = 12


def _decode_key(text: str, origin: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"master key from {origin} is not 32 bytes of URL-safe base64: "
            "create one with 'certpush keys generate'"
        )
    return raw


def generate_master_key() -> str:
    """A new master key in its text form (what goes into CERTPUSH_MASTER_KEY or the key file)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


@dataclass(frozen=True)
class Vault:
    """Seals and opens secrets with the master key."""

    key: bytes

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(b"certpush-key-id" + self.key).digest()[:8]

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` (e.g. "private_key:<spki hash>")."""
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext, context.encode())
        return _VERSION + self.key_id + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        """Decrypt a blob made by ``seal`` with the same context."""
        if blob[:1] != _VERSION or len(blob) < 1 + 8 + _NONCE + 16:
            raise ConfigError("encrypted value has an unknown format")
        if blob[1:9] != self.key_id:
            raise ConfigError(
                "this secret was encrypted with another master key: set CERTPUSH_MASTER_KEY "
                "or CERTPUSH_MASTER_KEY_FILE to the key used when it was stored"
            )
        nonce, sealed = blob[9 : 9 + _NONCE], blob[9 + _NONCE :]
        try:
            return AESGCM(self.key).decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise ConfigError("encrypted value is damaged or belongs to another record") from None


def load_vault(settings: Settings, create: bool = False) -> tuple[Vault, bool]:
    """Find the master key: CERTPUSH_MASTER_KEY, else the key file (made if ``create``).

    Returns the vault and whether a new key file was written, so the caller can say so.
    """
    if settings.master_key:
        return Vault(_decode_key(settings.master_key, "CERTPUSH_MASTER_KEY")), False
    path: Path = settings.master_key_file
    if path.exists():
        return Vault(_decode_key(path.read_text(), str(path))), False
    if not create:
        raise ConfigError(
            f"no master key: set CERTPUSH_MASTER_KEY or create {path} "
            "('certpush keys generate --out FILE')"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_master_key() + "\n")
    return Vault(_decode_key(path.read_text(), str(path))), True
