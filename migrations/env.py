"""Alembic environment: runs revisions on pricebot's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging.config
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from adapters.storage.engine import make_engine
from adapters.storage.tables import metadata
from adapters.storage.types import ExactDecimal, UTCDateTime

config = context.config

# Only the alembic CLI (alembic.ini) configures logging; upgrade_to_head leaves the
# application's logging alone.
if config.config_file_name is not None and config.get_section("loggers"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The URL passed by upgrade_to_head, else `alembic -x url=...`, else alembic.ini."""
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get(
        "url"
    )
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Writes pricebot's column types into revisions as plain SQLAlchemy types, so a
    revision keeps meaning the same DDL whatever later happens to adapters/storage/types.py."""
    if type_ == "type" and isinstance(obj, ExactDecimal):
        return "sa.Numeric().with_variant(sa.String(), 'sqlite')"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else url.split(":")[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=dialect.startswith("sqlite"),
        render_item=render_item,
        compare_type=True,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: prints the SQL instead of running it."""
    configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch mode drops and recreates tables; with foreign keys on, dropping a
        # referenced table would cascade or fail. Must run outside a transaction.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        # End the transaction SQLAlchemy auto-began, or Alembic would treat it as the
        # caller's and never commit the migration.
        connection.commit()
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = make_engine(database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
