"""Alembic environment: the URL comes from certpush's settings, not from an ini file."""

from __future__ import annotations

from alembic import context

from data.config import Settings
from data.db import make_engine
from data.models import Base

config = context.config
IGNORED_TABLES = {"apscheduler_jobs"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Leave APScheduler's table and SQLite's FTS shadow tables to their owners."""
    return not (
        type_ == "table" and (name in IGNORED_TABLES or name.startswith("certificates_fts"))
    )


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    connectable = config.attributes.get("connection") or make_engine(url)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
