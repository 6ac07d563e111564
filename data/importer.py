"""Importing certificates and private keys from files into the inventory.

Every input gets a result a person can act on; a bad file never stops the
others. Rows are written with bulk INSERTs in one transaction, so a folder of
tens of thousands of PEM files imports at thousands per second and a crash
half-way leaves nothing half-imported.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from data import audit
from data.crypto import Vault
from data.domain.errors import CertificateParseError, MasterKeyMissing, SealedValueError
from data.domain.parsing import ParsedCertificate, ParsedKey, parse_input
from data.domain.status import Status, StatusInputs, classify_certificate
from data.models import Certificate, PrivateKey
from data.queries import STATUS_COLUMNS, status_of
from data.sealed import private_key_context

BATCH = 1000


class Outcome(enum.StrEnum):
    IMPORTED = "imported"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImportResult:
    """One line of an import report; ``to_json`` is the documented --json shape."""

    path: str
    item: int | None
    kind: str  # "certificate", "private_key" or "file"
    result: Outcome
    reason: str
    fingerprint_sha256: str | None = None
    common_name: str | None = None
    not_after: str | None = None
    status: str | None = None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["result"] = self.result.value
        return data


@dataclass(frozen=True)
class _Known:
    """Enough of a stored certificate to report on it without loading the row."""

    fingerprint: str
    common_name: str | None
    not_after: datetime
    status: Status


def _human_size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files named, and every file below folders named, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _known_from_row(row, now: datetime) -> _Known:
    return _Known(row.fingerprint_sha256, row.common_name, row.not_after, status_of(row, now))


def _cert_result(path: str, item: int | None, outcome: Outcome, reason: str, known: _Known):
    return ImportResult(
        path=path,
        item=item,
        kind="certificate",
        result=outcome,
        reason=reason,
        fingerprint_sha256=known.fingerprint,
        common_name=known.common_name,
        not_after=known.not_after.isoformat(),
        status=known.status.value,
    )


def _cert_row(cert: ParsedCertificate, source: str, now: datetime) -> dict[str, object]:
    return {
        "fingerprint_sha256": cert.fingerprint_sha256,
        "common_name": cert.common_name,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "sans": "\n".join(cert.sans),
        "serial": cert.serial,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "key_type": cert.key_type,
        "key_size": cert.key_size,
        "signature_algorithm": cert.signature_algorithm,
        "extended_key_usage": ",".join(cert.extended_key_usage),
        "is_ca": cert.is_ca,
        "spki_sha256": cert.spki_sha256,
        "der": cert.der,
        "parse_warnings": "\n".join(cert.warnings),
        "source": source[-1024:],
        "imported_at": now,
        "revoked_at": None,
        "revocation_reason": None,
        "push_failed": False,
        "drift": False,
    }


@dataclass
class _PendingCert:
    path: str
    item: int | None
    cert: ParsedCertificate


@dataclass
class _PendingKey:
    path: str
    item: int | None
    key: ParsedKey


class Importer:
    """One import run: feed it files, then ``finish`` matches keys and writes the audit event.

    With an empty keyring (no master key yet) certificates import as usual and each private
    key is rejected with the reason and the fix: a key is never stored unsealed.
    """

    def __init__(self, session: Session, vault: Vault, now: datetime, actor: str, max_bytes: int):
        self.session = session
        self.vault = vault
        self.now = now
        self.actor = actor
        self.max_bytes = max_bytes
        self.results: list[ImportResult] = []
        self._certs: list[_PendingCert] = []
        self._keys: list[_PendingKey] = []
        self._seen: dict[str, _Known] = {}

    def _too_large(self, path: str, size: int) -> bool:
        if size <= self.max_bytes:
            return False
        reason = (
            f"file larger than {_human_size(self.max_bytes)} ({size:,} bytes): "
            "certificate files are far smaller; is this the right file?"
        )
        self.results.append(ImportResult(path, None, "file", Outcome.REJECTED, reason))
        return True

    def add_bytes(self, path: str, data: bytes, passwords: Sequence[bytes] = ()) -> None:
        """Parse one input; certificates are queued for a bulk insert, keys kept for the end."""
        if self._too_large(path, len(data)):
            return
        try:
            parsed = parse_input(data, passwords)
        except CertificateParseError as exc:
            self.results.append(ImportResult(path, None, "file", Outcome.REJECTED, str(exc)))
            return
        numbered = len(parsed.items) > 1
        for index, item in enumerate(parsed.items, start=1):
            number = index if numbered else None
            if item.certificate is not None:
                self._certs.append(_PendingCert(path, number, item.certificate))
            elif item.key is not None:
                self._keys.append(_PendingKey(path, number, item.key))
            else:
                reason = item.error or "unreadable"
                self.results.append(ImportResult(path, number, "file", Outcome.REJECTED, reason))
        if len(self._certs) >= BATCH:
            self._flush_certificates()

    def add_file(self, path: Path, passwords: Sequence[bytes] = ()) -> None:
        """Read and add one file, refusing what is missing, unreadable or too large."""
        name = str(path)
        try:
            if self._too_large(name, path.stat().st_size):
                return  # checked before reading: a huge file is never loaded
            data = path.read_bytes()
        except FileNotFoundError:
            self.results.append(
                ImportResult(name, None, "file", Outcome.REJECTED, "no such file or folder")
            )
            return
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            self.results.append(ImportResult(name, None, "file", Outcome.REJECTED, reason))
            return
        self.add_bytes(name, data, passwords)

    def _flush_certificates(self) -> None:
        batch, self._certs = self._certs, []
        if not batch:
            return
        fingerprints = {p.cert.fingerprint_sha256 for p in batch} - self._seen.keys()
        if fingerprints:
            rows = self.session.execute(
                select(
                    Certificate.fingerprint_sha256, Certificate.common_name, *STATUS_COLUMNS
                ).where(Certificate.fingerprint_sha256.in_(fingerprints))
            )
            for row in rows:
                self._seen[row.fingerprint_sha256] = _known_from_row(row, self.now)
        new_rows = []
        for pending in batch:
            cert = pending.cert
            known = self._seen.get(cert.fingerprint_sha256)
            if known is not None:
                self.results.append(
                    _cert_result(
                        pending.path,
                        pending.item,
                        Outcome.DUPLICATE,
                        "already present (same SHA-256 fingerprint)",
                        known,
                    )
                )
                continue
            status = classify_certificate(StatusInputs(not_after=cert.not_after), self.now)
            known = _Known(cert.fingerprint_sha256, cert.common_name, cert.not_after, status)
            self._seen[cert.fingerprint_sha256] = known
            new_rows.append(_cert_row(cert, pending.path, self.now))
            reason = "; ".join(cert.warnings) if cert.warnings else ""
            if reason:
                reason = f"imported with unreadable fields: {reason}"
            self.results.append(
                _cert_result(pending.path, pending.item, Outcome.IMPORTED, reason, known)
            )
        if new_rows:
            self.session.execute(insert(Certificate), new_rows)

    def _match_keys(self) -> None:
        keys, self._keys = self._keys, []
        if not keys:
            return
        spkis = {k.key.spki_sha256 for k in keys}
        matches: dict[str, _Known] = {}
        for row in self.session.execute(
            select(
                Certificate.spki_sha256,
                Certificate.fingerprint_sha256,
                Certificate.common_name,
                *STATUS_COLUMNS,
            )
            .where(Certificate.spki_sha256.in_(spkis))
            .order_by(Certificate.not_after.desc())
        ):
            matches.setdefault(row.spki_sha256, _known_from_row(row, self.now))
        stored: dict[str, bytes] = dict(
            self.session.execute(
                select(PrivateKey.spki_sha256, PrivateKey.sealed_pkcs8).where(
                    PrivateKey.spki_sha256.in_(spkis)
                )
            ).all()
        )
        for pending in keys:
            spki = pending.key.spki_sha256
            known = matches.get(spki)
            if known is None:
                self.results.append(
                    ImportResult(
                        pending.path,
                        pending.item,
                        "private_key",
                        Outcome.REJECTED,
                        "private key does not match any certificate: import its certificate "
                        "first or in the same run",
                    )
                )
                continue
            if spki in stored and self._opens(spki, stored[spki]):
                outcome, reason = Outcome.DUPLICATE, "this private key is already stored"
            else:
                try:
                    sealed = self.vault.seal(pending.key.pkcs8_der, private_key_context(spki))
                except MasterKeyMissing as exc:  # certificates still import without a key
                    self.results.append(ImportResult(
                        pending.path, pending.item, "private_key", Outcome.REJECTED,
                        f"not stored: {exc}; then import this key again",
                        known.fingerprint, known.common_name, known.not_after.isoformat(),
                        known.status.value,
                    ))  # fmt: skip
                    continue
                row = {
                    "key_type": pending.key.key_type,
                    "key_size": pending.key.key_size,
                    "sealed_pkcs8": sealed,
                    "imported_at": self.now,
                }
                outcome, reason = Outcome.IMPORTED, "private key stored encrypted"
                if spki in stored:  # the stored copy would not open: this one replaces it
                    self.session.execute(
                        update(PrivateKey).where(PrivateKey.spki_sha256 == spki).values(**row)
                    )
                    reason += ", replacing a stored copy that would not open"
                else:
                    self.session.execute(insert(PrivateKey), [{"spki_sha256": spki, **row}])
                stored[spki] = sealed
            result = _cert_result(pending.path, pending.item, outcome, reason, known)
            self.results.append(
                ImportResult(**{**asdict(result), "kind": "private_key", "result": outcome})
            )

    def _opens(self, spki: str, sealed: bytes) -> bool:
        """Whether a stored key still opens (if not, importing it again repairs it); True
        when there is no keyring to tell."""
        try:
            self.vault.open(sealed, private_key_context(spki))
        except MasterKeyMissing:
            return True
        except SealedValueError:
            return False
        return True

    def finish(self) -> list[ImportResult]:
        """Write what is queued, match keys, record one audit event; return every result."""
        self._flush_certificates()
        self._match_keys()
        counts = {o: sum(r.result is o for r in self.results) for o in Outcome}
        audit.record(
            self.session,
            actor=self.actor,
            action="certificates.import",
            now=self.now,
            detail=", ".join(f"{n} {o.value}" for o, n in counts.items()),
        )
        self.session.flush()
        return self.results


def import_paths(
    session: Session,
    vault: Vault,
    paths: Iterable[str | Path],
    *,
    now: datetime,
    actor: str,
    passwords: Sequence[bytes] = (),
    max_bytes: int = 1024 * 1024,
    on_file: Callable[[Path], None] | None = None,
) -> list[ImportResult]:
    """Import files and folders; the caller's session scope commits."""
    importer = Importer(session, vault, now, actor, max_bytes)
    for path in expand_paths(paths):
        importer.add_file(path, passwords)
        if on_file is not None:
            on_file(path)
    return importer.finish()
