"""``certpush rollouts``: a request's canary and waves; resume or abort a halted one."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import actor_named, fail, require_schema, utc_now

app = typer.Typer(
    help="Rollouts: a request's canary and waves; resume or abort a halted one.",
    no_args_is_help=True,
)

Request = Annotated[str, typer.Argument(help="REQ-000012, req-12 or 12.")]


@app.command("show")
def rollouts_show(
    request: Request,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The rollout's state, its current wave (k of n) and each connector's work order."""
    from data.db import session_scope
    from data.rollouts import rollout_view

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            view = rollout_view(session, request)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(view.to_json(), indent=1))
        return
    typer.echo(f"{view.title}  [{view.state.value}]  waves of at most {view.wave_size}")
    if view.reason:
        typer.echo(f"reason: {view.reason}")
    for wave in view.waves:
        typer.echo(f"{wave.name} ({wave.state.value})")
        for m in wave.work_orders:
            why = f"  {m.reason}" if m.reason else ""
            typer.echo(f"  {m.label}  {m.status.value:24} {m.connector}{why}")


def _decide(action: str, request: str, comment: str, as_user: str) -> None:
    from data.db import session_scope
    from data.rollouts import abort, resume

    settings = Settings.from_env()
    require_schema(settings)
    decide = resume if action == "resume" else abort
    try:
        with session_scope(settings.database_url) as session:
            result = decide(
                session, request, actor=actor_named(session, as_user), comment=comment,
                now=utc_now(),
            )  # fmt: skip
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if not result.ok:
        raise fail(result.message)
    typer.echo(result.message)


Comment = Annotated[str, typer.Option(help="Why (required).")]
ActingUser = Annotated[
    str, typer.Option("--as", help="An implementer or admin (asks their password).")
]


@app.command("resume")
def rollouts_resume(request: Request, comment: Comment, as_user: ActingUser) -> None:
    """Resume a halted rollout: the failures so far are accepted, its Halted work orders go
    on (not by the requester: four eyes)."""
    _decide("resume", request, comment, as_user)


@app.command("abort")
def rollouts_abort(request: Request, comment: Comment, as_user: ActingUser) -> None:
    """Abort a rollout: its Halted and still-open work orders are cancelled."""
    _decide("abort", request, comment, as_user)
