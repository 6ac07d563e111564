"""User administration: list, disable, enable, change a role, reset a password, sign out.

One service for the CLI (`certpush users …`) and the admin-only Users page. Each change
is checked here (admins only, the last enabled admin stays), audited, and ends the
user's web sessions where it changes what they may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data import audit
from data.domain.errors import CertpushError, NotFound, PermissionDenied
from data.domain.passwords import check_password
from data.domain.roles import Role, parse_role
from data.models import User
from data.users import hash_password


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    service: bool = False  # acts through API tokens only, never logs in

    def to_json(self) -> dict[str, Any]:
        """The documented shape of ``certpush users list --json`` (never a password hash)."""
        return {
            "username": self.username,
            "role": self.role,
            "enabled": self.active,
            "service": self.service,
            "created_at": self.created_at.isoformat(),
        }


class LastAdminError(CertpushError):
    """The change would leave no enabled admin: nobody could administer certpush again."""


def list_users(session: Session) -> list[UserRow]:
    return [
        UserRow(u.id, u.username, u.role, u.active, u.created_at, bool(u.service))
        for u in session.scalars(select(User).order_by(User.username))
    ]


def _require_admin(actor: str, role: str) -> None:
    if role != Role.ADMIN.value:
        raise PermissionDenied(f"{actor} ({role}) may not administer users: admins only")


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def _other_enabled_admins(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id)
        )
        or 0
    )


def _keep_an_admin(session: Session, user: User, what: str) -> None:
    if user.role == Role.ADMIN.value and user.active and not _other_enabled_admins(session, user):
        raise LastAdminError(
            f"{user.username} is the last enabled admin: {what} would leave nobody able to "
            "administer certpush; make another admin first"
        )


def _end_sessions(session: Session, username: str, reason: str, now: datetime) -> int:
    """End the user's web sessions at once (server-side sessions, data/sessions.py)."""
    from data.sessions import revoke_user_sessions

    return revoke_user_sessions(session, username, reason=reason, now=now)


def set_enabled(
    session: Session, username: str, enabled: bool, *, actor: str, role: str, now: datetime
) -> str:
    _require_admin(actor, role)
    user = _user(session, username)
    if user.active == enabled:
        return f"{username} is already {'enabled' if enabled else 'disabled'}"
    if not enabled:
        _keep_an_admin(session, user, "disabling them")
    user.active = enabled
    action = "user.enable" if enabled else "user.disable"
    ended = 0 if enabled else _end_sessions(session, username, f"disabled by {actor}", now)
    audit.record(session, actor=actor, action=action, now=now, target=username,
                 detail=f"{ended} web session(s) ended" if not enabled else "")  # fmt: skip
    session.flush()
    return f"{username} {'enabled' if enabled else 'disabled'}" + (
        f"; {ended} web session(s) ended" if ended else ""
    )


def set_role(
    session: Session, username: str, new_role: str, *, actor: str, role: str, now: datetime
) -> str:
    _require_admin(actor, role)
    user = _user(session, username)
    parsed = parse_role(new_role)
    if user.role == parsed.value:
        return f"{username} is already {parsed.value}"
    if parsed is not Role.ADMIN:
        _keep_an_admin(session, user, "demoting them")
    before = user.role
    user.role = parsed.value
    ended = _end_sessions(session, username, f"role changed by {actor}", now)
    audit.record(session, actor=actor, action="user.set_role", now=now, target=username,
                 detail=f"{before} -> {parsed.value}; {ended} web session(s) ended")  # fmt: skip
    session.flush()
    return f"{username} is now {parsed.value}; {ended} web session(s) ended"


def reset_password(
    session: Session, username: str, password: str, *, actor: str, role: str, now: datetime
) -> str:
    _require_admin(actor, role)
    user = _user(session, username)
    if user.service:
        raise CertpushError(
            f"{username} is a service user: it has no password and acts through API tokens "
            "only (certpush tokens create / revoke)"
        )
    check_password(password, username)
    user.password_hash = hash_password(password)
    ended = _end_sessions(session, username, f"password reset by {actor}", now)
    audit.record(session, actor=actor, action="user.reset_password", now=now, target=username,
                 detail=f"{ended} web session(s) ended")  # fmt: skip
    session.flush()
    return f"password of {username} reset; {ended} web session(s) ended"


def sign_out(session: Session, username: str, *, actor: str, role: str, now: datetime) -> str:
    """Sign a user out everywhere (admins, or users themselves)."""
    if actor != username:
        _require_admin(actor, role)
    _user(session, username)
    ended = _end_sessions(session, username, f"signed out by {actor}", now)
    audit.record(session, actor=actor, action="user.sign_out", now=now, target=username,
                 detail=f"{ended} web session(s) ended")  # fmt: skip
    return f"{username}: {ended} web session(s) ended"
