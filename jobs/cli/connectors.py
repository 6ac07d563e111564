"""``certpush connectors``: app connectors, how certificates reach devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import (
    AsUser,
    actor_and_role,
    actor_for,
    config_error,
    fail,
    require_schema,
    shell_actor,
    utc_now,
)

app = typer.Typer(help="App connectors: how certificates reach devices.", no_args_is_help=True)

Windows = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        help="A maintenance window, e.g. 'Tue,Thu 22:00-02:00 Europe/Paris' (days, "
        "HH:MM-HH:MM, IANA zone); repeat for more. Pushes run only inside them; none: any "
        "time. At update, the ones given replace all; --window '' clears them.",
    ),
]
Rollback = Annotated[
    bool | None,
    typer.Option(
        "--rollback/--no-rollback",
        help="Roll back automatically when a push's verification fails (default on).",
    ),
]
Canary = Annotated[
    bool | None,
    typer.Option("--canary/--no-canary", help="Push through it first in a rollout."),
]
Zone = Annotated[
    str | None,
    typer.Option(
        help="The zone whose agents reach the device (default: local, the scheduler itself)."
    ),
]


def _read_secret(config: dict, base: Path) -> tuple[bytes | None, str | None]:
    """Secrets come from files named in the config, never from the config itself."""
    for key, kind in (("private_key_file", "private_key"), ("password_file", "password")):
        name = config.pop(key, None)
        if name:
            path = (base / name) if not Path(name).is_absolute() else Path(name)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise fail(f"cannot read {key} {path}: {exc.strerror}") from None
            if kind == "password":
                data = data.splitlines()[0] if data.strip() else b""
            return data, kind
    return None, None


def _load_config(config: Path) -> dict:
    try:
        raw = json.loads(config.read_text())
    except OSError as exc:
        raise fail(f"cannot read {config}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{config} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise fail(f"{config} must hold a JSON object")
    return raw


def _refused(settings: Settings, actor: str, action: str, name: str, exc: Exception):
    """A refused change is kept in the audit trail (its own transaction: nothing else is)."""
    from data import audit
    from data.db import session_scope

    with session_scope(settings.database_url) as session:
        audit.record(session, actor=actor, action=action, now=utc_now(), target=name[:200],
                     detail=str(exc))  # fmt: skip
    return fail(f"refused: {exc}")


@app.command("add")
def connectors_add(
    name: Annotated[str, typer.Argument(help="A short unique name, e.g. web-eu-1.")],
    type_name: Annotated[str, typer.Option("--type", help="Connector type: ssh, local, ...")],
    config: Annotated[Path, typer.Option(help="JSON file with the settings (see README).")],
    as_user: AsUser = None,
    window: Windows = None,
    rollback: Rollback = None,
    canary: Canary = None,
    zone: Zone = None,
) -> None:
    """Add an app connector from a JSON settings file (profile and file paths, no commands),
    with its maintenance windows, automatic rollback and canary flag."""
    from data.connectors import add_connector
    from data.crypto import load_vault
    from data.db import session_scope
    from data.domain.errors import PermissionDenied
    from data.domain.roles import Permission

    settings = Settings.from_env()
    require_schema(settings)
    raw = _load_config(config)
    secret, kind = _read_secret(raw, config.parent)
    endpoints = raw.pop("endpoints", [])
    try:  # the key seals a credential; a connector without one needs none
        vault = load_vault(settings, required=secret is not None)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    actor = as_user or shell_actor()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user, Permission.MANAGE_CONNECTORS)
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
                role=role,
                now=utc_now(),
                windows=window or (),
                auto_rollback=True if rollback is None else rollback,
                canary=bool(canary),
                zone=zone or "local",
            )
    except PermissionDenied as exc:
        raise _refused(settings, actor, "connector.add.refused", name, exc) from None
    except CertpushError as exc:
        raise config_error(exc) from None
    typer.echo(
        f"added app connector {info.name} ({info.type}) with {len(info.endpoints)} endpoint(s)"
    )


@app.command("update")
def connectors_update(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    config: Annotated[
        Path | None,
        typer.Option(help="JSON file: the full settings, and/or endpoints (see README)."),
    ] = None,
    as_user: AsUser = None,
    window: Windows = None,
    rollback: Rollback = None,
    canary: Canary = None,
    zone: Zone = None,
) -> None:
    """Change a connector's settings, endpoints or credential, validated as for ``add``
    (open work orders through it then get a new push plan: their approvals are void), or
    its maintenance windows, automatic rollback or canary flag (plans unchanged)."""
    from data.connectors import update_connector
    from data.crypto import load_vault
    from data.db import session_scope
    from data.domain.errors import PermissionDenied
    from data.domain.roles import Permission

    if config is None and window is None and rollback is None and canary is None and not zone:
        raise fail("nothing to change: give --config, --window, --rollback/--no-rollback or "
                   "--canary/--no-canary")  # fmt: skip
    settings = Settings.from_env()
    require_schema(settings)
    raw = _load_config(config) if config is not None else {}
    secret, kind = _read_secret(raw, config.parent) if config is not None else (None, None)
    endpoints = raw.pop("endpoints", None)
    try:  # the key seals a credential; a connector without one needs none
        vault = load_vault(settings, required=secret is not None)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    actor = as_user or shell_actor()
    try:
        with session_scope(settings.database_url) as session:
            actor, role = actor_and_role(session, as_user, Permission.MANAGE_CONNECTORS)
            info, voided = update_connector(
                session, vault, name, settings=raw or None, endpoints=endpoints, secret=secret,
                secret_kind=kind, actor=actor, role=role, now=utc_now(), windows=window,
                auto_rollback=rollback, canary=canary, zone=zone,
            )  # fmt: skip
    except PermissionDenied as exc:
        raise _refused(settings, actor, "connector.update.refused", name, exc) from None
    except CertpushError as exc:
        raise config_error(exc) from None
    windows = "; ".join(info.windows.splitlines()) or "any time"
    typer.echo(
        f"updated app connector {info.name}: {len(info.endpoints)} endpoint(s); "
        f"maintenance windows: {windows}"
    )
    for line in voided:
        typer.echo(f"  {line}")


def _binding(name: str, cert: str, as_user: str | None, bind: bool) -> None:
    from data.connectors import bind as bind_service
    from data.connectors import unbind as unbind_service
    from data.db import session_scope
    from data.domain.roles import Permission

    settings = Settings.from_env()
    require_schema(settings)
    try:
        with session_scope(settings.database_url) as session:
            actor = actor_for(session, as_user, Permission.MANAGE_CONNECTORS)
            service = bind_service if bind else unbind_service
            changed = service(session, name, cert, actor=actor, now=utc_now())
    except CertpushError as exc:
        raise fail(str(exc)) from None
    verb = "bound" if bind else "unbound"
    typer.echo(f"{verb} {name}" if changed else f"nothing to do: {name} was already {verb}")


@app.command("bind")
def connectors_bind(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    as_user: AsUser = None,
) -> None:
    """Bind a connector to a certificate (Push to Device then offers it)."""
    _binding(name, cert, as_user, bind=True)


@app.command("unbind")
def connectors_unbind(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    cert: Annotated[str, typer.Option(help="Certificate SHA-256 fingerprint.")],
    as_user: AsUser = None,
) -> None:
    """Remove a connector from a certificate."""
    _binding(name, cert, as_user, bind=False)


@app.command("list")
def connectors_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of connectors.")] = False,
) -> None:
    """List connectors: settings, endpoints, bound certificates, last push and its verdict
    (secrets are never shown)."""
    from data.connectors import connector_overviews
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    with session_scope(settings.database_url) as session:
        overviews = connector_overviews(session)
    if as_json:
        typer.echo(json.dumps([o.to_json() for o in overviews], indent=1))
        return
    for overview in overviews:
        info, push = overview.info, overview.last_push
        where = info.settings.get("host", "this host")
        last = "no work order pushed"
        if push is not None:
            last = f"{push.work_order} {push.status} {push.pushed_at:%Y-%m-%d %H:%M} UTC"
            if push.status == "Completed":
                last += f" · {push.label}"
        typer.echo(
            f"{info.name:24} {info.type:6} {where:20} {len(info.endpoints):>5} endpoint(s) "
            f"{len(overview.certificates):>4} certificate(s)  {last}"
        )


def _implementation(session, vault, name: str):
    from data.connectors import get_connector, open_secret
    from jobs.connectors.registry import connector_class

    info = get_connector(session, name)
    return connector_class(info.type)(
        settings=info.settings,
        secret=open_secret(session, vault, name, actor=shell_actor()),
        secret_kind=info.secret_kind,
        endpoints=info.endpoints,
    )


@app.command("test")
def connectors_test(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Connect, authenticate and check the target folders; changes nothing on the device."""
    from data.crypto import load_vault
    from data.db import session_scope

    settings = Settings.from_env()
    require_schema(settings)
    try:
        vault = load_vault(settings, required=False)  # needed only to open a credential
        with session_scope(settings.database_url) as session:
            connector = _implementation(session, vault, name)
    except CertpushError as exc:
        raise fail(str(exc)) from None
    result = connector.check()
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=1))
    else:
        typer.echo(("ok: " if result.ok else "failed: ") + result.message)
        if result.host_key_fingerprint:
            typer.echo(f"host key: {result.host_key_type} {result.host_key_fingerprint}")
    raise typer.Exit(0 if result.ok else 1)
