"""Logging in: throttling failed attempts, checking the password, starting a session.

A login is two short transactions, each opened by the caller:

1. ``begin_login`` locks the two failure counters (account name, client address),
   refuses the attempt while either says wait (data/domain/throttle.py), and otherwise
   counts it as a failure in advance, so that guesses sent in parallel cannot all pass
   the check before the first failure is written.
2. ``finish_login`` checks the password (Argon2, outside any lock). A success resets the
   account's counter, takes the advance back from the address's and starts a session;
   a failure lets the advance stand.

Every attempt, refused or checked, and every lock is written to the audit trail with
the client address; the password never is, and messages are the same whether or not
the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data import audit
from data.domain.errors import AuthError
from data.domain.throttle import (
    Scope,
    ThrottlePolicy,
    account_key,
    address_key,
    live_failures,
    locks,
    refused_until,
    remembered_since,
    wait_message,
)
from data.models import LoginThrottle
from data.sessions import start_session
from data.users import UserInfo, authenticate


@dataclass(frozen=True)
class LoginAttempt:
    """An attempt ``begin_login`` let through (``refused`` is None) or refused."""

    username: str
    address: str
    refused: str | None = None  # what the person reads when refused
    retry_at: datetime | None = None
    account_failures: int = 0  # counting this attempt, should it fail
    address_failures: int = 0


@dataclass(frozen=True)
class LoginResult:
    """A started session (``user`` and ``token``) or the message of a failure."""

    user: UserInfo | None = None
    token: str | None = None
    message: str | None = None


def _keys(username: str, address: str) -> list[tuple[Scope, str]]:
    return [(Scope.ACCOUNT, account_key(username)), (Scope.ADDRESS, address_key(address))]


def _match(keys: list[tuple[Scope, str]]):
    return or_(
        *(and_(LoginThrottle.scope == scope.value, LoginThrottle.key == key) for scope, key in keys)
    )


def _locked_counters(session: Session, keys: list[tuple[Scope, str]]) -> dict[Scope, LoginThrottle]:
    """The counters of ``keys``, created when missing and locked until the caller commits.

    A no-op UPDATE comes first: on SQLite it takes the database's write lock (reads
    before it would run outside the transaction). After the missing rows are made it runs
    again, always: on PostgreSQL it takes the rows' locks, including rows another worker
    made and committed between the first UPDATE and the look for missing ones.
    """
    match = _match(keys)
    touch = (
        update(LoginThrottle)
        .where(match)
        .values(failures=LoginThrottle.failures)
        .execution_options(synchronize_session=False)
    )
    session.execute(touch)
    present = set(session.execute(select(LoginThrottle.scope, LoginThrottle.key).where(match)))
    missing = [(scope, key) for scope, key in keys if (scope.value, key) not in present]
    for scope, key in missing:
        try:
            with session.begin_nested():
                session.add(
                    LoginThrottle(scope=scope.value, key=key, failures=0, last_failure_at=None)
                )
        except IntegrityError:
            pass  # another worker made it first (PostgreSQL); the touch below waits for it
    session.execute(touch)
    rows = session.scalars(
        select(LoginThrottle).where(match).execution_options(populate_existing=True)
    )
    found = {Scope(row.scope): row for row in rows}
    return {scope: found[scope] for scope, _key in keys}  # account first, then address


def _actor(username: str) -> str:
    return username[:64] or "(no name)"


def begin_login(
    session: Session, *, username: str, address: str, now: datetime, policy: ThrottlePolicy
) -> LoginAttempt:
    """Refuse the attempt while a counter says wait; else count it as a failure in advance."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < remembered_since(Scope.ACCOUNT, now, policy)
        )
    )
    counters = _locked_counters(session, _keys(username, address))
    live = {
        scope: live_failures(scope, row.failures, row.last_failure_at, now, policy)
        for scope, row in counters.items()
    }
    waits = {
        scope: until
        for scope, row in counters.items()
        if (until := refused_until(live[scope], row.last_failure_at, policy)) and until > now
    }
    if waits:
        until = max(waits.values())
        message = wait_message(until, now)
        audit.record(
            session,
            actor=_actor(username),
            action="login.failed",
            now=now,
            target=username,
            detail=f"from {address}: refused unchecked, {' and '.join(waits)} throttled"
            f" until {until:%Y-%m-%d %H:%M:%S} UTC ({message})",
        )
        return LoginAttempt(username, address, refused=message, retry_at=until)
    for scope, row in counters.items():
        row.failures = live[scope] + 1
        row.last_failure_at = now
    return LoginAttempt(
        username,
        address,
        account_failures=live[Scope.ACCOUNT] + 1,
        address_failures=live[Scope.ADDRESS] + 1,
    )


def finish_login(
    session: Session,
    attempt: LoginAttempt,
    password: str,
    *,
    user_agent: str,
    now: datetime,
    policy: ThrottlePolicy,
) -> LoginResult:
    """Check the password of an attempt ``begin_login`` let through; start a session on success."""
    if attempt.refused is not None:
        raise ValueError("a refused attempt cannot be finished")
    username, address = attempt.username, attempt.address
    try:
        user = authenticate(session, username, password)
    except AuthError as exc:
        return _failed(session, attempt, str(exc), now=now, policy=policy)
    account, addr = _keys(username, address)
    session.execute(
        update(LoginThrottle)
        .where(_match([account]))
        .values(failures=0)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(LoginThrottle)
        .where(_match([addr]), LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1)
        .execution_options(synchronize_session=False)
    )
    token = start_session(session, user, address=address, user_agent=user_agent, now=now)
    audit.record(
        session,
        actor=user.username,
        action="login.ok",
        now=now,
        target=user.username,
        detail=f"from {address}",
        user_id=user.id,
    )
    return LoginResult(user=user, token=token)


def _failed(
    session: Session, attempt: LoginAttempt, reason: str, *, now: datetime, policy: ThrottlePolicy
) -> LoginResult:
    username, address = attempt.username, attempt.address
    audit.record(
        session,
        actor=_actor(username),
        action="login.failed",
        now=now,
        target=username,
        detail=f"from {address}: {reason}",
    )
    counts = {Scope.ACCOUNT: attempt.account_failures, Scope.ADDRESS: attempt.address_failures}
    for scope, failures in counts.items():
        if locks(failures, policy):
            audit.record(
                session,
                actor=_actor(username),
                action="login.locked",
                now=now,
                target=username if scope is Scope.ACCOUNT else address,
                detail=f"from {address}: {scope.value} locked for {policy.lock_minutes} minutes"
                f" after {failures} failed attempts",
            )
    waits = [until for f in counts.values() if (until := refused_until(f, now, policy))]
    if waits:
        reason = f"{reason}; {wait_message(max(waits), now)}"
    return LoginResult(message=reason)
