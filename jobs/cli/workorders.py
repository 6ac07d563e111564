"""``certpush workorders``: list work orders and act on them (approve, implement, ...)."""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import actor_named, fail, require_schema, utc_now

app = typer.Typer(
    help="Work orders: approve, implement, reject, cancel, reschedule.", no_args_is_help=True
)


@app.command("list")
def workorders_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    status: Annotated[str | None, typer.Option(help="Only this status label.")] = None,
) -> None:
    """List work orders, newest first."""
    from data.db import session_scope
    from data.domain.workflow import WorkOrderStatus
    from data.workorders import list_work_orders

    settings = Settings.from_env()
    require_schema(settings)
    try:
        wanted = WorkOrderStatus(status) if status else None
    except ValueError:
        labels = ", ".join(s.value for s in WorkOrderStatus)
        raise fail(f"unknown status {status!r}: use one of {labels}") from None
    with session_scope(settings.database_url) as session:
        orders = [o.to_json() for o in list_work_orders(session, status=wanted, limit=10_000)]
    if as_json:
        typer.echo(json.dumps(orders, indent=1))
        return
    for o in orders:
        when = f"  at {o['scheduled_at']}" if o["scheduled_at"] else ""
        typer.echo(f"{o['id']}  {o['request_id']}  {o['status']:24} {o['connector']}{when}")


@app.command("show")
def workorders_show(
    work_order: Annotated[str, typer.Argument(help="WO-000123 or 123.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One work order with its pinned push plan, preflight results, approvals and history."""
    from data.db import session_scope
    from data.domain.workflow import parse_work_order_id
    from data.workorders import work_order_detail

    settings = Settings.from_env()
    require_schema(settings)
    try:
        wo_id = parse_work_order_id(work_order)
        with session_scope(settings.database_url) as session:
            detail = work_order_detail(session, wo_id)
    except (CertpushError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(detail, indent=1))
        return
    flag = "  EMERGENCY CHANGE" if detail["emergency"] else ""
    typer.echo(f"{detail['id']}  {detail['request_id']}  {detail['status']}  "
               f"{detail['connector']}{flag}")  # fmt: skip
    plan = detail["plan"]
    if plan is None:
        typer.echo("no push plan (requested before plans existed)")
    else:
        typer.echo(f"plan {plan['digest']}  profile {(plan.get('profile') or {}).get('name')}")
        for f in plan.get("files", []):
            typer.echo(f"  write {f['path']} ({f['mode']}): {f['contents']}")
        for name, argv in (plan.get("commands") or {}).items():
            if argv:
                typer.echo(f"  {name}: {shlex.join(argv)}")
        typer.echo(f"  {len(plan.get('endpoints', []))} endpoint(s)")
        preflight = plan.get("preflight") or {}
        typer.echo(f"preflight: {preflight.get('status', 'pending')}")
        for check in preflight.get("checks", []):
            typer.echo(f"  {check['status']:8} {check['name']}: {check['message']}")
    for a in detail["approvals"]:
        state = "stands" if a["stands"] else "void"
        typer.echo(f"{a['action']} by {a['by']} at {a['at']} for plan "
                   f"{(a['plan_digest'] or '-')[:12]} ({state})")  # fmt: skip


def _act(
    action_name: str,
    work_order: str,
    as_user: str,
    comment: str,
    at: str | None,
    override_window: str | None = None,
) -> None:
    from datetime import timedelta

    from data.db import session_scope
    from data.domain.workflow import Action, parse_work_order_id
    from data.workorders import act

    settings = Settings.from_env()
    require_schema(settings)
    when = None
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise fail(f"--at {at!r} is not an ISO 8601 time (2026-12-01T06:00+01:00)") from None
        if when.tzinfo is None:
            raise fail("--at needs a time zone offset, e.g. 2026-12-01T06:00+01:00 or ...Z")
    try:
        wo_id = parse_work_order_id(work_order)
        with session_scope(settings.database_url) as session:
            result = act(
                session,
                wo_id,
                Action(action_name),
                actor=actor_named(session, as_user),
                now=utc_now(),
                manual=when is None,
                at=when,
                comment=comment,
                horizon=timedelta(days=settings.schedule_horizon_days),
                override_window=override_window,
            )
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if not result.ok:
        raise fail(result.message)
    typer.echo(result.message)


WorkOrderArg = Annotated[str, typer.Argument(help="WO-000123")]
AsActor = Annotated[str, typer.Option("--as", help="The acting user.")]
Comment = Annotated[str, typer.Option(help="Your comment (required to reject).")]
At = Annotated[
    str | None,
    typer.Option(help="ISO 8601 time: schedule (implement, reschedule) or propose it."),
]
OverrideWindow = Annotated[
    str | None,
    typer.Option(
        "--override-window",
        metavar="REASON",
        help="Admins only: push outside the connector's maintenance windows, for this "
        "reason (audited).",
    ),
]


def _action_command(action_name: str, help_text: str, *, windows: bool = False) -> None:
    """One command per action; Implement and Reschedule follow maintenance windows and
    take --override-window."""
    if windows:

        def command(
            work_order: WorkOrderArg,
            as_user: AsActor,
            comment: Comment = "",
            at: At = None,
            override_window: OverrideWindow = None,
        ) -> None:
            _act(action_name, work_order, as_user, comment, at, override_window)

    else:

        def command(  # type: ignore[misc]
            work_order: WorkOrderArg, as_user: AsActor, comment: Comment = "", at: At = None
        ) -> None:
            _act(action_name, work_order, as_user, comment, at)

    command.__doc__ = help_text
    app.command(action_name)(command)


for _name, _help, _windows in (
    ("approve", "Approve a work order (level 1); --at proposes a push time.", False),
    (
        "implement",
        "Implement: push now, or at --at (Push-Scheduled). Outside the connector's "
        "maintenance windows, now becomes the next opening and --at is refused.",
        True,
    ),
    ("reject", "Reject a work order; --comment gives the reason.", False),
    ("cancel", "Cancel a work order (requester or implementer).", False),
    ("reschedule", "Move a scheduled push to --at (inside a maintenance window).", True),
):
    _action_command(_name, _help, windows=_windows)
