"""``certpush notify``: admins' channels, the outbox, and each user's choices.

The same services as the Notifications page (data/notifications.py). A channel's URL
carries its secret: it is given once (best on stdin, ``-``, so it never sits in a shell
history), sealed, and never printed again, not even by ``--json``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, actor_and_role, fail, require_schema, utc_now

if TYPE_CHECKING:
    from data.notifications import Delivery

app = typer.Typer(help="Notifications: channels, the outbox, users' choices.", no_args_is_help=True)
channels = typer.Typer(help="Admins' channels (Slack, Teams, webhooks... via Apprise).",
                       no_args_is_help=True)  # fmt: skip
prefs = typer.Typer(help="Which events reach a user, and how soon.", invoke_without_command=True)
app.add_typer(channels, name="channels")
app.add_typer(prefs, name="prefs")

# The states the outbox shows by default: what has not gone yet, and what gave up.
WAITING = ("pending", "sending", "digest", "failed")
EVERY_STATE = (*WAITING, "sent", "digested")


def _settings() -> Settings:
    settings = Settings.from_env()
    require_schema(settings)
    return settings


def _read_url(url: str) -> str:
    """``-``: the URL is the next stdin line (after the --as password, when piped)."""
    if url != "-":
        return url
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        return getpass.getpass("channel URL (not echoed): ").strip()
    return (sys.stdin.readline() if sys.stdin is not None else "").strip()


@channels.command("add")
def channels_add(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits, - and _.")],
    url: Annotated[
        str,
        typer.Argument(
            help="Its Apprise URL (json://host/path, slack://…, workflows://…), or - to "
            "read it from stdin so that it never sits in a shell history."
        ),
    ],
    events: Annotated[
        str, typer.Option("--events", help="all, or kinds separated by commas.")
    ] = "all",
    as_user: AsUser = None,
) -> None:
    """Add a channel (admins only). Its URL is sealed and never shown again."""
    from data.crypto import load_vault
    from data.db import session_scope
    from data.notifications import add_channel

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            secret_url = _read_url(url)
            info = add_channel(session, load_vault(settings), name=name, url=secret_url,
                               events=events, actor=actor, role=role, now=utc_now())  # fmt: skip
    except CertpushError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"added channel {info.name} ({info.scheme}) for {', '.join(info.events)}; "
               "its URL is sealed and will not be shown again")  # fmt: skip


@channels.command("list")
def channels_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every channel: name, kind (URL scheme), events, who added it. Never the URL."""
    from data.db import session_scope
    from data.notifications import list_channels

    settings = _settings()
    with session_scope(settings.database_url) as session:
        found = list_channels(session)
    if as_json:
        typer.echo(json.dumps([c.to_json() for c in found], indent=1))
        return
    for c in found:
        typer.echo(f"{c.name:24} {c.scheme:10} {c.created_by:16} {', '.join(c.events)}")


@channels.command("remove")
def channels_remove(name: Annotated[str, typer.Argument()], as_user: AsUser = None) -> None:
    """Remove a channel (admins only); what still waits for it is marked failed."""
    from data.db import session_scope
    from data.notifications import remove_channel

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            remove_channel(session, name, actor=actor, role=role, now=utc_now())
    except CertpushError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"removed channel {name}")


@channels.command("test")
def channels_test(
    name: Annotated[str, typer.Argument()],
    as_user: AsUser = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send a test message now (admins only): prints that it went, or why not (exit 1)."""
    from data.crypto import load_vault
    from data.db import session_scope
    from data.notifications import try_channel
    from jobs.notify.channels import send_channel

    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            result = try_channel(
                session, load_vault(settings), name, actor=actor, role=role, now=utc_now(),
                send=lambda url, title, body: send_channel(url, title=title, body=body),
            )  # fmt: skip
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
    elif result.ok:
        typer.echo(result.message)
    if not result.ok:
        raise fail(result.message)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "-"


_COLUMNS = "{:>6}  {:20}  {:24}  {:10}  {:9}  {:>3}  {:19}  {}"
HEADER = _COLUMNS.format(
    "ID", "EVENT", "RECIPIENT", "WORK ORDER", "STATE", "TRY", "NEXT (UTC)", "LAST ERROR"
)


def _line(d: Delivery) -> str:
    wo = d.to_json()["work_order"] or "-"
    waiting = d.state in ("pending", "sending")
    return _COLUMNS.format(d.id, d.kind, d.recipient, wo, d.state, d.attempts,
                           _when(d.next_attempt_at) if waiting else "-",
                           d.last_error or "")  # fmt: skip


@app.command("outbox")
def outbox_command(
    every: Annotated[
        bool, typer.Option("--all", help="Also the deliveries already sent or digested.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 500,
) -> None:
    """Deliveries waiting (pending, being sent, kept for a digest) and failed ones, with
    their attempts, next try and last error."""
    from data.db import session_scope
    from data.notifications import outbox

    settings = _settings()
    with session_scope(settings.database_url) as session:
        rows = outbox(session, EVERY_STATE if every else WAITING, limit=limit)
    if as_json:
        typer.echo(json.dumps([d.to_json() for d in rows], indent=1))
        return
    if not rows:
        typer.echo("the outbox is empty" if every else "nothing waits and nothing failed")
        return
    typer.echo(HEADER)
    for d in rows:
        typer.echo(_line(d))


@prefs.callback()
def prefs_show(
    context: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Whose choices.")] = None,
    as_user: AsUser = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A user's mode for each event kind (now, digest or off); "(default)" where they made
    no choice. ``prefs set KIND MODE --as USER`` changes one."""
    if context.invoked_subcommand is not None:
        return
    from data.db import session_scope
    from data.domain.notifications import LABELS
    from data.notifications import preferences, user_address

    whose = user or as_user
    if not whose:
        raise fail("say whose choices: --user NAME")
    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            found = preferences(session, whose)
            address = user_address(session, whose)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"user": whose, "email": address, "preferences": [
            {"event": p.kind.value, "mode": p.mode.value, "default": not p.chosen}
            for p in found]}, indent=1))  # fmt: skip
        return
    typer.echo(f"{whose}: {address or 'no e-mail address (nothing reaches them by e-mail)'}")
    for p in found:
        default = "" if p.chosen else "  (default)"
        typer.echo(f"{p.kind.value:22} {p.mode.value:7}{default:11} {LABELS[p.kind]}")


@prefs.command("set")
def prefs_set(
    kind: Annotated[str, typer.Argument(help="An event kind (see 'notify prefs').")],
    mode: Annotated[str, typer.Argument(help="now, digest, off, or default.")],
    user: Annotated[
        str | None, typer.Option("--user", help="Whose (default: --as); others': admins only.")
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Choose how a user hears of one kind of event; ``default`` forgets the choice."""
    from data.db import session_scope
    from data.notifications import change_preference

    whose = user or as_user
    if not whose:
        raise fail("say whose choice: --as NAME (your own) or --user NAME")
    settings = _settings()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user)
            chosen = change_preference(session, whose, kind, mode, actor=actor, role=role,
                                       now=utc_now())  # fmt: skip
    except CertpushError as exc:
        raise fail(str(exc)) from None
    default = "" if chosen.chosen else " (the default)"
    typer.echo(f"{whose}: {chosen.kind.value} -> {chosen.mode.value}{default}")
