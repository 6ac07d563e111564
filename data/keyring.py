"""Which master key seals what, and moving every sealed value to the current key.

Four kinds of value are sealed: private keys (``private_keys.sealed_pkcs8``, bound to
``private_key:<spki>``), connector secrets (``connectors.sealed_secret``, bound to
``connector-secret:<id>``), notification channels' URLs (``notify_channels.sealed_url``,
bound to ``notify-channel:<name>``) and the secrets inside queued tasks' payloads
(``tasks.payload["sealed_secret"]``, bound to ``task-secret``). Each blob names the key
that sealed it (data/crypto.py), so "what is left to rotate" is a query and a rotation
keeps no progress of its own: every batch re-seals the next values not yet under the
current key and commits, and a rotation killed half way is finished by running it
again. Old and new keys are both in the keyring throughout, so every value opens at
every moment; a value is replaced only if it is still the blob that was read
(compare-and-set), so a secret changed meanwhile is never overwritten.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import LargeBinary, bindparam, func, literal, select, update
from sqlalchemy.orm import Session

from data import audit
from data.config import Settings
from data.connectors import secret_context
from data.crypto import ENV_SOURCE, Vault, keyring_source, parse_keyring, write_keyring_file
from data.db import session_scope
from data.domain.errors import ConfigError, NotFound, SealedValueError
from data.models import Connector, NotifyChannel, PrivateKey, Task
from data.notifications import channel_context
from data.sealed import OPEN_FAILED, open_failure_detail, private_key_context
from data.tasks import QUEUED, RUNNING, TASK_SECRET_CONTEXT

DEFAULT_BATCH = 500
PRIVATE_KEYS, CONNECTOR_SECRETS, TASK_SECRETS = "private_keys", "connector_secrets", "task_secrets"
NOTIFY_CHANNELS = "notify_channels"
_TASK_FIELD = "sealed_secret"


@dataclass(frozen=True)
class SealedRow:
    """One sealed value as a rotation reads it: where it is, what it is bound to."""

    id: int
    blob: bytes  # the sealed value
    stored: Any  # what the row holds (the blob, or the task payload around it): the CAS value
    context: str
    target: str  # what the audit trail names (never the value)


class SealedKind(Protocol):
    """One place sealed values live: count them by key, page through those to move,
    replace a value only where the row still holds what was read."""

    name: str

    def counts(self, session: Session) -> Counter[bytes]: ...

    def pending(
        self, session: Session, current: bytes, after: int, limit: int
    ) -> tuple[list[SealedRow], int | None]: ...

    def replace(self, session: Session, changes: Sequence[tuple[SealedRow, bytes]]) -> int: ...


def _key_prefix(column):
    """The 8-byte key id inside a blob, in SQL (SQLite and PostgreSQL alike)."""
    return func.substr(column, 2, 8)


class _ColumnKind:
    """Sealed values held in a binary column of a table."""

    def __init__(self, name: str, model, column, context: Callable[[Any], str],
                 target: Callable[[Any], str], extra: Sequence[Any]):  # fmt: skip
        self.name, self.model, self.column = name, model, column
        self.context, self.target, self.extra = context, target, extra

    def counts(self, session: Session) -> Counter[bytes]:
        prefix = _key_prefix(self.column).label("kid")
        rows = session.execute(
            select(prefix, func.count()).where(self.column.is_not(None)).group_by(prefix)
        )
        return Counter({bytes(kid or b""): n for kid, n in rows})

    def pending(self, session: Session, current: bytes, after: int, limit: int):
        rows = session.execute(
            select(self.model.id, self.column, *self.extra)
            .where(
                self.model.id > after,
                self.column.is_not(None),
                _key_prefix(self.column) != literal(current, LargeBinary),
            )
            .order_by(self.model.id)
            .limit(limit)
        ).all()
        found = [
            SealedRow(r[0], bytes(r[1]), bytes(r[1]), self.context(r), self.target(r)) for r in rows
        ]
        return found, (found[-1].id if found else None)

    def replace(self, session: Session, changes: Sequence[tuple[SealedRow, bytes]]) -> int:
        if not changes:
            return 0
        table = self.model.__table__
        column = table.c[self.column.key]
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"), column == bindparam("old_blob"))
            .values({column.key: bindparam("new_blob")})
        )
        params = [{"row_id": r.id, "old_blob": r.stored, "new_blob": new} for r, new in changes]
        return session.connection().execute(statement, params).rowcount


class _TaskKind:
    """Secrets inside the JSON payload of tasks not done yet (a finished task drops its
    payload). Few at any time: read and filtered here, not in SQL."""

    name = TASK_SECRETS

    @staticmethod
    def _sealed(payload: str) -> bytes | None:
        try:
            value = json.loads(payload).get(_TASK_FIELD)
            return base64.b64decode(value) if value else None
        except (ValueError, TypeError, AttributeError):
            return None

    def _rows(self, session: Session, after: int = 0, limit: int | None = None):
        query = (
            select(Task.id, Task.kind, Task.payload)
            .where(
                Task.id > after,
                Task.status.in_([QUEUED, RUNNING]),
                Task.payload.contains(f'"{_TASK_FIELD}"'),
            )
            .order_by(Task.id)
        )
        return session.execute(query.limit(limit) if limit else query).all()

    def counts(self, session: Session) -> Counter[bytes]:
        found: Counter[bytes] = Counter()
        for row in self._rows(session):
            blob = self._sealed(row.payload)
            if blob is not None:
                found[blob[1:9]] += 1
        return found

    def pending(self, session: Session, current: bytes, after: int, limit: int):
        page = self._rows(session, after, limit)
        found = []
        for row in page:
            blob = self._sealed(row.payload)
            if blob is not None and blob[1:9] != current:
                found.append(SealedRow(row.id, blob, row.payload, TASK_SECRET_CONTEXT,
                                       f"task {row.id} ({row.kind})"))  # fmt: skip
        return found, (page[-1].id if page else None)

    def replace(self, session: Session, changes: Sequence[tuple[SealedRow, bytes]]) -> int:
        moved = 0
        for row, new in changes:
            payload = json.loads(row.stored)
            payload[_TASK_FIELD] = base64.b64encode(new).decode()
            moved += session.execute(
                update(Task)
                .where(Task.id == row.id, Task.payload == row.stored)
                .values(payload=json.dumps(payload))
            ).rowcount
        return moved


KINDS: tuple[SealedKind, ...] = (
    _ColumnKind(PRIVATE_KEYS, PrivateKey, PrivateKey.sealed_pkcs8,
                context=lambda r: private_key_context(r.spki_sha256),
                target=lambda r: f"private key {r.spki_sha256}",
                extra=(PrivateKey.spki_sha256,)),
    _ColumnKind(CONNECTOR_SECRETS, Connector, Connector.sealed_secret,
                context=lambda r: secret_context(r.id),
                target=lambda r: f"connector {r.name}",
                extra=(Connector.name,)),
    _ColumnKind(NOTIFY_CHANNELS, NotifyChannel, NotifyChannel.sealed_url,
                context=lambda r: channel_context(r.name),
                target=lambda r: f"notification channel {r.name}",
                extra=(NotifyChannel.name,)),
    _TaskKind(),
)  # fmt: skip


# ------------------------------------------------------------------------------ status


@dataclass(frozen=True)
class KeyStatus:
    """The keyring (ids only, never keys) and how many values each key id seals.

    ``problem`` says why no keyring could be read (then ``keys`` is empty): the counts
    are read from the blobs and need no key.
    """

    source: str
    problem: str | None
    keys: tuple[bytes, ...]  # ids, the current one first
    sealed: dict[str, Counter[bytes]]  # kind -> key id -> values

    @property
    def current(self) -> bytes | None:
        return self.keys[0] if self.keys else None

    def by_key(self) -> Counter[bytes]:
        return sum(self.sealed.values(), Counter())

    @property
    def total(self) -> int:
        return sum(self.by_key().values())

    @property
    def to_rotate(self) -> int:
        """Values not sealed by the current key (a rotation moves them)."""
        return sum(n for kid, n in self.by_key().items() if kid != self.current)

    def to_json(self) -> dict[str, Any]:
        """The documented shape of ``certpush keys status --json``."""
        counts = self.by_key()
        return {
            "source": self.source,
            "problem": self.problem,
            "current": self.current.hex() if self.current else None,
            "keys": [
                {"id": kid.hex(), "current": kid == self.current, "values": counts.get(kid, 0)}
                for kid in self.keys
            ],
            "unknown_keys": [
                {"id": kid.hex(), "values": n}
                for kid, n in sorted(counts.items())
                if kid not in self.keys
            ],
            "values": {
                kind: {kid.hex(): n for kid, n in sorted(c.items())}
                for kind, c in self.sealed.items()
            },
            "total": self.total,
            "to_rotate": self.to_rotate,
        }


def sealed_counts(session: Session) -> dict[str, Counter[bytes]]:
    """For each kind of sealed value, how many each key id seals."""
    return {kind.name: kind.counts(session) for kind in KINDS}


def key_status(session: Session, settings: Settings, vault: Vault | None, problem: str | None):
    """The keyring's ids and what each seals; ``vault`` None when it could not be read."""
    return KeyStatus(
        source=keyring_source(settings),
        problem=problem,
        keys=vault.key_ids if vault is not None else (),
        sealed=sealed_counts(session),
    )


