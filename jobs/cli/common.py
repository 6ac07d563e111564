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
    from data.users import UserInfo

AsUser = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this certpush user: asks their password (or reads it from the first "
        "line of stdin); their role is checked.",
    ),
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


def _password_for(username: str) -> str:
    """The acting user's password: asked on the terminal, or the first line of stdin when
    it is piped (``--as`` then works like ``--password-stdin``). Never an argument: those
    show up in ``ps`` and shell histories."""
    import getpass
    import sys

    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"password of {username}: ")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


def authenticated(session: Session, username: str) -> UserInfo:
    """``--as USER``: the user proves who they are with their password (a disabled user is
    refused). Success is audited with both identities, the certpush user and the operating
    system user running the command; a failure is audited in its own transaction (the
    command's is rolled back)."""
    import sys

    from data import audit
    from data.domain.errors import AuthError
    from data.users import authenticate

    command = " ".join(sys.argv[1:3])[:120]
    try:
        user = authenticate(session, username, _password_for(username))
    except AuthError:
        from data.db import session_scope

        with session_scope(Settings.from_env().database_url) as other:
            audit.record(other, actor=shell_actor(), action="cli.login.failed", now=utc_now(),
                         target=username[:64], detail=f"certpush {command}")  # fmt: skip
        raise AuthError(
            f"--as {username}: wrong user name or password (give the password on the "
            "terminal or as the first line of stdin)"
        ) from None
    audit.record(session, actor=user.username, action="cli.authenticated", now=utc_now(),
                 target=shell_actor(), detail=f"certpush {command}; operating-system user "
                 f"{shell_actor().removeprefix('cli:')}")  # fmt: skip
    return user


def actor_and_role(
    session: Session, username: str | None, permission: Permission | None = None
) -> tuple[str, str]:
    """(name, role) of who acts: ``--as USER`` after their password (holding ``permission``
    when one is given), else the local shell user with an admin's rights."""
    from data.domain.roles import require

    if username is None:
        return shell_actor(), "admin"
    user = authenticated(session, username)
    if permission is not None:
        require(user.role, permission)
    return user.username, user.role.value


def actor_for(session: Session, username: str | None, permission: Permission) -> str:
    """``--as USER`` must prove who they are and hold the permission; without it the local
    shell user acts (``cli:<os user>``, an admin's rights: whoever can run the CLI on the
    server already holds the database and keys)."""
    return actor_and_role(session, username, permission)[0]


def actor_named(session: Session, username: str) -> Actor:
    """The workflow actor for ``--as USER``, after their password (their role decides what
    they may do)."""
    from data.domain.workflow import Actor

    user = authenticated(session, username)
    return Actor(user.username, user.role.value)


def config_error(exc: Exception) -> typer.Exit:
    """Print a connector configuration error one setting a line (else as one line)."""
    from data.domain.connector_specs import ConnectorConfigError

    if isinstance(exc, ConnectorConfigError):
        for name, message in exc.errors.items():
            typer.echo(f"error: {name}: {message}", err=True)
        return typer.Exit(1)
    return fail(str(exc))
