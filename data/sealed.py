"""Opening sealed values where they are used, and auditing any that will not open.

A value that fails to decrypt (damaged, copied onto another row, or sealed by a key the
keyring lacks) is an event a person must hear of: it is written to the audit trail as
``key.open_failed`` (what and its context, never the value), in a transaction of its own
so that it stays even when the caller's work is rolled back, and the error goes on to
the caller, which reports it as it reports any failure.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from data import audit
from data.crypto import Vault
from data.domain.errors import SealedValueError

log = logging.getLogger("certpush.sealed")
OPEN_FAILED = "key.open_failed"


def private_key_context(spki_sha256: str) -> str:
    """What a stored private key is bound to: its public key's hash."""
    return f"private_key:{spki_sha256}"


def open_failure_detail(context: str, error: Exception) -> str:
    return f"context {context}: {error}"


def record_open_failure(
    bind: Engine | Connection, *, target: str, context: str, error: Exception, actor: str
) -> None:
    """Audit a value that would not open, committed on its own. Never raises: the failure
    being reported matters more than the record of it (which is logged if it cannot be
    written). Stamped with the moment it is written: it records a failure happening now."""
    try:
        with Session(bind=bind) as session, session.begin():
            audit.record(session, actor=actor, action=OPEN_FAILED, now=datetime.now(UTC),
                         target=target, detail=open_failure_detail(context, error))  # fmt: skip
    except Exception:
        log.exception("could not audit the failure to open %s (%s)", target, context)


def open_sealed(
    session: Session, vault: Vault, blob: bytes, context: str, *, target: str, actor: str
) -> bytes:
    """``vault.open``, auditing a value that fails to open before the error goes on."""
    try:
        return vault.open(blob, context)
    except SealedValueError as exc:
        record_open_failure(session.get_bind(), target=target, context=context, error=exc,
                            actor=actor)  # fmt: skip
        raise
