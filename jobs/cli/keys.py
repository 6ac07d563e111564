"""``certpush keys``: the keyring of master keys that seals private keys and secrets.

The keyring is the key file (one key a line) or CERTPUSH_MASTER_KEY (comma-separated); the
first key seals, the others only open (data/crypto.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from jobs.cli.common import fail

app = typer.Typer(
    help="The master keys that seal private keys and secrets.",
    no_args_is_help=True,
)


@app.command("generate")
def keys_generate(
    out: Annotated[
        Path | None, typer.Option(help="Write it to this new file (mode 0600) instead.")
    ] = None,
    print_key: Annotated[
        bool, typer.Option("--print", help="Print it (for CERTPUSH_MASTER_KEY); write nothing.")
    ] = False,
) -> None:
    """Make a new master key: the instance's key file, written only if none exists (never
    overwritten); or a file of your choice (--out, e.g. for 'keys rotate --new-key-file');
    or printed (--print)."""
    import os

    from data.crypto import create_key_file, encode_key, key_id

    if out is not None and print_key:
        raise fail("give --out FILE or --print, not both")
    key = os.urandom(32)
    if print_key:
        typer.echo(encode_key(key))
        return
    settings = Settings.from_env()
    if out is None and settings.master_key:
        raise fail(
            "CERTPUSH_MASTER_KEY is set, so a key file would not be used: "
            "use --print (and put the key there) or --out FILE"
        )
    path = out or settings.master_key_file
    if not create_key_file(path, (key,)):
        fix = "" if out else " (to change keys: 'certpush keys rotate')"
        raise fail(f"{path} exists: refusing to overwrite a master key{fix}")
    typer.echo(
        f"wrote a new master key (id {key_id(key).hex()}) to {path}, mode 0600: "
        "back it up apart from the database"
    )
