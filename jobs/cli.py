"""The ``certpush`` command line: the same services as the UI, for operators and scripts.

It lives in jobs/ because it is the one front end that may reach every layer
(it will push and sweep); the web process itself never imports jobs/.
Bad input is reported, never raised: every command turns CertpushError into a
one-line message and exit code 1 for tool failures only where documented.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect

from data.config import Settings
from data.crypto import generate_master_key, load_vault
from data.db import engine_for, session_scope
from data.domain.errors import CertpushError
from data.domain.status import parse_status
from data.importer import Outcome, expand_paths, import_paths
from data.queries import iter_certificates

app = typer.Typer(
    help="certpush: push certificates to devices under two-level approval, then prove them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
certs_app = typer.Typer(help="The certificate inventory.", no_args_is_help=True)
users_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
keys_app = typer.Typer(help="The master key that encrypts private keys and secrets.")
app.add_typer(db_app, name="db")
app.add_typer(certs_app, name="certs")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys", no_args_is_help=True)
connectors_app = typer.Typer(help="App connectors: how certificates reach devices.")
push_app = typer.Typer(help="Pushing certificates to devices.")
app.add_typer(connectors_app, name="connectors", no_args_is_help=True)
app.add_typer(push_app, name="push", no_args_is_help=True)
workorders_app = typer.Typer(help="Work orders: approve, implement, reject, cancel, reschedule.")
policy_app = typer.Typer(help="The approval policy (levels and their roles).")
app.add_typer(workorders_app, name="workorders", no_args_is_help=True)
app.add_typer(policy_app, name="policy", no_args_is_help=True)

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Act as this certpush user (their role is checked)."),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _require_schema(settings: Settings) -> None:
    """Refuse to work on a database that has not been migrated, with the fix in the message."""
    if not inspect(engine_for(settings.database_url)).has_table("certificates"):
        raise _fail("the database has no certpush schema yet: run 'certpush db upgrade' first")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version (safe to repeat)."""
    from data.schema import upgrade  # alembic is slow to import: only where needed

    settings = Settings.from_env()
    upgrade(settings.database_url)
    typer.echo("database schema is up to date")


@app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to import.")],
    password_file: Annotated[
        Path | None,
        typer.Option(help="File with PKCS#12/key passwords, one per line; each is tried."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")] = False,
) -> None:
    """Import certificates (PEM, DER, PKCS#12) and private keys (PKCS#8, traditional PEM).

    Exit code 0 when every input was handled (imported, duplicate or rejected with a reason).
    """
    settings = Settings.from_env()
    _require_schema(settings)
    passwords: list[bytes] = []
    if password_file is not None:
        try:
            passwords = [
                line.rstrip(b"\r\n") for line in password_file.read_bytes().splitlines() if line
            ]
        except OSError as exc:
            raise _fail(f"cannot read the password file {password_file}: {exc.strerror}") from None
    try:
        vault, created = load_vault(settings, create=True)
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    if created:
        typer.echo(f"created a new master key file at {settings.master_key_file}", err=True)
    files = list(expand_paths(paths))
    show_progress = not as_json and sys.stderr.isatty() and len(files) > 50
    with (
        session_scope(settings.database_url) as session,
        typer.progressbar(
            length=len(files), label="importing", file=sys.stderr, hidden=not show_progress
        ) as bar,
    ):
        results = import_paths(
            session,
            vault,
            files,
            now=_now(),
            actor=_actor(),
            passwords=passwords,
            max_bytes=settings.max_file_bytes,
            on_file=lambda _path: bar.update(1),
        )
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=1, ensure_ascii=False))
        return
    for r in results:
        what = r.common_name or r.fingerprint_sha256 or ""
        item = f"#{r.item}" if r.item else ""
        line = f"{r.result.value:9} {r.path}{item}"
        if what:
            line += f"  {what}"
        if r.status:
            line += f"  [{r.status}]"
        if r.reason:
            line += f"  - {r.reason}"
        typer.echo(line)
    counts = {o.value: sum(r.result is o for r in results) for o in Outcome}
    typer.echo(", ".join(f"{n} {name}" for name, n in counts.items()), err=True)


