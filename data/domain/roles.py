"""Roles and what each may do. One table, read by callbacks, the CLI and the API."""

from __future__ import annotations

import enum

from data.domain.errors import PermissionDenied


class Role(enum.StrEnum):
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    IMPLEMENTER = "implementer"
    MANAGER = "manager"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    VIEW_INVENTORY = "view_inventory"
    IMPORT_CERTIFICATES = "import_certificates"
    MANAGE_CONNECTORS = "manage_connectors"
    REQUEST_PUSH = "request_push"
    APPROVE_PUSH = "approve_push"
    IMPLEMENT_PUSH = "implement_push"
    VIEW_REPORTS = "view_reports"
    PRODUCE_REPORTS = "produce_reports"  # run the weekly report now (it is shared by all)
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"
    PUSH_WITHOUT_APPROVAL = "push_without_approval"  # admin only: `push emergency`
    OVERRIDE_WINDOW = "override_window"  # admin only: push outside a maintenance window


_EVERYONE = {Permission.VIEW_INVENTORY, Permission.VIEW_REPORTS}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        _EVERYONE
        | {Permission.IMPORT_CERTIFICATES, Permission.MANAGE_CONNECTORS, Permission.REQUEST_PUSH}
    ),
    Role.REVIEWER: frozenset(_EVERYONE | {Permission.APPROVE_PUSH}),
    Role.IMPLEMENTER: frozenset(_EVERYONE | {Permission.IMPLEMENT_PUSH}),
    Role.MANAGER: frozenset(_EVERYONE | {Permission.VIEW_AUDIT, Permission.PRODUCE_REPORTS}),
    Role.ADMIN: frozenset(Permission),
}


def parse_role(text: str) -> Role:
    """Read a role name, with a message listing the valid ones."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {text!r}: use one of {names}") from None


def can(role: Role | str, permission: Permission) -> bool:
    """True when ``role`` holds ``permission``."""
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False


def require(role: Role | str | None, permission: Permission) -> None:
    """Raise PermissionDenied unless ``role`` holds ``permission``."""
    if role is None or not can(role, permission):
        who = f"role '{role}'" if role else "an anonymous user"
        raise PermissionDenied(f"{who} may not {permission.value.replace('_', ' ')}")
