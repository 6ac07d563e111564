"""``certpush users``: users and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, actor_and_role, fail, require_schema, shell_actor, utc_now

app = typer.Typer(help="Users and roles.", no_args_is_help=True)


@app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="operator, reviewer, implementer, manager or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    service: Annotated[
        bool,
        typer.Option(
            "--service",
            help="A service user: no password, never logs in; acts through API tokens only.",
        ),
    ] = False,
    email: Annotated[
        str | None,
        typer.Option("--email", help="Where their notifications go (name@example.org)."),
    ] = None,
) -> None:
    """Add a user with a role. The password is read from stdin or prompted, never an argument."""
    from data.db import session_scope
    from data.notifications import set_email
    from data.users import add_user

    settings = Settings.from_env()
    require_schema(settings)
    if service and password_stdin:
        raise fail("a service user has no password: leave out --password-stdin")
    if service:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(settings.database_url) as session:
            user = add_user(
                session, name, role, password, utc_now(), actor=shell_actor(), service=service
            )
            if email:
                set_email(session, user.username, email, actor=shell_actor(), now=utc_now())
    except (CertpushError, ValueError) as exc:
        raise fail(str(exc)) from None
    kind = "service user" if service else "user"
    reached = f", e-mail {email.strip()}" if email else ""
    typer.echo(f"added {kind} {user.username} with role {user.role.value}{reached}")
    if service:
        typer.echo(f"it acts through API tokens: certpush tokens create --user {user.username}")


def _change(as_user: str | None, change) -> None:
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            said = change(session, actor, role)
    except (CertpushError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(said)


@app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user with role, whether enabled and whether a service user (never a hash)."""
    from data.db import session_scope
    from data.user_admin import list_users

    settings = Settings.from_env()
    require_schema(settings)
    with session_scope(settings.database_url) as session:
        rows = list_users(session)
    if as_json:
        import json

        typer.echo(json.dumps([r.to_json() for r in rows], indent=1))
        return
    for r in rows:
        line = f"{r.username:24} {r.role:12} {'enabled' if r.active else 'DISABLED'}"
        typer.echo(f"{line:46} service user" if r.service else line)


@app.command("disable")
def users_disable(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """Disable a user: they cannot log in or act, and their web sessions end at once."""
    from data.user_admin import set_enabled

    _change(as_user, lambda s, a, r: set_enabled(s, name, False, actor=a, role=r, now=utc_now()))


@app.command("enable")
def users_enable(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """Enable a disabled user again."""
    from data.user_admin import set_enabled

    _change(as_user, lambda s, a, r: set_enabled(s, name, True, actor=a, role=r, now=utc_now()))


@app.command("set-role")
def users_set_role(
    name: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help="operator, reviewer, implementer, manager or admin.")],
    as_user: AsUser = None,
) -> None:
    """Change a user's role; their web sessions end (they log in again with the new role)."""
    from data.user_admin import set_role

    _change(as_user, lambda s, a, r: set_role(s, name, role, actor=a, role=r, now=utc_now()))


@app.command("reset-password")
def users_reset_password(
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin.")
    ] = False,
    as_user: AsUser = None,
) -> None:
    """Set a new password (with --as, the admin's own password is the first stdin line)."""
    from data.user_admin import reset_password

    def change(session, actor, role):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
        return reset_password(session, name, password, actor=actor, role=role, now=utc_now())

    _change(as_user, change)


@app.command("sign-out")
def users_sign_out(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """End every web session of a user at once (sign out everywhere)."""
    from data.user_admin import sign_out

    _change(as_user, lambda s, a, r: sign_out(s, name, actor=a, role=r, now=utc_now()))


@app.command("set-email")
def users_set_email(
    name: Annotated[str, typer.Argument()],
    address: Annotated[str, typer.Argument(help="name@example.org, or '' to remove it.")],
    as_user: AsUser = None,
) -> None:
    """Set where a user's notifications go (their own with --as; anyone's for an admin)."""
    from data.notifications import change_email

    def change(session, actor, role):
        found = change_email(session, name, address, actor=actor, role=role, now=utc_now())
        return f"{name}: e-mail {found}" if found else f"{name}: no e-mail address any more"

    _change(as_user, change)