# ---------------------------------------------------------------------------- rotation


@dataclass(frozen=True)
class OpenFailure:
    """A value that would not open: reported and audited, never fatal to a rotation."""

    kind: str
    row_id: int
    target: str
    context: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "target": self.target, "context": self.context,
                "reason": self.reason}  # fmt: skip


@dataclass
class RotationReport:
    """What a rotation (or the part of it done so far) came to."""

    current: bytes
    moved: Counter[str] = field(default_factory=Counter)
    failures: list[OpenFailure] = field(default_factory=list)
    batches: int = 0
    seconds: float = 0.0
    remaining: int = 0  # values still under another key at the end (failures included)

    @property
    def total_moved(self) -> int:
        return sum(self.moved.values())

    def to_json(self) -> dict[str, Any]:
        """The documented shape of ``certpush keys rotate --json``."""
        return {
            "current": self.current.hex(),
            "moved": {kind.name: self.moved[kind.name] for kind in KINDS},
            "failures": [f.to_json() for f in self.failures],
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "remaining": self.remaining,
        }


def rotate_batch(
    session: Session,
    vault: Vault,
    kind: SealedKind,
    after: int,
    limit: int,
    *,
    actor: str,
    now: datetime,
    skip: frozenset[int] | set[int] = frozenset(),
) -> tuple[int | None, int, list[OpenFailure]]:
    """Re-seal with the current key up to ``limit`` values of ``kind`` after id ``after``,
    in the caller's transaction. Returns the last id looked at (None: nothing left), how
    many moved, and the values that would not open (each audited in the same transaction,
    so a batch killed half way neither moves nor reports anything). ``skip``: ids already
    reported, not tried again."""
    rows, last = kind.pending(session, vault.key_id, after, limit)
    changes, failures = [], []
    for row in rows:
        if row.id in skip:
            continue
        try:
            plaintext = vault.open(row.blob, row.context)
        except SealedValueError as exc:
            failures.append(OpenFailure(kind.name, row.id, row.target, row.context, str(exc)))
            audit.record(session, actor=actor, action=OPEN_FAILED, now=now, target=row.target,
                         detail=open_failure_detail(row.context, exc))  # fmt: skip
            continue
        changes.append((row, vault.seal(plaintext, row.context)))
    return last, kind.replace(session, changes), failures


