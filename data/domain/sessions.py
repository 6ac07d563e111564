"""When a web session ends: the rules checked on every request, given the stored facts.

The browser holds a random token; the database holds only its SHA-256 digest, so a
copy of the table cannot be replayed as cookies.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

TOKEN_BYTES = 32  # 256 bits


class SessionEnd(StrEnum):
    """Why a session ended (stored in ``user_sessions.revoked_reason``)."""

    LOGOUT = "logout"
    SIGNED_OUT_EVERYWHERE = "signed out everywhere"
    IDLE = "idle timeout"
    EXPIRED = "lifetime over"
    USER_DISABLED = "user disabled"
    ROLE_CHANGED = "role changed"


@dataclass(frozen=True)
class SessionPolicy:
    """CERTPUSH_SESSION_IDLE_MINUTES and CERTPUSH_SESSION_MAX_HOURS."""

    idle: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=12)
    touch_every: timedelta = timedelta(minutes=1)


def new_token() -> str:
    """A fresh session token for the cookie (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The row id stored for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def end_reason(
    *,
    created_at: datetime,
    last_seen_at: datetime,
    user_active: bool,
    role_at_login: str,
    role_now: str | None,
    now: datetime,
    policy: SessionPolicy,
) -> SessionEnd | None:
    """Why a live session must end now, or None while it may go on."""
    if not user_active or role_now is None:
        return SessionEnd.USER_DISABLED
    if role_now != role_at_login:
        return SessionEnd.ROLE_CHANGED
    if now - created_at >= policy.max_age:
        return SessionEnd.EXPIRED
    if now - last_seen_at >= policy.idle:
        return SessionEnd.IDLE
    return None


def needs_touch(last_seen_at: datetime, now: datetime, policy: SessionPolicy) -> bool:
    """``last_seen_at`` is written at most once a minute, not on every callback."""
    return now - last_seen_at >= policy.touch_every
