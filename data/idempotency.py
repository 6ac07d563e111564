"""Idempotency keys: a write call sent again with the same key returns its first answer.

Scripts retry on timeouts; without this a retried Push to Device request would open a
second request with its own work orders and approvals. The first answer is stored in the
same transaction as the change it reports, so either both exist or neither does.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.domain.errors import CertpushError
from data.models import IdempotencyKey

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


class IdempotencyConflict(CertpushError):
    """The key was used before for another request."""


@dataclass(frozen=True)
class Stored:
    status_code: int
    body: dict[str, Any]


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise CertpushError("Idempotency-Key: 1-255 printable ASCII characters, no spaces")
    return key


def request_digest(route: str, body: Any) -> str:
    canonical = json.dumps([route, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(session: Session, user_id: int, key: str, route: str, digest: str) -> Stored | None:
    """The stored answer for this key, or None when the key is new."""
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.route != route or row.request_digest != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request: use a new key "
            "for a new request"
        )
    return Stored(row.status_code, json.loads(row.body))


def remember(
    session: Session,
    user_id: int,
    key: str,
    route: str,
    digest: str,
    stored: Stored,
    now: datetime,
) -> None:
    """Keep the answer; a concurrent call with the same key fails here (unique key)."""
    session.add(
        IdempotencyKey(
            user_id=user_id,
            key=key,
            route=route,
            request_digest=digest,
            status_code=stored.status_code,
            body=json.dumps(stored.body, default=str),
            created_at=now,
        )
    )
    session.flush()
