"""``/api/v1/users``: users and roles, as on the Users page (admins only).

A service user (``service: true``) has no password and acts through API tokens only.
Passwords given here are checked like any new password and never returned.
"""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.problems import NOT_FOUND, VALIDATION, Problem
from dashboard.api.schemas import Strict, StrictBoolean
from dashboard.auth import now, settings
from data.db import session_scope
from data.domain.roles import Permission, Role
from data.user_admin import list_users, set_enabled, set_role, sign_out
from data.users import add_user

PREFIX = "/users"
blp = Blueprint("users", __name__, description="Users and roles (admins)")
F = ma.fields
ROLES = [r.value for r in Role]


class UserIn(Strict):
    username = F.String(required=True, validate=validate.Length(2, 64))
    role = F.String(required=True, validate=validate.OneOf(ROLES))
    password = F.String(load_default=None, allow_none=True, load_only=True,
                        validate=validate.Length(1, 1024))  # fmt: skip
    service = StrictBoolean(load_default=False,
                            metadata={"description": "No password: API tokens only"})  # fmt: skip


class UserChange(Strict):
    role = F.String(validate=validate.OneOf(ROLES))
    enabled = StrictBoolean()


class UserOut(ma.Schema):
    username = F.String(required=True)
    role = F.String(required=True)
    enabled = F.Boolean(required=True)
    service = F.Boolean(required=True)
    created_at = F.String(required=True)


class SaidOut(ma.Schema):
    message = F.String(required=True)


def _one(db, username: str) -> dict:
    for row in list_users(db):
        if row.username == username:
            return row.to_json()
    raise Problem(NOT_FOUND, f"no user named {username!r}")


@blp.route("", methods=["GET"])
@blp.response(200, UserOut(many=True))
def list_all():
    """Every user with role, state and kind (never a password hash)."""
    caller(Permission.MANAGE_USERS)
    with session_scope(settings().database_url) as db:
        return [u.to_json() for u in list_users(db)]


@blp.route("", methods=["POST"])
@blp.arguments(UserIn)
@blp.response(201, UserOut)
def create(body: dict):
    """Add a user with a password, or a service user (no password)."""
    who = caller(Permission.MANAGE_USERS, write=True)
    if not body["service"] and not body["password"]:
        raise Problem(VALIDATION, "a user who logs in needs a password (or make a service user)",
                      errors=[{"location": "json", "field": "password",
                               "message": "required unless service is true"}])  # fmt: skip
    with session_scope(settings().database_url) as db:
        user = add_user(db, body["username"], body["role"], body["password"], now(),
                        actor=who.username, service=body["service"])  # fmt: skip
        return _one(db, user.username)


@blp.route("/<username>", methods=["PATCH"])
@blp.arguments(UserChange)
@blp.response(200, UserOut)
def change(body: dict, username: str):
    """Change a user's role or enable/disable them (their sessions end; disabled users'
    tokens stop working at once). The last enabled admin cannot be demoted or disabled."""
    who = caller(Permission.MANAGE_USERS, write=True)
    if not body:
        raise Problem(VALIDATION, "nothing to change: give role or enabled")
    role = who.user.role.value
    with session_scope(settings().database_url) as db:
        if "role" in body:
            set_role(db, username, body["role"], actor=who.username, role=role, now=now())
        if "enabled" in body:
            set_enabled(db, username, body["enabled"], actor=who.username, role=role, now=now())
        return _one(db, username)


@blp.route("/<username>/sign-out", methods=["POST"])
@blp.response(200, SaidOut)
def sign_out_user(username: str):
    """End every web session of a user (their API tokens are revoked separately)."""
    who = caller(Permission.MANAGE_USERS, write=True)
    with session_scope(settings().database_url) as db:
        said = sign_out(db, username, actor=who.username, role=who.user.role.value, now=now())
    return {"message": said}