@certs_app.command("list")
def certs_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of certificates.")] = False,
    status: Annotated[
        str | None, typer.Option(help="Only this colour: green, blue, ..., mid-purple, black.")
    ] = None,
) -> None:
    """List certificates, soonest expiry first, with their status colour."""
    settings = Settings.from_env()
    _require_schema(settings)
    try:
        wanted = parse_status(status) if status else None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with session_scope(settings.database_url) as session:
        rows = iter_certificates(session, _now(), wanted)
        if as_json:
            typer.echo("[")
            first = True
            for row in rows:
                typer.echo(
                    ("" if first else ",\n") + json.dumps(row.to_json(), ensure_ascii=False),
                    nl=False,
                )
                first = False
            typer.echo("\n]")
            return
        for row in rows:
            typer.echo(
                f"{row.status.value:10} {row.not_after:%Y-%m-%d} {row.days_left:>6}d  "
                f"{row.fingerprint_sha256[:16]}  {row.common_name or '(no common name)'}"
            )


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="operator, reviewer, implementer, manager or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user with a role. The password is read from stdin or prompted, never an argument."""
    from data.users import add_user

    settings = Settings.from_env()
    _require_schema(settings)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(settings.database_url) as session:
            user = add_user(session, name, role, password, _now(), actor=_actor())
    except (CertpushError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"added user {user.username} with role {user.role.value}")


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path | None, typer.Option(help="Write to this file (mode 0600).")] = None,
) -> None:
    """Make a new master key; print it, or write it to a file."""
    key = generate_master_key()
    if out is None:
        typer.echo(key)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _fail(f"{out} exists: refusing to overwrite a master key") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    typer.echo(f"wrote a new master key to {out}")


@app.command()
def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print users and counts as JSON.")
    ] = False,
) -> None:
    """Load the demo dataset (certificates of every colour, one user per role) into the database."""
    from data.demo import load_demo
    from data.schema import upgrade
    from jobs.demo_devices import nginx_binary, setup_demo_devices

    settings = Settings.from_env()
    upgrade(settings.database_url)
    vault, created = load_vault(settings, create=True)
    with session_scope(settings.database_url) as session:
        summary = load_demo(session, vault, _now())
        devices = setup_demo_devices(session, vault, settings, _now())
    if as_json:
        typer.echo(json.dumps({**summary.to_json(), "demo_devices_added": devices}, indent=1))
        return
    if created:
        typer.echo(f"created a new master key file at {settings.master_key_file} (keep it safe)")
    if summary.users:
        typer.echo("demo users (passwords are shown this once):")
        for user in summary.users:
            typer.echo(f"  {user.role:12} {user.username:12} {user.password}")
    else:
        typer.echo("demo users already exist; their passwords were printed when they were made")
    typer.echo(f"demo certificates: {summary.certificates_added} added")
    server = "a private nginx" if nginx_binary() else "the built-in TLS server (no nginx found)"
    first = settings.demo_first_port
    typer.echo(f"demo devices: {devices} added, served by {server} on 127.0.0.1:{first}+")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8050,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes.")] = 2,
    with_scheduler: Annotated[
        bool, typer.Option(help="Also run the scheduler process beside the web server.")
    ] = False,
    with_demo_devices: Annotated[
        bool, typer.Option(help="Also serve the demo devices (see 'certpush demo').")
    ] = False,
) -> None:
    """Serve the web app with gunicorn (and optionally the scheduler), until interrupted."""
    settings = Settings.from_env()
    _require_schema(settings)
    children: list[subprocess.Popen[bytes]] = []
    if with_scheduler:
        children.append(subprocess.Popen([sys.executable, "-m", "jobs.scheduler"]))
    if with_demo_devices:
        from jobs.demo_devices import start_demo_devices

        devices = start_demo_devices(settings)
        if devices is not None:
            children.append(devices)
    typer.echo(f"certpush is at http://{host}:{port}/  (Ctrl-C to stop)")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--no-control-socket",
        "--access-logfile",
        "-",
        "dashboard.app:server",
    ]
    web = subprocess.Popen(command)
    children.insert(0, web)

    def _stop(_signum, _frame) -> None:
        raise KeyboardInterrupt

    # A supervisor's SIGTERM must reach gunicorn and the scheduler, not orphan them.
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    try:
        code = web.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    raise typer.Exit(code)


