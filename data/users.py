"""Users, password hashing and authentication."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from data import audit
from data.domain.errors import AuthError, CertpushError
from data.domain.passwords import check_password
from data.domain.roles import Permission, Role, parse_role, require
from data.models import User

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
# A service user's password hash: not an Argon2 hash, so no password ever verifies.
SERVICE_PASSWORD_HASH = "!service"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked when the user does not exist, so timing does not reveal which names exist."""
    return _hasher.hash("certpush-timing-equaliser")


@dataclass(frozen=True)
class UserInfo:
    """What the web layer keeps about a logged-in user (never the hash)."""

    id: int
    username: str
    role: Role


def add_user(
    session: Session,
    username: str,
    role: str,
    password: str | None,
    now: datetime,
    actor: str = "cli",
    *,
    service: bool = False,
) -> UserInfo:
    """Create a user; refuses duplicates, odd names and weak passwords with a clear message.

    The password must pass ``data.domain.passwords.check_password`` (12 characters or
    more, not a common password, not the user name). A service user (a pipeline, a
    ticketing system) gets no password at all: it acts only through API tokens, so there
    is no password to guess, leak or rotate, and it can never log in to the UI.
    """
    if not _USERNAME.match(username):
        raise CertpushError(
            "user names are 2-64 characters of letters, digits and . _ @ - (no spaces)"
        )
    parsed_role = parse_role(role)
    if service:
        if password:
            raise CertpushError(
                "a service user has no password: it acts through API tokens only "
                "(certpush tokens create --user NAME)"
            )
        password_hash = SERVICE_PASSWORD_HASH
    else:
        check_password(password or "", username)
        password_hash = _hasher.hash(password or "")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise CertpushError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=password_hash,
        role=parsed_role.value,
        active=True,
        created_at=now,
        service=service,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.add",
        now=now,
        target=username,
        detail=f"{parsed_role.value}, service user" if service else parsed_role,
    )
    return UserInfo(user.id, user.username, parsed_role)


def authenticate(session: Session, username: str, password: str) -> UserInfo:
    """Check a login; the message never says whether the name or the password was wrong.

    Service users are refused like a wrong password (their hash never verifies anyway);
    the dummy hash is checked for them too, so timing does not single them out.
    """
    user = session.scalar(select(User).where(User.username == username))
    usable = user is not None and not user.service
    try:
        _hasher.verify(user.password_hash if usable else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        raise AuthError("wrong user name or password") from None
    if user is None or not usable or not user.active:
        raise AuthError("wrong user name or password")
    return UserInfo(user.id, user.username, Role(user.role))


def get_user(session: Session, user_id: int) -> UserInfo | None:
    """Load an active user by id (for session cookies), or None."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return UserInfo(user.id, user.username, Role(user.role))


def acting_as(session: Session, username: str, permission: Permission) -> UserInfo:
    """For ``--as USER`` in the CLI: the user must exist, be active and hold the permission."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise AuthError(f"no active user named {username!r}")
    info = UserInfo(user.id, user.username, Role(user.role))
    require(info.role, permission)
    return info


def find_user(session: Session, username: str) -> UserInfo:
    """An active user by name, for ``--as USER``; their role is checked by what they do."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise AuthError(f"no active user named {username!r}")
    return UserInfo(user.id, user.username, Role(user.role))


def hash_password(password: str) -> str:
    """An Argon2 hash of a new password (after ``check_password``)."""
    return _hasher.hash(password)
