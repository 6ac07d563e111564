"""Many sealed values at once, for the key rotation benchmark and tests: private-key rows,
connector secrets and queued task secrets, sealed by the vault given and bulk-inserted
into a migrated database (SQLite or PostgreSQL). Each plaintext is derived from its row,
so ``open_all`` can tell a value that opens to the wrong bytes from one that opens.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from data.connectors import secret_context
from data.crypto import Vault
from data.db import session_scope
from data.domain.errors import SealedValueError
from data.keyring import CONNECTOR_SECRETS, PRIVATE_KEYS, TASK_SECRETS
from data.models import Connector, PrivateKey, Task
from data.sealed import private_key_context
from data.tasks import TASK_SECRET_CONTEXT, queue_task, seal_task_secret

MARK = b"bench-"  # every generated plaintext starts so; real keys (DER) never do
CHUNK = 2_000


def _key_plaintext(spki: str) -> bytes:
    return MARK + b"pkcs8:" + spki.encode() + bytes(1000)  # about an RSA-2048 PKCS#8


def _secret_plaintext(name: str) -> bytes:
    return MARK + b"secret:" + name.encode()


def split(total: int) -> dict[str, int]:
    """10,000 -> 8,000 private keys, 1,990 connector secrets and 10 queued task secrets."""
    tasks = min(10, total)
    keys = (total - tasks) * 4 // 5
    return {PRIVATE_KEYS: keys, CONNECTOR_SECRETS: total - tasks - keys, TASK_SECRETS: tasks}


def fill(url: str, vault: Vault, counts: dict[str, int], now: datetime | None = None) -> None:
    """Insert ``counts`` values of each kind, sealed by ``vault``'s current key."""
    now = now or datetime.now(UTC)
    spkis = [hashlib.sha256(b"sealed-data-%d" % i).hexdigest() for i in range(counts[PRIVATE_KEYS])]
    for start in range(0, len(spkis), CHUNK):
        rows = [
            {"spki_sha256": spki, "key_type": "rsa", "key_size": 2048, "imported_at": now,
             "sealed_pkcs8": vault.seal(_key_plaintext(spki), private_key_context(spki))}
            for spki in spkis[start : start + CHUNK]
        ]  # fmt: skip
        with session_scope(url) as session:
            session.execute(insert(PrivateKey), rows)
    names = [f"sealed-{i:05}" for i in range(counts[CONNECTOR_SECRETS])]
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        with session_scope(url) as session:
            session.execute(insert(Connector), [
                {"name": n, "type": "ssh", "settings": "{}", "secret_kind": "password",
                 "created_at": now, "created_by": "bench"} for n in chunk
            ])  # fmt: skip
            ids = session.execute(
                select(Connector.name, Connector.id).where(Connector.name.in_(chunk))
            ).all()
            session.execute(update(Connector), [
                {"id": i, "sealed_secret": vault.seal(_secret_plaintext(n), secret_context(i))}
                for n, i in ids
            ])  # fmt: skip
    with session_scope(url) as session:
        for i in range(counts[TASK_SECRETS]):
            secret = _secret_plaintext(f"task-{i}")
            payload = {"type": "ssh", "settings": {}, "secret_kind": "password", "note": i,
                       "sealed_secret": seal_task_secret(vault, secret)}  # fmt: skip
            queue_task(session, "connector.test", payload, actor="bench", now=now)


@dataclass
class Opened:
    """What ``open_all`` found: values that opened, and those that did not or opened wrong."""

    opened: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.opened.values())


def open_all(url: str, vault: Vault) -> Opened:
    """Open every sealed value with ``vault``; generated ones must give their plaintext."""
    found = Opened({PRIVATE_KEYS: 0, CONNECTOR_SECRETS: 0, TASK_SECRETS: 0})

    def check(kind: str, what: str, blob: bytes, context: str, expected: bytes) -> None:
        try:
            plaintext = vault.open(blob, context)
        except SealedValueError as exc:
            found.failed.append(f"{what}: {exc}")
            return
        if plaintext.startswith(MARK) and plaintext != expected:
            found.failed.append(f"{what}: opened to other bytes")
            return
        found.opened[kind] += 1

    with session_scope(url) as session:
        for spki, blob in session.execute(select(PrivateKey.spki_sha256, PrivateKey.sealed_pkcs8)):
            check(PRIVATE_KEYS, f"private key {spki}", blob, private_key_context(spki),
                  _key_plaintext(spki))  # fmt: skip
        for i, name, blob in session.execute(
            select(Connector.id, Connector.name, Connector.sealed_secret).where(
                Connector.sealed_secret.is_not(None)
            )
        ):
            check(CONNECTOR_SECRETS, f"connector {name}", blob, secret_context(i),
                  _secret_plaintext(name))  # fmt: skip
        for task_id, payload in session.execute(select(Task.id, Task.payload)):
            data = json.loads(payload)
            if data.get("sealed_secret"):
                blob = base64.b64decode(data["sealed_secret"])
                expected = _secret_plaintext(f"task-{data.get('note')}")
                check(TASK_SECRETS, f"task {task_id}", blob, TASK_SECRET_CONTEXT, expected)
    return found
