"""Server-side web sessions: started at login, checked on every request, revoked at logout.

The browser's cookie carries only the random token ``start_session`` returns; the row
is found by the token's digest. Every check may end the session (and marks the row
revoked with the reason) when the rules of ``data/domain/sessions.py`` say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from data.domain.errors import NotFound
from data.domain.roles import Role
from data.domain.sessions import (
    SessionEnd,
    SessionPolicy,
    end_reason,
    needs_touch,
    new_token,
    token_digest,
)
from data.models import User, UserSession
from data.users import UserInfo

KEEP_ENDED = timedelta(days=30)  # ended (or long idle) sessions stay this long, then go


@dataclass(frozen=True)
class SessionCheck:
    """The outcome of one request's check: the user, or why there is none."""

    user: UserInfo | None
    ended: SessionEnd | str | None = None  # set when this check (or an earlier one) ended it


def start_session(
    session: Session, user: UserInfo, *, address: str, user_agent: str, now: datetime
) -> str:
    """A new session for ``user``; returns the token for the cookie (never stored)."""
    token = new_token()
    session.add(
        UserSession(
            id=token_digest(token),
            user_id=user.id,
            role=user.role.value,
            created_at=now,
            last_seen_at=now,
            client_address=(address or "")[:64],
            user_agent=(user_agent or "")[:256],
        )
    )
    cutoff = now - KEEP_ENDED
    session.execute(
        delete(UserSession).where(
            UserSession.user_id == user.id,
            or_(UserSession.revoked_at < cutoff, UserSession.last_seen_at < cutoff),
        )
    )
    return token


def check_session(
    session: Session, token: str, *, now: datetime, policy: SessionPolicy
) -> SessionCheck:
    """The user behind ``token`` if its session may go on; otherwise end it and say why."""
    row = session.get(UserSession, token_digest(token)) if token else None
    if row is None:
        return SessionCheck(None, "unknown session")
    if row.revoked_at is not None:
        return SessionCheck(None, row.revoked_reason or "revoked")
    user = session.get(User, row.user_id)
    reason = end_reason(
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        user_active=bool(user and user.active),
        role_at_login=row.role,
        role_now=user.role if user else None,
        now=now,
        policy=policy,
    )
    if reason is not None:
        row.revoked_at = now
        row.revoked_reason = reason.value
        return SessionCheck(None, reason)
    if needs_touch(row.last_seen_at, now, policy):
        row.last_seen_at = now
    return SessionCheck(UserInfo(user.id, user.username, Role(user.role)))


def revoke_session(session: Session, token: str, *, reason: str, now: datetime) -> bool:
    """End one session (logout); False when it was already over or never existed."""
    done = session.execute(
        update(UserSession)
        .where(UserSession.id == token_digest(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason[:64])
    )
    return bool(done.rowcount)


def revoke_user_sessions(session: Session, username: str, *, reason: str, now: datetime) -> int:
    """Sign ``username`` out everywhere: end every live session; returns how many ended.

    For user administration (sign-out, disable, set-role) and the web's "Sign out
    everywhere". The caller records the audit event, since it knows who acted and why.
    Raises NotFound for an unknown user name.
    """
    user_id = session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFound(f"no user named {username!r}")
    done = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason[:64])
    )
    return done.rowcount or 0


def live_sessions(session: Session, username: str) -> int:
    """How many sessions of ``username`` are not revoked (timeouts apply at their next use)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(UserSession)
            .join(User, User.id == UserSession.user_id)
            .where(User.username == username, UserSession.revoked_at.is_(None))
        )
        or 0
    )
