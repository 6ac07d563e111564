"""``certpush tokens``: personal API tokens for the REST API; made, listed and revoked.

The secret is printed once, by ``create``, and never again: the database keeps only its
SHA-256 (data/api_tokens.py), and lists name a token by its public id ``cpt_<8 hex>``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, actor_and_role, fail, require_schema, utc_now

if TYPE_CHECKING:
    from data.api_tokens import TokenInfo

app = typer.Typer(help="Personal API tokens for the REST API.", no_args_is_help=True)

SHOWN_ONCE = "This token is shown once and will not be shown again: store it now."


def _when(value: datetime | None, empty: str = "-") -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else empty


_COLUMNS = "{:>5}  {:12}  {:7}  {:5}  {:16}  {:16}  {:16}  {:16}  {}"
HEADER = _COLUMNS.format(
    "ID", "PREFIX", "STATE", "SCOPE", "USER", "CREATED (UTC)", "EXPIRES", "LAST USED", "NAME"
)


def _line(token: TokenInfo, now: datetime) -> str:
    """One token per line: what tells tokens apart and whether they still work."""
    return _COLUMNS.format(
        token.id, token.prefix, token.state(now), token.scope.value, token.username,
        _when(token.created_at), _when(token.expires_at, "never"), _when(token.last_used_at),
        token.name,
    )  # fmt: skip


@app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option("--name", help="What the token is for (1-64 chars).")],
    user: Annotated[
        str | None,
        typer.Option("--user", help="Whose token: acts with this user's role (default: --as)."),
    ] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: 90d, 12h, 4w (at most 730d) or never.")
    ] = "90d",
    scope: Annotated[
        str, typer.Option("--scope", help="read (never changes anything) or write.")
    ] = "read",
    as_user: AsUser = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Make a token and print it once. With --as, users make tokens for themselves only
    (admins for anyone); without, the local shell user acts with an admin's rights."""
    from data.api_tokens import create_token
    from data.db import session_scope
    from data.domain.api_tokens import parse_lifetime

    owner = user or as_user
    if not owner:
        raise fail("say whose token it is: --user NAME (or --as NAME for your own)")
    settings = Settings.from_env()
    require_schema(settings)
    now = utc_now()
    try:
        lifetime = parse_lifetime(expires)
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            info, secret = create_token(
                session, owner, name, scope=scope, lifetime=lifetime, actor=actor,
                actor_role=role, now=now,
            )  # fmt: skip
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"token": secret, **info.to_json(now)}, indent=1))
        return
    typer.echo(secret)
    until = f"expires {_when(info.expires_at)} UTC" if info.expires_at else "never expires"
    # On stderr, so that TOKEN=$(certpush tokens create ...) captures the token alone.
    typer.echo(
        f"{info.prefix} ({info.name!r}) for {info.username}, scope {info.scope.value}, "
        f"{until}. {SHOWN_ONCE}",
        err=True,
    )


@app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Tokens, newest first: id, public prefix, state, scope, user, dates, name (never the
    secret or its digest)."""
    from data.api_tokens import list_tokens
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    now = utc_now()
    with session_scope(settings.database_url) as session:
        tokens = list_tokens(session, user)
    if as_json:
        typer.echo(json.dumps([t.to_json(now) for t in tokens], indent=1))
        return
    if tokens:
        typer.echo(HEADER)
    for token in tokens:
        typer.echo(_line(token, now))


@app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The id `tokens list` shows.")],
    as_user: AsUser = None,
) -> None:
    """Revoke a token at once (its next API call is refused). With --as, users revoke their
    own tokens only (admins anyone's)."""
    from data.api_tokens import revoke_token
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    now = utc_now()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            info = revoke_token(session, token_id, actor=actor, actor_role=role, now=now)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    done = "revoked" if info.revoked_at == now else "was already revoked"
    typer.echo(f"{info.prefix} ({info.name!r}) of {info.username} {done} "
               f"at {_when(info.revoked_at)} UTC")  # fmt: skip
