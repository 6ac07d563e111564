"""``certpush audit``: the audit trail's hash chain."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import AsUser, actor_for, fail, require_schema

app = typer.Typer(help="The audit trail: check its hash chain.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            metavar="SEQ:HASH",
            help="A head recorded elsewhere (a weekly report's Evidence); it must still be "
            "in the chain. Repeatable.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The result as JSON.")] = False,
    as_user: AsUser = None,
) -> None:
    """Walk the audit chain and name the first event edited, deleted or moved.

    Exit code 0 when the chain holds (the event count and head are printed), 1 when not.
    """
    from data.audit_chain import verify_chain
    from data.db import session_scope
    from data.domain.audit_chain import parse_head
    from data.domain.roles import Permission

    settings = Settings.from_env()
    try:
        heads = [parse_head(text) for text in expect or []]
    except ValueError as exc:
        raise fail(f"--expect: {exc}") from None
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor_for(session, as_user, Permission.VIEW_AUDIT)
            report = verify_chain(session, heads)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    elif report.problem is None:
        typer.echo(f"audit chain intact: {report.events} events, head {report.head}")
    else:
        typer.echo(f"audit chain BROKEN: {report.problem.message}")
        typer.echo(f"the {report.events} events before it hold (up to head {report.head})")
    if report.problem is not None:
        raise typer.Exit(1)
