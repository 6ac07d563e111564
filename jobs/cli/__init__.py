"""The ``certpush`` command line: the same services as the UI, for operators and scripts.

It lives in jobs/ because it is the one front end that may reach every layer
(it will push and sweep); the web process itself never imports jobs/.
Bad input is reported, never raised: every command turns CertpushError into a
one-line message and exit code 1 for tool failures only where documented.

One module per noun, each a thin typer layer over the services in data/ and jobs/;
this module only assembles them, in the order ``certpush --help`` lists them.
Every module here is imported for ``--help``, so at module level they import only
the standard library, typer, ``data.config``, ``data.domain.errors`` and
``jobs.cli.common``; SQLAlchemy, pandas, paramiko, the report writers and the
scheduler are imported inside the commands that use them
(tests/integration/test_cli_package.py checks it).
"""

from __future__ import annotations

import sys

import typer

from data.domain.errors import CertpushError
from jobs.cli import (
    certs,
    connectors,
    db,
    demo,
    keys,
    policy,
    push,
    reports,
    serve,
    users,
    verify,
    workorders,
)

app = typer.Typer(
    help="certpush: push certificates to devices under two-level approval, then prove them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.command("import")(certs.import_command)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("verify")(verify.verify_command)
app.command("report")(reports.report_command)
app.command("report-weekly")(reports.report_weekly_command)
app.command("scheduler")(serve.scheduler_command)

app.add_typer(db.app, name="db")
app.add_typer(certs.app, name="certs")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.add_typer(connectors.app, name="connectors")
app.add_typer(push.app, name="push")
app.add_typer(workorders.app, name="workorders")
app.add_typer(policy.app, name="policy")


def main() -> None:
    """Console-script entry point: turn expected errors into one line, never a traceback."""
    try:
        app()
    except CertpushError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
