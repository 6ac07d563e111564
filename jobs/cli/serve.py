"""``certpush serve`` and ``certpush scheduler``: the long-running processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Annotated

import typer

from data.config import Settings
from jobs.cli.common import require_schema


def _report_profiles(settings: Settings) -> None:
    """At start-up: a broken profiles file is said with its lines (the last good copy stays)."""
    from data.profiles import load_book

    book = load_book(settings)
    if book.error is not None:
        for problem in book.error.problems:
            typer.echo(f"error: {book.error.source}: {problem}", err=True)
        typer.echo("the last good device profiles stay in force", err=True)


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
    if with_demo_devices:  # the demo devices are local connectors: the demo host allows them
        os.environ.setdefault("CERTPUSH_LOCAL_CONNECTORS", "on")
    settings = Settings.from_env()
    require_schema(settings)
    _report_profiles(settings)
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


def scheduler_command() -> None:
    """Run the one scheduler process (APScheduler with a persistent job store)."""
    from jobs.scheduler import main as scheduler_main

    scheduler_main()