def _actor_for(session, username: str | None, permission) -> str:
    """``--as USER`` must hold the permission; without it the local shell user acts (an admin)."""
    from data.users import acting_as

    if username is None:
        return _actor()
    return acting_as(session, username, permission).username


def _print_config_error(exc) -> typer.Exit:
    from data.domain.connector_specs import ConnectorConfigError

    if isinstance(exc, ConnectorConfigError):
        for name, message in exc.errors.items():
            typer.echo(f"error: {name}: {message}", err=True)
        return typer.Exit(1)
    return _fail(str(exc))


def _read_secret(config: dict, base: Path) -> tuple[bytes | None, str | None]:
    """Secrets come from files named in the config, never from the config itself."""
    for key, kind in (("private_key_file", "private_key"), ("password_file", "password")):
        name = config.pop(key, None)
        if name:
            path = (base / name) if not Path(name).is_absolute() else Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise _fail(f"cannot read {key} {path}: {exc.strerror}") from None
            if kind == "password":
                data = data.splitlines()[0] if data.strip() else b""
            return data, kind
    return None, None


@connectors_app.command("add")
def connectors_add(
    name: Annotated[str, typer.Argument(help="A short unique name, e.g. web-eu-1.")],
    type_name: Annotated[str, typer.Option("--type", help="Connector type: ssh, local, ...")],
    config: Annotated[Path, typer.Option(help="JSON file with the settings (see README).")],
    as_user: AsUser = None,
) -> None:
    """Add an app connector from a JSON settings file."""
    from data.connectors import add_connector
    from data.domain.roles import Permission

    settings = Settings.from_env()
    _require_schema(settings)
    try:
        raw = json.loads(config.read_text())
    except OSError as exc:
        raise _fail(f"cannot read {config}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise _fail(f"{config} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise _fail(f"{config} must hold a JSON object")
    secret, kind = _read_secret(raw, config.parent)
    endpoints = raw.pop("endpoints", [])
    vault, _ = load_vault(settings, create=True)
    try:
        with session_scope(settings.database_url) as session:
            actor = _actor_for(session, as_user, Permission.MANAGE_CONNECTORS)
            info = add_connector(
                session,
                vault,
                name=name,
                type_name=type_name,
                settings=raw,
                endpoints=endpoints,
                secret=secret,
                secret_kind=kind,
                actor=actor,
                now=_now(),
            )
    except CertpushError as exc:
        raise _print_config_error(exc) from None
    typer.echo(
        f"added app connector {info.name} ({info.type}) with {len(info.endpoints)} endpoint(s)"
    )


def _binding(name: str, cert: str, as_user: str | None, bind: bool) -> None:
    from data.connectors import bind as bind_service
    from data.connectors import unbind as unbind_service
    from data.domain.roles import Permission

    settings = Settings.from_env()
    _require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor = _actor_for(session, as_user, Permission.MANAGE_CONNECTORS)
            service = bind_service if bind else unbind_service
            changed = service(session, name, cert, actor=actor, now=_now())
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    verb = "bound" if bind else "unbound"
    typer.echo(f"{verb} {name}" if changed else f"nothing to do: {name} was already {verb}")


@connectors_app.command("bind")
def connectors_bind(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    as_user: AsUser = None,
) -> None:
    """Bind a connector to a certificate (Push to Device then offers it)."""
    _binding(name, cert, as_user, bind=True)


@connectors_app.command("unbind")
def connectors_unbind(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    as_user: AsUser = None,
) -> None:
    """Remove a connector from a certificate."""
    _binding(name, cert, as_user, bind=False)


@connectors_app.command("list")
def connectors_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of connectors.")] = False,
) -> None:
    """List connectors with their settings and endpoints (secrets are never shown)."""
    from data.connectors import list_connectors

    settings = Settings.from_env()
    _require_schema(settings)
    with session_scope(settings.database_url) as session:
        infos = list_connectors(session)
    if as_json:
        typer.echo(json.dumps([i.to_json() for i in infos], indent=1))
        return
    for info in infos:
        where = info.settings.get("host", "this host")
        typer.echo(
            f"{info.name:24} {info.type:6} {where:20} {len(info.endpoints):>5} endpoint(s) "
            f"{info.bound_certificates:>4} certificate(s)"
        )


