"""Whether a database's schema is at the newest revision, read without loading Alembic."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from migrations import HEAD_REVISION


async def at_head(engine: AsyncEngine) -> bool:
    """True when the database records exactly the newest revision. False for anything else
    (no version table yet, an older or unknown revision, several heads): the caller then
    asks Alembic, which knows how to upgrade or explain."""
    try:
        async with engine.connect() as connection:
            versions = (
                (await connection.execute(text("SELECT version_num FROM alembic_version")))
                .scalars()
                .all()
            )
    except DBAPIError:
        return False  # no alembic_version table: a new database
    return list(versions) == [HEAD_REVISION]