def rotate_values(
    database_url: str,
    vault: Vault,
    *,
    actor: str,
    batch: int = DEFAULT_BATCH,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_batch: Callable[[RotationReport], None] | None = None,
    passes: int = 3,
) -> RotationReport:
    """Re-seal every value not under the current key, ``batch`` values per transaction.

    Resumable by construction: what is done is what the blobs say. A value that will not
    open is audited, reported and skipped. A value sealed with an older key while this
    runs (by a process that had not read the new keyring yet) is caught by another pass.
    """
    if batch < 1:
        raise ConfigError("the batch size must be at least 1")
    report = RotationReport(current=vault.key_id)
    started = time.perf_counter()
    failed: dict[str, set[int]] = {kind.name: set() for kind in KINDS}
    for _ in range(passes):
        for kind in KINDS:
            after = 0
            while True:
                with session_scope(database_url) as session:
                    last, moved, failures = rotate_batch(session, vault, kind, after, batch,
                                                         actor=actor, now=clock(),
                                                         skip=failed[kind.name])  # fmt: skip
                if last is None:
                    break
                after = last
                report.batches += 1
                report.moved[kind.name] += moved
                report.failures.extend(failures)
                failed[kind.name].update(f.row_id for f in failures)
                if on_batch is not None:
                    on_batch(report)
        with session_scope(database_url) as session:
            counts = sum(sealed_counts(session).values(), Counter())
        report.remaining = sum(n for kid, n in counts.items() if kid != vault.key_id)
        if report.remaining <= len(report.failures):
            break
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------------- the keyring itself