def _implementation(session, vault, name: str):
    from data.connectors import get_connector, open_secret
    from jobs.connectors.registry import connector_class

    info = get_connector(session, name)
    return connector_class(info.type)(
        settings=info.settings,
        secret=open_secret(session, vault, name),
        secret_kind=info.secret_kind,
        endpoints=info.endpoints,
    )


@connectors_app.command("test")
def connectors_test(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Connect, authenticate and check the target folders; changes nothing on the device."""
    settings = Settings.from_env()
    _require_schema(settings)
    try:
        vault, _ = load_vault(settings)
        with session_scope(settings.database_url) as session:
            connector = _implementation(session, vault, name)
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    result = connector.check()
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
    else:
        typer.echo(("ok: " if result.ok else "failed: ") + result.message)
        if result.host_key_fingerprint:
            typer.echo(f"host key: {result.host_key_type} {result.host_key_fingerprint}")
    raise typer.Exit(0 if result.ok else 1)


@push_app.command("run")
def push_run(
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    connector: Annotated[str, typer.Option(help="Bound connector name.")],
    as_user: Annotated[str, typer.Option("--as", help="An admin user (role is checked).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Push now, without approval: for admins until the approval workflow lands."""
    from data.domain.roles import Permission
    from data.users import acting_as
    from jobs.push import push_certificate

    settings = Settings.from_env()
    _require_schema(settings)
    try:
        vault, _ = load_vault(settings)
        with session_scope(settings.database_url) as session:
            actor = acting_as(session, as_user, Permission.PUSH_WITHOUT_APPROVAL).username
        report = push_certificate(settings.database_url, vault, cert, connector, actor=actor)
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    else:
        typer.echo(f"{report.outcome.value}: {report.reason} ({report.duration_ms} ms)")
    raise typer.Exit(0 if report.outcome.value != "failed" else 1)


def _actor_named(session, username: str):
    from data.domain.workflow import Actor
    from data.users import find_user

    user = find_user(session, username)
    return Actor(user.username, user.role.value)


@push_app.command("request")
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
    from data.workorders import request_push

    settings = Settings.from_env()
    _require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor = _actor_named(session, as_user)
            request, orders = request_push(
                session, cert, actor=actor, now=_now(), comment=comment,
                connectors=connector or [],
            )  # fmt: skip
            payload = [o.to_json() for o in orders]
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"request_id": request, "work_orders": payload}, indent=1))
        return
    typer.echo(f"{request} created")
    for order in payload:
        typer.echo(f"  {order['id']}  {order['connector']}  {order['status']}")


@workorders_app.command("list")
def workorders_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    status: Annotated[str | None, typer.Option(help="Only this status label.")] = None,
) -> None:
    """List work orders, newest first."""
    from data.domain.workflow import WorkOrderStatus
    from data.workorders import list_work_orders

    settings = Settings.from_env()
    _require_schema(settings)
    try:
        wanted = WorkOrderStatus(status) if status else None
    except ValueError:
        labels = ", ".join(s.value for s in WorkOrderStatus)
        raise _fail(f"unknown status {status!r}: use one of {labels}") from None
    with session_scope(settings.database_url) as session:
        orders = [o.to_json() for o in list_work_orders(session, status=wanted, limit=10_000)]
    if as_json:
        typer.echo(json.dumps(orders, indent=1))
        return
    for o in orders:
        when = f"  at {o['scheduled_at']}" if o["scheduled_at"] else ""
        typer.echo(f"{o['id']}  {o['request_id']}  {o['status']:24} {o['connector']}{when}")


