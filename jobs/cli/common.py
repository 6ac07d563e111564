"""What every command shares: the clock, who acts, how a failure is reported, the schema check.

Imported by every noun module, so by ``certpush --help`` too: nothing here may import
SQLAlchemy or anything heavier at module level.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from data.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from data.domain.roles import Permission
    from data.domain.workflow import Actor

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Act as this certpush user (their role is checked)."),
]


def utc_now() -> datetime:
    """The current time, in UTC: the one clock every command passes to the services."""
    return datetime.now(UTC)


def shell_actor() -> str:
    """The audit name of the local shell user (``cli:alice``), or ``cli`` if it is unknown."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` to stderr; return the exit to raise (``raise fail(...)``)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def require_schema(settings: Settings) -> None:
    """Refuse to work on a database that has not been migrated, with the fix in the message."""
    from sqlalchemy import inspect

    from data.db import engine_for

    if not inspect(engine_for(settings.database_url)).has_table("certificates"):
        raise fail("the database has no certpush schema yet: run 'certpush db upgrade' first")


def actor_for(session: Session, username: str | None, permission: Permission) -> str:
    """``--as USER`` must hold the permission; without it the local shell user acts (an admin)."""
    from data.users import acting_as

    if username is None:
        return shell_actor()
    return acting_as(session, username, permission).username


def actor_named(session: Session, username: str) -> Actor:
    """The workflow actor for an existing certpush user (their role decides what they may do)."""
    from data.domain.workflow import Actor
    from data.users import find_user

    user = find_user(session, username)
    return Actor(user.username, user.role.value)


def config_error(exc: Exception) -> typer.Exit:
    """Print a connector configuration error one setting a line (else as one line)."""
    from data.domain.connector_specs import ConnectorConfigError

    if isinstance(exc, ConnectorConfigError):
        for name, message in exc.errors.items():
            typer.echo(f"error: {name}: {message}", err=True)
        return typer.Exit(1)
    return fail(str(exc))
