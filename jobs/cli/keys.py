"""``certpush keys``: the keyring of master keys that seals private keys and secrets.

The keyring is the key file (one key a line) or CERTPUSH_MASTER_KEY (comma-separated); the
first key seals, the others only open (data/crypto.py). Rotation moves every sealed value
to the current key in batches and is finished by running it again (data/keyring.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from data.config import Settings
from data.domain.errors import CertpushError
from jobs.cli.common import fail, require_schema, shell_actor, utc_now

app = typer.Typer(
    help="The master keys that seal private keys and secrets: make, rotate, retire.",
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


@app.command("status")
def keys_status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The keyring (key ids, the current one first) and how many values each key id seals.
    Works without a key: the counts come from the ids the sealed values carry."""
    from data.crypto import load_vault
    from data.db import session_scope
    from data.domain.errors import ConfigError
    from data.keyring import key_status

    settings = Settings.from_env()
    require_schema(settings)
    vault, problem = None, None
    try:
        vault = load_vault(settings)
    except ConfigError as exc:
        problem = str(exc)
    with session_scope(settings.database_url) as session:
        status = key_status(session, settings, vault, problem)
    if as_json:
        typer.echo(json.dumps(status.to_json(), indent=1))
        return
    shown = status.to_json()
    typer.echo(f"keyring: {shown['source']}")
    if problem:
        typer.echo(f"  {problem}")
    for key in shown["keys"]:
        role = "current" if key["current"] else "older"
        hint = ""
        if not key["current"] and not key["values"]:
            hint = f"  (seals nothing: 'certpush keys retire {key['id']}')"
        typer.echo(f"  {key['id']}  {role:7} {key['values']:>8} value(s){hint}")
    for key in shown["unknown_keys"]:
        typer.echo(f"  {key['id']}  missing {key['values']:>8} value(s) sealed by a key "
                   "not in the keyring: they cannot be opened")  # fmt: skip
    kinds = ", ".join(f"{sum(c.values())} {kind.replace('_', ' ')}"
                      for kind, c in shown["values"].items())  # fmt: skip
    typer.echo(f"{shown['total']} sealed value(s): {kinds}")
    if shown["to_rotate"] and vault is not None:
        typer.echo(f"{shown['to_rotate']} not under the current key: 'certpush keys rotate' "
                   "moves them")  # fmt: skip


@app.command("rotate")
def keys_rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(help="Make the key in this file current (else a new one is made)."),
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Values re-sealed per transaction.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Make a new key current (the old ones stay, to open) and re-seal every private key,
    connector secret, notification channel URL and queued task secret with it, batch by
    batch. Interrupted, run it
    again: while values are left under older keys it finishes moving them (no new key).
    Exit 1 when a value would not open (each is listed and audited)."""
    import os

    from data.crypto import load_vault
    from data.db import session_scope
    from data.keyring import (
        add_current_key,
        key_status,
        read_new_key,
        record_rotation,
        rotate_values,
    )

    settings = Settings.from_env()
    require_schema(settings)
    actor = shell_actor()
    try:
        vault = load_vault(settings)
        with session_scope(settings.database_url) as session:
            left = key_status(session, settings, vault, None).to_rotate
        if left:
            if new_key_file is not None:
                raise fail(
                    f"{left} value(s) are still sealed by older keys: finish moving them "
                    "first ('certpush keys rotate' without --new-key-file)"
                )
            typer.echo(f"{left} value(s) not under the current key {vault.key_id.hex()}: "
                       "moving them", err=True)  # fmt: skip
        else:
            new = read_new_key(new_key_file) if new_key_file else os.urandom(32)
            if vault.keys and new == vault.key:
                raise fail("that key is the current key already")
            with session_scope(settings.database_url) as session:
                vault = add_current_key(session, settings, vault, new, actor=actor,
                                        now=utc_now())  # fmt: skip
            older = ", ".join(k.hex() for k in vault.key_ids[1:])
            typer.echo(f"new current key {vault.key_id.hex()} in {settings.master_key_file}; "
                       f"kept to open: {older}", err=True)  # fmt: skip
        progress = sys.stderr.isatty() and not as_json
        report = rotate_values(
            settings.database_url, vault, actor=actor, batch=batch,
            on_batch=(lambda r: typer.echo(f"\rmoved {r.total_moved}", err=True, nl=False))
            if progress else None,
        )  # fmt: skip
        with session_scope(settings.database_url) as session:
            record_rotation(session, report, actor=actor, now=utc_now())
    except CertpushError as exc:
        raise fail(str(exc)) from None
    if progress:
        typer.echo("", err=True)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    else:
        moved = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in report.moved.items())
        typer.echo(f"re-sealed with {report.current.hex()}: {moved or 'nothing to move'} "
                   f"in {report.seconds:.1f} s")  # fmt: skip
    for failure in report.failures:
        typer.echo(f"error: {failure.target} ({failure.context}) would not open: "
                   f"{failure.reason}", err=True)  # fmt: skip
    if report.failures or report.remaining:
        typer.echo(f"error: {report.remaining} value(s) are still under older keys "
                   f"({len(report.failures)} would not open, audited as key.open_failed)",
                   err=True)  # fmt: skip
        raise typer.Exit(1)


@app.command("retire")
def keys_retire(
    key: Annotated[str, typer.Argument(help="The key id (or its first digits) from 'status'.")],
    force: Annotated[
        bool, typer.Option(help="Even if values are still sealed by it (they stop opening).")
    ] = False,
) -> None:
    """Remove an older key from the key file once it seals nothing ('keys status' shows 0)."""
    from data.crypto import load_vault
    from data.db import session_scope
    from data.keyring import retire_key

    settings = Settings.from_env()
    require_schema(settings)
    try:
        vault = load_vault(settings)
        with session_scope(settings.database_url) as session:
            keyring, retired = retire_key(session, settings, vault, key, actor=shell_actor(),
                                          now=utc_now(), force=force)  # fmt: skip
    except CertpushError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"retired key {retired.hex()}: {settings.master_key_file} holds "
               f"{len(keyring.keys)} key(s), current {keyring.key_id.hex()}")  # fmt: skip