def _act(action_name: str, work_order: str, as_user: str, comment: str, at: str | None) -> None:
    from datetime import timedelta

    from data.domain.workflow import Action, parse_work_order_id
    from data.workorders import act

    settings = Settings.from_env()
    _require_schema(settings)
    when = None
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise _fail(f"--at {at!r} is not an ISO 8601 time (2026-12-01T06:00+01:00)") from None
        if when.tzinfo is None:
            raise _fail("--at needs a time zone offset, e.g. 2026-12-01T06:00+01:00 or ...Z")
    try:
        wo_id = parse_work_order_id(work_order)
        with session_scope(settings.database_url) as session:
            result = act(
                session,
                wo_id,
                Action(action_name),
                actor=_actor_named(session, as_user),
                now=_now(),
                manual=when is None,
                at=when,
                comment=comment,
                horizon=timedelta(days=settings.schedule_horizon_days),
            )
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    if not result.ok:
        raise _fail(result.message)
    typer.echo(result.message)


def _action_command(action_name: str, help_text: str) -> None:
    def command(
        work_order: Annotated[str, typer.Argument(help="WO-000123")],
        as_user: Annotated[str, typer.Option("--as", help="The acting user.")],
        comment: Annotated[str, typer.Option(help="Your comment (required to reject).")] = "",
        at: Annotated[
            str | None,
            typer.Option(help="ISO 8601 time: schedule (implement, reschedule) or propose it."),
        ] = None,
    ) -> None:
        _act(action_name, work_order, as_user, comment, at)

    command.__doc__ = help_text
    workorders_app.command(action_name)(command)


for _name, _help in (
    ("approve", "Approve a work order (level 1); --at proposes a push time."),
    ("implement", "Implement: push now, or at --at (Push-Scheduled)."),
    ("reject", "Reject a work order; --comment gives the reason."),
    ("cancel", "Cancel a work order (requester or implementer)."),
    ("reschedule", "Move a scheduled push to --at."),
):
    _action_command(_name, _help)


@policy_app.command("show")
def policy_show() -> None:
    """Print the approval levels in order (the last one implements)."""
    from data.workorders import load_policy

    settings = Settings.from_env()
    _require_schema(settings)
    with session_scope(settings.database_url) as session:
        policy = load_policy(session)
    for position, level in enumerate(policy.levels, start=1):
        typer.echo(f"{position}. {level.name}: {level.role}")


@policy_app.command("set")
def policy_set(
    levels: Annotated[list[str], typer.Argument(help="NAME:ROLE in order, e.g. Approve:reviewer")],
    as_user: Annotated[str, typer.Option("--as", help="An admin.")],
) -> None:
    """Replace the approval policy (admins only). The last level implements."""
    from data.domain.roles import parse_role
    from data.workorders import set_policy

    settings = Settings.from_env()
    _require_schema(settings)
    try:
        parsed = []
        for level in levels:
            name, _, role = level.partition(":")
            parsed.append((name.strip(), parse_role(role).value))
        with session_scope(settings.database_url) as session:
            set_policy(session, parsed, actor=_actor_named(session, as_user), now=_now())
    except (CertpushError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo("approval policy updated: " + " -> ".join(f"{n} ({r})" for n, r in parsed))


@app.command("verify")
def verify_command(
    cert: Annotated[str | None, typer.Option(help="Only this certificate's endpoints.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Endpoints and a summary as JSON.")
    ] = False,
    concurrency: Annotated[int | None, typer.Option(help="Parallel handshakes.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per connect + handshake.")] = None,
    processes: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core, at most 4).")
    ] = None,
) -> None:
    """Handshake with every endpoint now and compare served with expected certificates.

    Exit code 0 when the sweep ran, whatever it found.
    """
    from jobs.verify import run_sweep

    settings = Settings.from_env()
    _require_schema(settings)
    show = not as_json and sys.stderr.isatty()
    with typer.progressbar(length=1, label="verifying", file=sys.stderr, hidden=not show) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        try:
            report = run_sweep(
                settings.database_url,
                certificate=cert,
                concurrency=concurrency or settings.verify_concurrency,
                timeout=timeout or settings.verify_timeout,
                trigger="cli",
                on_progress=progress,
                processes=processes or settings.verify_processes,
            )
        except CertpushError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"endpoints": report.endpoints, "summary": report.summary}, indent=1))
        return
    for e in report.endpoints:
        host = f"[{e['host']}]" if ":" in e["host"] else e["host"]
        sni = f" ({e['sni']})" if e["sni"] else ""
        drift = "  DRIFT" if e["drift"] else ""
        typer.echo(f"{e['outcome']:12} {host}:{e['port']}{sni}  {e['reason']}{drift}")
    counts = ", ".join(f"{n} {o}" for o, n in sorted(report.summary.items())) or "no endpoints"
    typer.echo(f"{len(report.endpoints)} endpoint(s) in {report.seconds:.1f} s: {counts}")


