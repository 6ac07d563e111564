"""``certpush db``: the database schema."""

from __future__ import annotations

import typer

from data.config import Settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version (safe to repeat)."""
    from data.schema import upgrade  # alembic is slow to import: only where needed

    settings = Settings.from_env()
    upgrade(settings.database_url)
    typer.echo("database schema is up to date")
