"""API token rules: the token's shape, its digest, its lifetime, its scope and the write rate.

Plain Python, no I/O: data/api_tokens.py stores and checks tokens with these rules, the
CLI, the API and the API tokens page share them.

A token is ``cpt_``, a public id of 8 hex digits, ``_`` and a secret of 43 URL-safe
characters (256 random bits). Lists, the audit trail and logs name a token by
``cpt_<id>``, which says nothing about the secret. Only the SHA-256 of the whole token is
stored: with that much entropy a fast hash is as good as a slow one, and checking a
token on every API call must not cost an Argon2 run.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from data.domain.errors import CertpushError

TOKEN_PREFIX = "cpt_"
MAX_LIFETIME = timedelta(days=730)
_TOKEN = re.compile(r"cpt_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([dhw])\s*$", re.IGNORECASE)
_RATE = re.compile(r"^\s*(\d{1,6})\s*/\s*(second|minute|hour)\s*$", re.IGNORECASE)
_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_NAME = re.compile(r"^[\w .:@/-]{1,64}$")


class Scope(enum.StrEnum):
    """What a token may do on top of its user's role: ``read`` never writes."""

    READ = "read"
    WRITE = "write"


class TokenError(CertpushError):
    """A token request that cannot be honoured (bad lifetime, scope or label)."""


def new_token() -> str:
    """A fresh secret token; shown once, never stored."""
    return f"{TOKEN_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(text: str) -> bool:
    """Only well-formed tokens are looked up: anything else is refused without a query."""
    return bool(_TOKEN.fullmatch(text))  # not .match: its $ lets a trailing newline in


def public_id(token: str) -> str:
    """``cpt_<id>``: names the token in lists and the audit trail without its secret."""
    return token[: len(TOKEN_PREFIX) + 8]


def parse_scope(text: str) -> Scope:
    try:
        return Scope(text.strip().lower())
    except ValueError:
        raise TokenError(f"unknown scope {text!r}: use read or write") from None


def check_name(name: str) -> str:
    """A label for the token (what it is for), shown in lists and the audit trail."""
    name = name.strip()
    if not _NAME.match(name):
        raise TokenError(
            "a token name is 1-64 letters, digits, spaces or . _ : @ / - (what it is for)"
        )
    return name


def parse_lifetime(text: str | None) -> timedelta | None:
    """``90d``, ``12h`` or ``4w`` (at most two years); empty or ``never``: no expiry."""
    if text is None or not text.strip() or text.strip().lower() == "never":
        return None
    match = _DURATION.match(text)
    if not match:
        raise TokenError(f"--expires {text!r}: write a number and d, h or w (90d, 12h, 4w)")
    amount, unit = int(match.group(1)), match.group(2).lower()
    lifetime = {"d": timedelta(days=amount), "h": timedelta(hours=amount),
                "w": timedelta(weeks=amount)}[unit]  # fmt: skip
    if lifetime <= timedelta(0):
        raise TokenError("a token's lifetime must be longer than zero")
    if lifetime > MAX_LIFETIME:
        raise TokenError("a token lives at most 730 days: make a new one when it expires")
    return lifetime


@dataclass(frozen=True)
class TokenState:
    """What the check of one call needs to know about a stored token and its user."""

    revoked_at: datetime | None
    expires_at: datetime | None
    user_active: bool


def refusal(state: TokenState, now: datetime) -> str | None:
    """Why a presented token may not be used now, or None. Worded for the caller."""
    if state.revoked_at is not None:
        return "this API token was revoked"
    if state.expires_at is not None and state.expires_at <= now:
        return "this API token has expired"
    if not state.user_active:
        return "the user of this API token is disabled"
    return None


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` write calls per token in each fixed window of ``window``."""

    calls: int
    window: timedelta

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``60/minute``, ``5/second``, ``1000/hour``."""
        match = _RATE.match(text or "")
        if not match or int(match.group(1)) < 1:
            raise ValueError(
                f"CERTPUSH_API_WRITE_RATE {text!r}: write calls per second, minute or hour "
                "(60/minute)"
            )
        return cls(int(match.group(1)), timedelta(seconds=_UNITS[match.group(2).lower()]))


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    window_start: datetime
    count: int
    retry_after: int  # whole seconds until the window ends (when refused)


def count_call(
    limit: RateLimit, window_start: datetime | None, count: int, now: datetime
) -> RateDecision:
    """Count one write call in a fixed window; refuse it when the window is full."""
    if window_start is None or now - window_start >= limit.window or now < window_start:
        return RateDecision(True, now, 1, 0)
    if count >= limit.calls:
        left = (window_start + limit.window - now).total_seconds()
        return RateDecision(False, window_start, count, max(1, int(left + 0.999)))
    return RateDecision(True, window_start, count + 1, 0)
