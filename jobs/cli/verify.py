"""``certpush verify``: a verification sweep, now."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import fail, require_schema


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
    require_schema(settings)
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
                broker_url=settings.broker_url,
                broker_ca=settings.broker_ca,
            )
        except CertpushError as exc:
            raise fail(str(exc)) from None
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
