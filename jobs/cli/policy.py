"""``certpush policy``: the approval policy (levels and their roles)."""

from __future__ import annotations

from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import actor_named, fail, require_schema, utc_now

app = typer.Typer(help="The approval policy (levels and their roles).", no_args_is_help=True)


@app.command("show")
def policy_show() -> None:
    """Print the approval levels in order (the last one implements)."""
    from data.db import session_scope
    from data.workorders import load_policy

    settings = Settings.from_env()
    require_schema(settings)
    with session_scope(settings.database_url) as session:
        policy = load_policy(session)
    for position, level in enumerate(policy.levels, start=1):
        typer.echo(f"{position}. {level.name}: {level.role}")


@app.command("set")
def policy_set(
    levels: Annotated[list[str], typer.Argument(help="NAME:ROLE in order, e.g. Approve:reviewer")],
    as_user: Annotated[str, typer.Option("--as", help="An admin.")],
) -> None:
    """Replace the approval policy (admins only). The last level implements."""
    from data.db import session_scope
    from data.domain.roles import parse_role
    from data.workorders import set_policy

    settings = Settings.from_env()
    require_schema(settings)
    try:
        parsed = []
        for level in levels:
            name, _, role = level.partition(":")
            parsed.append((name.strip(), parse_role(role).value))
        with session_scope(settings.database_url) as session:
            set_policy(session, parsed, actor=actor_named(session, as_user), now=utc_now())
    except (CertpushError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo("approval policy updated: " + " -> ".join(f"{n} ({r})" for n, r in parsed))
