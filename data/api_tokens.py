"""API tokens in the database: made, listed, revoked and checked on every API call.

Rules (shape, lifetime, scope, rate) live in data/domain/api_tokens.py; this module
stores and audits. The secret exists only in the value ``create_token`` returns: the row
keeps its SHA-256, and lists and the audit trail name a token by its public id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from data import audit
from data.domain.api_tokens import (
    RateDecision,
    RateLimit,
    Scope,
    TokenState,
    check_name,
    count_call,
    looks_like_token,
    new_token,
    parse_scope,
    public_id,
    refusal,
    token_digest,
)
from data.domain.errors import AuthError, NotFound, PermissionDenied
from data.domain.roles import Role
from data.models import ApiToken, User
from data.users import UserInfo


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it: never its secret or digest."""

    id: int
    username: str
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self, now: datetime) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        return {
            "id": self.id,
            "user": self.username,
            "name": self.name,
            "prefix": self.prefix,
            "scope": self.scope.value,
            "state": self.state(now),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
        }


@dataclass(frozen=True)
class TokenCaller:
    """Who an accepted token acts for: the user (with their current role) and the scope."""

    user: UserInfo
    scope: Scope
    token_id: int
    prefix: str


def _info(row: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(
        row.id, username, row.name, row.prefix, Scope(row.scope), row.created_at,
        row.created_by, row.expires_at, row.last_used_at, row.revoked_at,
    )  # fmt: skip


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def _may_manage(actor: str, actor_role: str, owner: str) -> None:
    """Each user manages their own tokens; admins manage everyone's."""
    if actor != owner and actor_role != Role.ADMIN.value:
        raise PermissionDenied(f"{actor} may manage only their own API tokens, not {owner}'s")


def create_token(
    session: Session,
    username: str,
    name: str,
    *,
    scope: str = "read",
    lifetime: timedelta | None = None,
    actor: str,
    actor_role: str,
    now: datetime,
) -> tuple[TokenInfo, str]:
    """Make a token for ``username``; returns it with the secret, which is shown once."""
    _may_manage(actor, actor_role, username)
    user = _user(session, username)
    if not user.active:
        raise AuthError(f"{username} is disabled: enable the user before making tokens")
    token = new_token()
    row = ApiToken(
        user_id=user.id,
        name=check_name(name),
        prefix=public_id(token),
        digest=token_digest(token),
        scope=parse_scope(scope).value,
        created_at=now,
        created_by=actor,
        expires_at=now + lifetime if lifetime else None,
        window_count=0,
    )
    session.add(row)
    session.flush()
    until = f"until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "no expiry"
    audit.record(session, actor=actor, action="token.create", now=now, target=username,
                 detail=f"{row.prefix} {row.name!r}, scope {row.scope}, {until}")  # fmt: skip
    return _info(row, username), token


def list_tokens(session: Session, username: str | None = None) -> list[TokenInfo]:
    """Every token (or one user's), newest first."""
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
    if username is not None:
        query = query.where(User.username == username)
    rows = session.execute(query.order_by(ApiToken.id.desc())).all()
    return [_info(row, name) for row, name in rows]


def revoke_token(
    session: Session, token_id: int, *, actor: str, actor_role: str, now: datetime
) -> TokenInfo:
    """Revoke a token at once (its next call gets 401); revoking twice changes nothing."""
    found = session.execute(
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id)
    ).first()
    if found is None:
        raise NotFound(f"no API token {token_id}")
    row, owner = found
    _may_manage(actor, actor_role, owner)
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, actor
        audit.record(session, actor=actor, action="token.revoke", now=now, target=owner,
                     detail=f"{row.prefix} {row.name!r}")  # fmt: skip
    session.flush()
    return _info(row, owner)


def authenticate_token(session: Session, token: str, *, now: datetime) -> TokenCaller:
    """The caller a presented token stands for, or AuthError saying why not.

    Every accepted use records its time (``last_used_at``).
    """
    if not looks_like_token(token):
        raise AuthError("this is not a certpush API token")
    found = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.digest == token_digest(token))
    ).first()  # fmt: skip
    if found is None:
        raise AuthError("unknown API token")
    row, user = found
    why = refusal(TokenState(row.revoked_at, row.expires_at, bool(user.active)), now)
    if why:
        raise AuthError(why)
    row.last_used_at = now
    return TokenCaller(UserInfo(user.id, user.username, Role(user.role)), Scope(row.scope),
                       row.id, row.prefix)  # fmt: skip


def count_write(session: Session, token_id: int, limit: RateLimit, now: datetime) -> RateDecision:
    """Count one write call of a token against its rate; the row lock makes concurrent
    calls (other gunicorn workers) count one after the other."""
    row = session.execute(
        select(ApiToken.window_start, ApiToken.window_count)
        .where(ApiToken.id == token_id)
        .with_for_update()
    ).one()
    decision = count_call(limit, row.window_start, row.window_count or 0, now)
    if decision.allowed:
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(window_start=decision.window_start, window_count=decision.count)
        )
    return decision
