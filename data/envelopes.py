"""What crosses the broker between the central side and zone agents, and how it is protected.

Two guarantees, whatever the broker or its disk is given to read:

- **Secrets are sealed to the zone's approved agents.** A private key being pushed or a
  connector credential travels as an envelope: one random content key, the secret under
  AES-256-GCM, and that content key wrapped for each approved agent of the zone with an
  ephemeral X25519 agreement (HKDF-SHA256, AES-GCM). Only an agent holding one of those
  X25519 private keys opens it; the broker sees ciphertext.
- **Results are signed by the agent.** Each message an agent sends is canonical JSON
  signed with its Ed25519 key; the central side checks the signature against the key it
  approved, so a forged or altered result (or one from a revoked agent) is refused.

An agent's identity is the pair of public keys; its fingerprint is the SHA-256 of both,
shown to the admin who approves it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from data.domain.errors import CertpushError

ENVELOPE_VERSION = 1
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
_INFO = b"certpush agent envelope v1"


class EnvelopeError(CertpushError):
    """An envelope or a signed message that cannot be opened or trusted; says why."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise EnvelopeError("not valid base64") from None


def canonical(body: Any) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class PublicIdentity:
    """An agent's public keys (base64 of the raw 32 bytes each)."""

    signing: str  # Ed25519
    sealing: str  # X25519

    @property
    def fingerprint(self) -> str:
        """SHA-256 over both keys, shown as 64 hex digits (``agents list``)."""
        return hashlib.sha256(unb64(self.signing) + unb64(self.sealing)).hexdigest()

    def to_json(self) -> dict[str, str]:
        return {"signing": self.signing, "sealing": self.sealing}

    @classmethod
    def from_json(cls, data: Any) -> PublicIdentity:
        if not isinstance(data, dict):
            raise EnvelopeError("an agent identity is an object with signing and sealing keys")
        signing, sealing = data.get("signing"), data.get("sealing")
        if not isinstance(signing, str) or not isinstance(sealing, str):
            raise EnvelopeError("an agent identity needs both public keys")
        if len(unb64(signing)) != 32 or len(unb64(sealing)) != 32:
            raise EnvelopeError("an agent's public keys are 32 bytes each")
        return cls(signing, sealing)


class AgentKeys:
    """An agent's two private keys, kept in its state folder (mode 0600)."""

    FILE = "agent-keys.json"

    def __init__(self, signing: Ed25519PrivateKey, sealing: X25519PrivateKey):
        self._signing = signing
        self._sealing = sealing

    @classmethod
    def generate(cls) -> AgentKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, folder: Path) -> AgentKeys:
        """The agent's keys from its state folder; made (once) on first start."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / cls.FILE
        try:
            data = json.loads(path.read_text())
            return cls(
                Ed25519PrivateKey.from_private_bytes(unb64(data["signing"])),
                X25519PrivateKey.from_private_bytes(unb64(data["sealing"])),
            )
        except FileNotFoundError:
            pass
        except (KeyError, ValueError, TypeError) as exc:
            raise EnvelopeError(f"{path} is damaged ({exc}): move it away to enrol anew") from None
        keys = cls.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys._private_json(), handle)
        return keys

    def _private_json(self) -> dict[str, str]:
        raw = serialization.Encoding.Raw, serialization.PrivateFormat.Raw
        none = serialization.NoEncryption()
        return {
            "signing": b64(self._signing.private_bytes(*raw, none)),
            "sealing": b64(self._sealing.private_bytes(*raw, none)),
        }

    @property
    def public(self) -> PublicIdentity:
        return PublicIdentity(
            b64(self._signing.public_key().public_bytes(*_RAW)),
            b64(self._sealing.public_key().public_bytes(*_RAW)),
        )

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` with its signature, ready to send."""
        return {"body": body, "signature": b64(self._signing.sign(canonical(body)))}

    def open(self, envelope: dict[str, Any]) -> bytes:
        """The secret of an envelope sealed to this agent."""
        mine = self.public.fingerprint
        wrapped = (envelope.get("recipients") or {}).get(mine)
        if wrapped is None:
            raise EnvelopeError("this envelope is not sealed to this agent")
        try:
            ephemeral = X25519PublicKey.from_public_bytes(unb64(wrapped["ephemeral"]))
            key = _kek(self._sealing.exchange(ephemeral), mine)
            content_key = AESGCM(key).decrypt(unb64(wrapped["nonce"]), unb64(wrapped["key"]), _INFO)
            return AESGCM(content_key).decrypt(
                unb64(envelope["nonce"]),
                unb64(envelope["ciphertext"]),
                canonical(envelope.get("context", "")),
            )
        except (InvalidTag, KeyError, ValueError, TypeError):
            raise EnvelopeError(
                "the envelope does not open: damaged or not for this agent"
            ) from None


def _kek(shared: bytes, fingerprint: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=bytes.fromhex(fingerprint), info=_INFO).derive(shared)


def seal(secret: bytes, recipients: list[PublicIdentity], context: str) -> dict[str, Any]:
    """``secret`` sealed to every recipient; ``context`` (e.g. the work order) is bound in."""
    if not recipients:
        raise EnvelopeError("no approved agent to seal the secret to")
    content_key = AESGCM.generate_key(256)
    nonce = os.urandom(12)
    wrapped = {}
    for recipient in recipients:
        ephemeral = X25519PrivateKey.generate()
        peer = X25519PublicKey.from_public_bytes(unb64(recipient.sealing))
        key = _kek(ephemeral.exchange(peer), recipient.fingerprint)
        key_nonce = os.urandom(12)
        wrapped[recipient.fingerprint] = {
            "ephemeral": b64(ephemeral.public_key().public_bytes(*_RAW)),
            "nonce": b64(key_nonce),
            "key": b64(AESGCM(key).encrypt(key_nonce, content_key, _INFO)),
        }
    return {
        "version": ENVELOPE_VERSION,
        "context": context,
        "nonce": b64(nonce),
        "ciphertext": b64(AESGCM(content_key).encrypt(nonce, secret, canonical(context))),
        "recipients": wrapped,
    }


def verify(message: Any, identity: PublicIdentity) -> dict[str, Any]:
    """The body of a signed message if ``identity`` signed it; EnvelopeError otherwise."""
    if not isinstance(message, dict) or not isinstance(message.get("body"), dict):
        raise EnvelopeError("not a signed message")
    try:
        key = Ed25519PublicKey.from_public_bytes(unb64(identity.signing))
        key.verify(unb64(str(message.get("signature", ""))), canonical(message["body"]))
    except InvalidSignature:
        raise EnvelopeError("the signature does not match the agent's approved key") from None
    return message["body"]
