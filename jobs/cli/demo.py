"""``certpush demo``: the demo dataset, demo users, demo devices and their history."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from data.config import Settings
from jobs.cli.common import utc_now


def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print users and counts as JSON.")
    ] = False,
) -> None:
    """Load the demo dataset (certificates of every colour, one user per role, demo devices,
    90 days of history) into the database."""
    import os

    from data.config import LOCAL_CONNECTORS_MARKER
    from data.crypto import create_key_file, load_vault
    from data.db import session_scope
    from data.demo import load_demo
    from data.schema import upgrade
    from jobs.demo_devices import nginx_binary, setup_demo_devices
    from jobs.demo_history import load_demo_history

    # The demo's devices are local connectors on this host: the demo instance allows them
    # (a marker file in the instance; CERTPUSH_LOCAL_CONNECTORS=off still overrides it).
    os.environ.setdefault("CERTPUSH_LOCAL_CONNECTORS", "on")
    instance = Settings.from_env().instance_dir
    instance.mkdir(parents=True, exist_ok=True)
    (instance / LOCAL_CONNECTORS_MARKER).touch()

    settings = Settings.from_env()
    upgrade(settings.database_url)
    # The first demo makes the instance's master key (the one place besides `keys
    # generate` that does); later runs, or a key in CERTPUSH_MASTER_KEY, use what is there.
    created = not settings.master_key and create_key_file(settings.master_key_file)
    vault = load_vault(settings)
    now = utc_now()
    with session_scope(settings.database_url) as session:
        summary = load_demo(session, vault, now)
        devices = setup_demo_devices(session, vault, settings, now)
        history = load_demo_history(session, vault, settings, now)
    if as_json:
        typer.echo(
            json.dumps(
                {**summary.to_json(), "demo_devices_added": devices, "history": history.to_json()},
                indent=1,
            )
        )
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
    typer.echo(history.describe())
