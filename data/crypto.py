"""Encryption at rest for private keys and connector secrets.

AES-256-GCM under master keys that never enter the database. Each ciphertext carries
the id of the key that sealed it (8 bytes after the version byte), so a keyring of
several keys opens each blob with the key it names and a rotation can find what to
re-encrypt; each is bound to its row by associated data (so a blob copied onto another
row fails to open instead of silently decrypting).

The keyring is the file ``CERTPUSH_MASTER_KEY_FILE`` (one key a line) or
``CERTPUSH_MASTER_KEY`` (keys separated by commas); the first key is the current one and
seals, the others only open what they sealed (``certpush keys rotate`` / ``retire``).
Nothing here ever creates a key on its own: only ``certpush keys generate`` and the first
``certpush demo`` do (``create_key_file``).
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from data.config import Settings
from data.domain.errors import ConfigError, MasterKeyMissing, SealedValueError

_VERSION = b"\x01"
_NONCE = 12
KEY_ID_BYTES = 8
ENV_SOURCE = "CERTPUSH_MASTER_KEY"
GENERATE_FIX = "run 'certpush keys generate' (or set CERTPUSH_MASTER_KEY)"


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


def encode_key(key: bytes) -> str:
    """A key in its text form (a line of the key file, an item of CERTPUSH_MASTER_KEY)."""
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def generate_master_key() -> str:
    """A new master key in its text form (what goes into CERTPUSH_MASTER_KEY or the key file)."""
    return encode_key(os.urandom(32))


def key_id(key: bytes) -> bytes:
    """The 8-byte id every blob sealed by ``key`` carries; shown as 16 hex digits."""
    return hashlib.sha256(b"certpush-key-id" + key).digest()[:KEY_ID_BYTES]


def blob_key_id(blob: bytes) -> bytes | None:
    """The id of the key that sealed ``blob``, or None when it is not one of our blobs."""
    if blob[:1] != _VERSION or len(blob) < 1 + KEY_ID_BYTES + _NONCE + 16:
        return None
    return bytes(blob[1 : 1 + KEY_ID_BYTES])


def parse_keyring(text: str, origin: str) -> tuple[bytes, ...]:
    """Keys from a key file (one a line) or CERTPUSH_MASTER_KEY (comma-separated), in order.

    Blank lines and ``#`` comments are ignored; a key listed twice counts once.
    """
    keys: list[bytes] = []
    for line in text.splitlines():
        for item in line.split("#", 1)[0].split(","):
            if item.strip():
                key = _decode_key(item, origin)
                if key not in keys:
                    keys.append(key)
    if not keys:
        raise MasterKeyMissing(f"no master key in {origin}: {GENERATE_FIX}")
    return tuple(keys)


@dataclass(frozen=True)
class Vault:
    """A keyring: the first key (the current one) seals; every key opens what it sealed.

    Empty when no master key is configured (``load_vault(..., required=False)``): then
    sealing and opening raise MasterKeyMissing with ``missing`` as the message, and
    whatever needs no key still works.
    """

    keys: tuple[bytes, ...]
    missing: str = ""
    _by_id: dict[bytes, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One cipher per key, made once: AESGCM keeps no state between calls.
        object.__setattr__(self, "_by_id", {key_id(k): AESGCM(k) for k in self.keys})

    @classmethod
    def of(cls, *keys: bytes) -> Vault:
        return cls(tuple(keys))

    def _require_a_key(self) -> None:
        if not self.keys:
            raise MasterKeyMissing(self.missing or f"no master key: {GENERATE_FIX}")

    @property
    def key(self) -> bytes:
        """The current key (the one that seals)."""
        self._require_a_key()
        return self.keys[0]

    @property
    def key_id(self) -> bytes:
        """The current key's id."""
        self._require_a_key()
        return next(iter(self._by_id))

    @property
    def key_ids(self) -> tuple[bytes, ...]:
        """Every key's id, the current one first."""
        return tuple(self._by_id)

    def with_current(self, key: bytes) -> Vault:
        """This keyring with ``key`` first (current); the others stay, to open."""
        return Vault((key, *(k for k in self.keys if k != key)))

    def without(self, retired_id: bytes) -> Vault:
        """This keyring without the key of that id."""
        return Vault(tuple(k for k in self.keys if key_id(k) != retired_id))

    def is_current(self, blob: bytes) -> bool:
        return bool(self.keys) and blob_key_id(blob) == self.key_id

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` (e.g. "private_key:<spki hash>")."""
        current = self.key_id
        nonce = os.urandom(_NONCE)
        sealed = self._by_id[current].encrypt(nonce, plaintext, context.encode())
        return _VERSION + current + nonce + sealed

    def open(self, blob: bytes, context: str) -> bytes:
        """Decrypt a blob made by ``seal`` with the same context, with the key it names."""
        self._require_a_key()
        blob = bytes(blob)
        wanted = blob_key_id(blob)
        if wanted is None:
            raise SealedValueError("encrypted value has an unknown format")
        cipher = self._by_id.get(wanted)
        if cipher is None:
            raise SealedValueError(
                f"this secret was sealed with another master key ({wanted.hex()}) that is not "
                "in the keyring: add that key to CERTPUSH_MASTER_KEY or the key file, after "
                "the current one"
            )
        nonce, sealed = blob[9 : 9 + _NONCE], blob[9 + _NONCE :]
        try:
            return cipher.decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise SealedValueError(
                "encrypted value is damaged or belongs to another record"
            ) from None


def keyring_source(settings: Settings) -> str:
    """Where the keyring comes from: ``CERTPUSH_MASTER_KEY`` or the key file's path."""
    return ENV_SOURCE if settings.master_key else str(settings.master_key_file)


def missing_key_message(settings: Settings) -> str:
    return (
        f"no master key: set CERTPUSH_MASTER_KEY or run 'certpush keys generate' "
        f"(writes {settings.master_key_file})"
    )


def load_vault(settings: Settings, required: bool = True) -> Vault:
    """The keyring from CERTPUSH_MASTER_KEY, else the key file. Never creates a key.

    Without any key: MasterKeyMissing, or with ``required=False`` an empty keyring that
    says so when asked to seal or open (for commands that need a key only sometimes).
    A key that is present but malformed always raises.
    """
    if settings.master_key:
        return Vault(parse_keyring(settings.master_key, ENV_SOURCE))
    path: Path = settings.master_key_file
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise MasterKeyMissing(missing_key_message(settings)) from None
        return Vault((), missing=missing_key_message(settings))
    except OSError as exc:
        raise ConfigError(f"cannot read the master key file {path}: {exc.strerror}") from None
    return Vault(parse_keyring(text, str(path)))


def master_key_problem(settings: Settings) -> ConfigError | None:
    """Why secrets cannot be sealed or opened here (MasterKeyMissing when there is no key
    at all), or None when the keyring is usable."""
    try:
        load_vault(settings)
    except ConfigError as exc:
        return exc
    return None


def _keyring_text(keys: tuple[bytes, ...]) -> str:
    return "".join(encode_key(k) + "\n" for k in keys)


def create_key_file(path: Path, keys: tuple[bytes, ...] | None = None) -> bool:
    """Write a key file (mode 0600) only if none exists; True when written.

    With no ``keys``, a new master key. An existing file is never overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(_keyring_text(keys or (os.urandom(32),)))
        handle.flush()
        os.fsync(handle.fileno())
    return True


def write_keyring_file(path: Path, keys: tuple[bytes, ...], expected: tuple[bytes, ...]) -> None:
    """Replace the key file with ``keys`` (first = current), atomically, mode 0600, if it
    still holds ``expected`` (what the caller read).

    Two commands changing the keyring at once must not lose a key that already seals
    values: the change happens under a lock beside the file and is refused when the file
    changed since it was read. Written beside it and renamed over it: a reader sees the
    old keyring or the new one, never half of one, and a crash leaves one of the two.
    """
    if not keys:
        raise ConfigError("refusing to write an empty keyring")
    lock = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if parse_keyring(path.read_text(), str(path)) != expected:
            raise ConfigError(
                f"{path} changed while this command ran (another keys command?): "
                "nothing was changed; run it again"
            )
        temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(_keyring_text(keys))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        os.close(lock)  # releases the lock
