"""``certpush push``: pushing certificates to devices (now, or by requesting a work order)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import actor_named, fail, require_schema, utc_now

app = typer.Typer(help="Pushing certificates to devices.", no_args_is_help=True)


@app.command("run")
def push_run(
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    connector: Annotated[str, typer.Option(help="Bound connector name.")],
    as_user: Annotated[str, typer.Option("--as", help="An admin user (role is checked).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Push now, without approval: for admins until the approval workflow lands."""
    from data.crypto import load_vault
    from data.db import session_scope
    from data.domain.roles import Permission
    from data.users import acting_as
    from jobs.push import push_certificate

    settings = Settings.from_env()
    require_schema(settings)
    try:
        vault, _ = load_vault(settings)
        with session_scope(settings.database_url) as session:
            actor = acting_as(session, as_user, Permission.PUSH_WITHOUT_APPROVAL).username
        report = push_certificate(settings.database_url, vault, cert, connector, actor=actor)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    else:
        typer.echo(f"{report.outcome.value}: {report.reason} ({report.duration_ms} ms)")
    raise typer.Exit(0 if report.outcome.value != "failed" else 1)


@app.command("request")
def push_request(
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    as_user: Annotated[str, typer.Option("--as", help="The requesting user (an operator).")],
    comment: Annotated[str, typer.Option(help="Why this push is needed.")] = "",
    connector: Annotated[
        list[str] | None, typer.Option(help="Only these bound connectors (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Request Push to Device: one request, one work order per bound connector."""
    from data.db import session_scope
    from data.workorders import request_push

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor = actor_named(session, as_user)
            request, orders = request_push(
                session, cert, actor=actor, now=utc_now(), comment=comment,
                connectors=connector or [],
            )  # fmt: skip
            payload = [o.to_json() for o in orders]
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"request_id": request, "work_orders": payload}, indent=1))
        return
    typer.echo(f"{request} created")
    for order in payload:
        typer.echo(f"  {order['id']}  {order['connector']}  {order['status']}")
