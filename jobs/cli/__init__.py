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
    agents,
    audit,
    certs,
    connectors,
    db,
    demo,
    evidence,
    keys,
    notify,
    policy,
    profiles,
    push,
    reports,
    rollouts,
    serve,
    tokens,
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
app.command("evidence")(evidence.evidence_command)
app.command("agent")(agents.agent_command)
app.command("central")(agents.central_command)

NOUNS: dict[str, typer.Typer] = {
    "db": db.app,
    "certs": certs.app,
    "users": users.app,
    "tokens": tokens.app,
    "keys": keys.app,
    "connectors": connectors.app,
    "push": push.app,
    "workorders": workorders.app,
    "rollouts": rollouts.app,
    "policy": policy.app,
    "profiles": profiles.app,
    "audit": audit.app,
    "agents": agents.app,
    "notify": notify.app,
}
for _name, _noun in NOUNS.items():
    app.add_typer(_noun, name=_name)


def app_for(argv: list[str]) -> typer.Typer:
    """The root for this command line: for ``certpush NOUN …`` one holding just that noun.

    typer turns every registered function into a click command before it runs one (about
    40 ms for all of ours, a tenth of a ``certs list``); a noun's commands alone cost a few.
    Anything else (the top-level commands, ``--help``, a typo) gets the whole app, so
    listings and error messages are unchanged.
    """
    noun = NOUNS.get(argv[1]) if len(argv) > 1 else None
    if noun is None:
        return app
    root = typer.Typer(
        help=app.info.help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.add_typer(noun, name=argv[1])
    return root


def main() -> None:
    """Console-script entry point: turn expected errors into one line, never a traceback."""
    try:
        app_for(sys.argv)()
    except CertpushError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
