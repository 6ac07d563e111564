"""``certpush users``: users and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import fail, require_schema, shell_actor, utc_now

app = typer.Typer(help="Users and roles.", no_args_is_help=True)


@app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="operator, reviewer, implementer, manager or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user with a role. The password is read from stdin or prompted, never an argument."""
    from data.db import session_scope
    from data.users import add_user

    settings = Settings.from_env()
    require_schema(settings)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(settings.database_url) as session:
            user = add_user(session, name, role, password, utc_now(), actor=shell_actor())
    except (CertpushError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"added user {user.username} with role {user.role.value}")
