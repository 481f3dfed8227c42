"""Real databases for integration tests: fresh PostgreSQL databases and migrated SQLite files."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.storage.migrate import upgrade_to_head
from tests.conftest import POSTGRES_URL


def _asyncpg_dsn(url: str) -> str:
    """asyncpg wants postgresql://..., SQLAlchemy says postgresql+asyncpg://..."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin_sql(url: str, sql: str) -> None:
    """Runs one statement on the PostgreSQL database at `url` (outside any transaction)."""
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_postgres_database(server_url: str, prefix: str = "pricebot_test") -> str:
    """Creates an empty, uniquely named database on the server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin_sql(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    # FORCE: a test that failed half-way may leave a connection open.
    asyncio.run(admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The PostgreSQL server's URL; fails (never skips) when it cannot be reached: CI
    always runs one, so a missing server is a broken setup, not a reason to pass."""
    try:
        asyncio.run(admin_sql(POSTGRES_URL, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        error = exc
    else:
        return POSTGRES_URL
    shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
    pytest.fail(
        f"PostgreSQL is not reachable at {shown}: {error!r}. Start it (pg_ctlcluster <ver> "
        "main start) or point PRICEBOT_TEST_POSTGRES_URL at a server.",
        pytrace=False,
    )


@pytest.fixture
def fresh_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own for one test, dropped afterwards."""
    url = create_postgres_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_postgres_database(postgres_server_url, url)


@pytest.fixture(scope="module")
def migrated_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A PostgreSQL database at the newest schema, shared by one test module (tests clean
    the tables they use), dropped afterwards."""
    url = create_postgres_database(postgres_server_url)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        drop_postgres_database(postgres_server_url, url)


@pytest.fixture(scope="module")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema; copy it rather than migrating per test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def migrated_sqlite_url(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    """A SQLite database file of its own for one test, at the newest schema."""
    path = tmp_path / "pricebot.db"
    # The template is closed and checkpointed (migrations use a NullPool engine), so the
    # main file alone holds the schema.
    shutil.copyfile(migrated_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"])
def sql_database_url(request: pytest.FixtureRequest) -> str:
    """A database at the newest schema with empty tables, on each of SQLite and PostgreSQL
    (the PostgreSQL one is shared by the module and emptied for each test)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("migrated_sqlite_url"))
    url: str = request.getfixturevalue("migrated_postgres_url")
    from adapters.storage.tables import metadata

    names = ", ".join(table.name for table in metadata.sorted_tables)
    asyncio.run(admin_sql(url, f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return url
