"""Schema migrations from code: upgrade a database to the newest Alembic revision."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

import migrations
from adapters.storage.engine import make_engine

# __path__ rather than __file__: an editable install may expose the package as a namespace.
MIGRATIONS_DIR = Path(next(iter(migrations.__path__))).resolve()


def alembic_config(database_url: str) -> Config:
    """Alembic configuration built in code (no alembic.ini), pointing at the installed
    migrations package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not a main option: ini interpolation would mangle a '%'
    # in an escaped password.
    cfg.attributes["database_url"] = database_url
    return cfg


def _refuse_inside_event_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{name} blocks and starts its own event loop; from async code call it as "
        f"`await asyncio.to_thread({name}, url)`"
    )


def upgrade_to_head(database_url: str) -> None:
    """Upgrades the schema to the newest revision; does nothing when already there.

    Blocking: from async code run it with `await asyncio.to_thread(upgrade_to_head, url)`.
    """
    _refuse_inside_event_loop("upgrade_to_head")
    command.upgrade(alembic_config(database_url), "head")


def current_matches_head(database_url: str) -> bool:
    """True when the database is at the newest revision (e.g. to refuse to start on an
    old schema). Blocking, like upgrade_to_head."""
    _refuse_inside_event_loop("current_matches_head")
    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())

    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async def read_current() -> set[str]:
        engine = make_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(current)
        finally:
            await engine.dispose()

    return asyncio.run(read_current()) == heads