def _file_keyring(settings: Settings, change: str) -> None:
    """The key file can be changed here; CERTPUSH_MASTER_KEY only where it is set."""
    if settings.master_key:
        raise ConfigError(
            f"the keyring is {ENV_SOURCE}: {change} there (keys separated by commas, the "
            "current one first), give the same value to every certpush process and restart "
            "them"
        )


def add_current_key(
    session: Session, settings: Settings, vault: Vault, new_key: bytes, *, actor: str,
    now: datetime,
) -> Vault:  # fmt: skip
    """Make ``new_key`` the current key of the key file; the others stay there to open
    what they sealed. Written before any value moves, so every value opens throughout."""
    _file_keyring(settings, "put the new key first")
    keyring = vault.with_current(new_key)
    write_keyring_file(settings.master_key_file, keyring.keys, expected=vault.keys)
    older = ", ".join(k.hex() for k in keyring.key_ids[1:]) or "none"
    audit.record(session, actor=actor, action="key.rotate", now=now,
                 target=keyring.key_id.hex(),
                 detail=f"new current key {keyring.key_id.hex()}; older keys kept to open: "
                        f"{older}")  # fmt: skip
    return keyring


def resolve_key_id(vault: Vault, text: str) -> bytes:
    """The keyring's key whose id is ``text`` (or starts with it: at least 4 hex digits)."""
    wanted = text.strip().lower()
    matches = [kid for kid in vault.key_ids if len(wanted) >= 4 and kid.hex().startswith(wanted)]
    if len(matches) != 1:
        ids = ", ".join(kid.hex() for kid in vault.key_ids)
        raise NotFound(f"no single key with id {text!r} in the keyring (its keys: {ids})")
    return matches[0]


def retire_key(
    session: Session, settings: Settings, vault: Vault, text: str, *, actor: str,
    now: datetime, force: bool = False,
) -> tuple[Vault, bytes]:  # fmt: skip
    """Remove a key that seals nothing any more from the key file (never the current one).

    With values still sealed by it, refused unless ``force`` (they would no longer open:
    the way out for values that are damaged anyway, see ``keys status``).
    """
    retired = resolve_key_id(vault, text)
    if retired == vault.key_id:
        raise ConfigError(
            f"{retired.hex()} is the current key: make another one current first "
            "('certpush keys rotate')"
        )
    still = sum(sealed_counts(session).values(), Counter())[retired]
    if still and not force:
        raise ConfigError(
            f"{still} value(s) are still sealed by {retired.hex()}: run 'certpush keys "
            "rotate' first (values that will not open are listed by it; --force retires "
            "the key anyway and they stay unreadable)"
        )
    _file_keyring(settings, f"remove {retired.hex()}")
    keyring = vault.without(retired)
    write_keyring_file(settings.master_key_file, keyring.keys, expected=vault.keys)
    detail = f"{still} value(s) still sealed by it" + (" (forced)" if force else "")
    audit.record(session, actor=actor, action="key.retire", now=now, target=retired.hex(),
                 detail=detail)  # fmt: skip
    return keyring, retired


def read_new_key(path: Path) -> bytes:
    """The first key of a key file made with ``certpush keys generate --out``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the new key file {path}: {exc.strerror}") from None
    return parse_keyring(text, str(path))[0]


def record_rotation(session: Session, report: RotationReport, *, actor: str, now: datetime):
    """The audit event closing a rotation run: what moved, what would not open."""
    moved = ", ".join(f"{n} {kind}" for kind, n in report.moved.items() if n) or "nothing"
    audit.record(session, actor=actor, action="key.rotate.finish", now=now,
                 target=report.current.hex(),
                 detail=f"moved {moved}; {len(report.failures)} would not open; "
                        f"{report.remaining} still under older keys")  # fmt: skip
