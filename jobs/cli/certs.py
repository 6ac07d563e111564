"""``certpush certs`` (the inventory) and ``certpush import`` (filling it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import fail, require_schema, shell_actor, utc_now

app = typer.Typer(help="The certificate inventory.", no_args_is_help=True)


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
    Private keys need the master key: without one they are rejected, certificates still import.
    """
    from data.crypto import load_vault
    from data.db import session_scope
    from data.importer import Outcome, expand_paths, import_paths

    settings = Settings.from_env()
    require_schema(settings)
    passwords: list[bytes] = []
    if password_file is not None:
        try:
            passwords = [
                line.rstrip(b"\r\n") for line in password_file.read_bytes().splitlines() if line
            ]
        except OSError as exc:
            raise fail(f"cannot read the password file {password_file}: {exc.strerror}") from None
    try:  # without a master key certificates import; private keys are refused, said below
        vault = load_vault(settings, required=False)
    except CertpushError as exc:
        raise fail(str(exc)) from None
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
            now=utc_now(),
            actor=shell_actor(),
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
    if vault.missing and any(r.kind == "private_key" for r in results):
        typer.echo(f"warning: private keys were not stored: {vault.missing}", err=True)


@app.command("list")
def certs_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of certificates.")] = False,
    status: Annotated[
        str | None, typer.Option(help="Only this colour: green, blue, ..., mid-purple, black.")
    ] = None,
) -> None:
    """List certificates, soonest expiry first, with their status colour."""
    from data.db import session_scope
    from data.domain.status import parse_status
    from data.queries import iter_certificates

    settings = Settings.from_env()
    require_schema(settings)
    try:
        wanted = parse_status(status) if status else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    with session_scope(settings.database_url) as session:
        rows = iter_certificates(session, utc_now(), wanted)
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
