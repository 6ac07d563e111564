"""Who calls the API: a bearer token, or the browser session of the UI's own calls.

Every route starts with ``caller(permission, write=...)``: it authenticates (401 when it
cannot), checks the role (the user's current role: a token never holds more), the
token's scope (a ``read`` token never writes) and, for writes, the token's rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request
from flask_login import current_user

from dashboard.api.problems import FORBIDDEN, RATE_LIMITED, Problem
from dashboard.auth import now, settings
from data.api_tokens import authenticate_token, count_write
from data.db import session_scope
from data.domain.api_tokens import RateLimit, Scope
from data.domain.errors import AuthError
from data.domain.roles import Permission, require
from data.domain.workflow import Actor
from data.users import UserInfo


@dataclass(frozen=True)
class Caller:
    user: UserInfo
    scope: Scope
    token_id: int | None  # None: the browser session

    @property
    def actor(self) -> Actor:
        return Actor(self.user.username, self.user.role.value)

    @property
    def username(self) -> str:
        return self.user.username


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer …``, or None when the header is absent."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError("send the API token as 'Authorization: Bearer <token>'")
    return value.strip()


def _authenticate() -> Caller:
    token = bearer_token()
    if token is not None:
        with session_scope(settings().database_url) as db:
            found = authenticate_token(db, token, now=now())
        return Caller(found.user, found.scope, found.token_id)
    if current_user.is_authenticated:  # the session guard has checked it (dashboard/auth.py)
        return Caller(current_user.info, Scope.WRITE, None)
    raise AuthError("authentication required: send 'Authorization: Bearer <token>'")


def caller(permission: Permission | None = None, *, write: bool = False) -> Caller:
    """The authenticated caller, allowed ``permission`` (and to write, when ``write``)."""
    who: Caller | None = g.get("certpush_caller")
    if who is None:
        who = g.certpush_caller = _authenticate()
    if permission is not None:
        require(who.user.role, permission)
    if write:
        if who.scope is not Scope.WRITE:
            raise Problem(FORBIDDEN, "this API token has the read scope: it cannot change anything")
        if who.token_id is not None and not g.get("certpush_counted"):
            limit = RateLimit.parse(settings().api_write_rate)
            with session_scope(settings().database_url) as db:
                decision = count_write(db, who.token_id, limit, now())
            if not decision.allowed:
                raise Problem(
                    RATE_LIMITED,
                    f"this token made {limit.calls} write calls in the current window: "
                    f"try again in {decision.retry_after} s",
                    headers={"Retry-After": str(decision.retry_after)},
                )
            g.certpush_counted = True
    return who