@app.command("report")
def report_command(
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (inclusive).")],
    last: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).")],
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or pdf.")],
    out: Annotated[
        Path, typer.Option("--out", help="The file to write, or a folder for the standard name.")
    ],
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="IANA time zone of the days (default: CERTPUSH_REPORT_TZ)."),
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Export the Push Validation Report for a range of days (CSV, XLSX or PDF)."""
    from data.domain.periods import Period, zone
    from data.domain.roles import Permission
    from data.reports import kpis
    from reports.exports import FORMATS, file_name, kpi_summary, write_report

    settings = Settings.from_env()
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    try:
        period = Period.parse(first, last, zone(tz or settings.report_time_zone))
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    _require_schema(settings)
    path = out / file_name(period, fmt) if out.is_dir() else out
    if not path.parent.is_dir():
        raise _fail(f"cannot write {path}: the folder {path.parent} does not exist")
    try:
        with session_scope(settings.database_url) as session:
            _actor_for(session, as_user, Permission.VIEW_REPORTS)
            write_report(session, period, fmt, path, now=_now())
            figures = kpis(session, period)
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {path}")
    typer.echo(f"{period.label()}: {kpi_summary(figures)}")


@app.command("report-weekly")
def report_weekly_command(
    now: Annotated[
        str | None,
        typer.Option(help="Act as if it were this ISO 8601 time (its previous week is produced)."),
    ] = None,
    as_user: AsUser = None,
) -> None:
    """Produce last week's report into the report folder now, unless it already exists."""
    from data.domain.roles import Permission
    from jobs.weekly_report import produce_week

    settings = Settings.from_env()
    when = _now()
    if now:
        try:
            when = datetime.fromisoformat(now)
        except ValueError:
            raise _fail(f"--now {now!r} is not an ISO 8601 time (2026-03-30T06:00+02:00)") from None
        if when.tzinfo is None:
            raise _fail("--now needs a time zone offset, e.g. 2026-03-30T06:00+02:00 or ...Z")
    _require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            _actor_for(session, as_user, Permission.PRODUCE_REPORTS)
        report = produce_week(settings, now=when)
    except CertpushError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write to {settings.report_folder}: {exc.strerror or exc}") from None
    if report is None:
        typer.echo("the report for that week already exists: nothing to do")
        return
    typer.echo(
        f"weekly report {report.period_start} to {report.period_end} ({report.time_zone})"
        f" written to {settings.report_folder}"
    )
    for name in json.loads(report.files).values():
        typer.echo(f"  {name}")


@app.command("scheduler")
def scheduler_command() -> None:
    """Run the one scheduler process (APScheduler with a persistent job store)."""
    from jobs.scheduler import main as scheduler_main

    scheduler_main()


def main() -> None:
    """Console-script entry point: turn expected errors into one line, never a traceback."""
    try:
        app()
    except CertpushError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
