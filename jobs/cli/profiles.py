"""``certpush profiles``: the device profiles connectors may use (defined by an admin)."""

from __future__ import annotations

import json
import shlex
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import actor_named, fail, require_schema, utc_now

app = typer.Typer(
    help="Device profiles: file layout, test and reload commands, allowed folders.",
    no_args_is_help=True,
)


@app.command("list")
def profiles_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The profiles in force: built-ins, the administrator's file, migrated ones."""
    from data.db import session_scope
    from data.profiles import load_book

    settings = Settings.from_env()
    require_schema(settings)
    with session_scope(settings.database_url) as session:
        book = load_book(settings, session)
    if book.error is not None:
        typer.echo(f"warning: {book.error}; the last good profiles stay in force", err=True)
    profiles = [book.profiles[name] for name in book.names()]
    if as_json:
        typer.echo(json.dumps([p.to_json() for p in profiles], indent=1))
        return
    for p in profiles:
        review = "  NEEDS AN ADMIN'S REVIEW" if p.needs_review else ""
        typer.echo(f"{p.name:20} {p.layout.value:10} {p.source}{review}")
        typer.echo(f"    test:    {shlex.join(p.test) if p.test else '-'}")
        typer.echo(f"    reload:  {shlex.join(p.reload) if p.reload else '-'}")
        typer.echo(f"    folders: {', '.join(p.folders)}")


@app.command("check")
def profiles_check() -> None:
    """Validate the profiles file (CERTPUSH_PROFILES_FILE, else <instance>/profiles.toml)."""
    from data.domain.profiles import ProfilesError
    from data.profiles import check_file

    settings = Settings.from_env()
    path = settings.profiles_path
    if not path.exists():
        typer.echo(f"{path} does not exist: the built-in profiles apply")
        return
    try:
        found = check_file(path)
    except ProfilesError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {path}: {problem}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{path}: {len(found)} profile(s) valid: {', '.join(sorted(found)) or 'none'}")


@app.command("review")
def profiles_review(
    name: Annotated[str, typer.Argument(help="A migrated profile's name.")],
    as_user: Annotated[str, typer.Option("--as", help="An admin user.")],
) -> None:
    """Mark a profile migrated from free commands as reviewed by an admin."""
    from data.db import session_scope
    from data.profiles import review_profile

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor = actor_named(session, as_user)
            review_profile(session, name, actor=actor.username, role=actor.role, now=utc_now())
    except CertpushError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{name} reviewed by {actor.username}")
