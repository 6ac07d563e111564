"""``certpush push``: requesting a push (a work order), or an emergency change."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import actor_named, fail, require_schema, utc_now

app = typer.Typer(help="Pushing certificates to devices.", no_args_is_help=True)


@app.command("emergency")
def push_emergency(
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    connector: Annotated[str, typer.Option(help="Bound connector name.")],
    reason: Annotated[str, typer.Option(help="Why this cannot wait for the approvals.")],
    as_user: Annotated[str, typer.Option("--as", help="An admin user (role is checked).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Push now, outside the approvals, as a recorded emergency change (admins only, and only
    where CERTPUSH_EMERGENCY_PUSH=on). The push executes a pinned plan like any other."""
    import os
    import socket

    from sqlalchemy import select

    from data.crypto import load_vault
    from data.db import session_scope
    from data.models import PushAttempt
    from data.workorders import get_work_order, start_emergency
    from jobs.workorders import run_work_order

    settings = Settings.from_env()
    require_schema(settings)
    owner = f"cli:{socket.gethostname()}:{os.getpid()}"
    try:
        vault = load_vault(settings)
        with session_scope(settings.database_url) as session:
            actor = actor_named(session, as_user)
            view, plan = start_emergency(
                session, cert, connector, actor=actor, reason=reason, owner=owner,
                now=utc_now(), allowed=settings.emergency_push,
            )  # fmt: skip
            digest = plan.digest
    except CertpushError as exc:
        raise fail(str(exc)) from None
    # The same run as the scheduler's: install, verify, roll back when verification fails.
    ok = run_work_order(settings.database_url, vault, view.id, owner, settings=settings)
    with session_scope(settings.database_url) as session:
        final = get_work_order(session, view.id)
        install = session.scalar(
            select(PushAttempt.outcome)
            .where(PushAttempt.work_order_id == view.id, PushAttempt.kind == "install")
            .order_by(PushAttempt.id.desc())
        )
    outcome = install or "failed"
    if as_json:
        payload = {"work_order": view.label, "request_id": view.request_label,
                   "plan_digest": digest, "emergency": True, "outcome": outcome,
                   "status": final.status.value, "reason": final.reason}  # fmt: skip
        typer.echo(json.dumps(payload, indent=1))
    else:
        typer.echo(f"{view.label} (emergency change) {outcome}, {final.status.value}: "
                   f"{final.reason}")  # fmt: skip
    raise typer.Exit(0 if ok else 1)


@app.command("request")
def push_request(
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    as_user: Annotated[str, typer.Option("--as", help="The requesting user (an operator).")],
    comment: Annotated[str, typer.Option(help="Why this push is needed.")] = "",
    connector: Annotated[
        list[str] | None, typer.Option(help="Only these bound connectors (repeatable).")
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option(
            help="With two connectors or more: this one goes first (default: the first "
            "connector marked canary, else the first one)."
        ),
    ] = None,
    wave_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With two connectors or more: at most N connectors per wave after the "
            "canary (default: 25% of the rest, at least 1).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Request Push to Device: one request, one work order per bound connector. With two or
    more it is a rollout: the canary first, then waves, each verified before the next."""
    from data.db import session_scope
    from data.workorders import request_push

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor = actor_named(session, as_user)
            request, orders = request_push(
                session, cert, actor=actor, now=utc_now(), comment=comment,
                connectors=connector or [], canary=canary, wave_size=wave_size,
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
