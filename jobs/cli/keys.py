"""``certpush keys``: the master key that encrypts private keys and secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from jobs.cli.common import fail

app = typer.Typer(
    help="The master key that encrypts private keys and secrets.", no_args_is_help=True
)


@app.command("generate")
def keys_generate(
    out: Annotated[Path | None, typer.Option(help="Write to this file (mode 0600).")] = None,
) -> None:
    """Make a new master key; print it, or write it to a file."""
    from data.crypto import generate_master_key

    key = generate_master_key()
    if out is None:
        typer.echo(key)
        return
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise fail(f"{out} exists: refusing to overwrite a master key") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    typer.echo(f"wrote a new master key to {out}")
