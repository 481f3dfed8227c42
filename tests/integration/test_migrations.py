"""Alembic migrations build exactly the schema the SQLModel tables describe, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, inspect, text
from sqlalchemy.engine import Connection

from adapters.storage.engine import make_engine
from adapters.storage.migrate import alembic_config, current_matches_head, upgrade_to_head
from adapters.storage.schema import at_head
from adapters.storage.tables import metadata
from migrations import HEAD_REVISION

TABLES = {
    "alembic_version",
    "audit_log",
    "chats",
    "feeds",
    "holdings",
    "outbox",
    "price_points",
    "products",
    "users",
    "watches",
}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no tables at all) of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("fresh_postgres_url")


async def _on_connection(url: str, work: Any) -> Any:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _diff(connection: Connection, target: MetaData = metadata) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, target)


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_builds_exactly_the_models(fresh_url: str) -> None:
    assert await asyncio.to_thread(current_matches_head, fresh_url) is False
    await asyncio.to_thread(upgrade_to_head, fresh_url)

    assert await _on_connection(fresh_url, _table_names) == TABLES
    assert await _on_connection(fresh_url, _diff) == []
    assert await asyncio.to_thread(current_matches_head, fresh_url) is True


async def test_the_comparison_does_see_a_difference(fresh_url: str) -> None:
    """Guards the test above: a model the migrations do not build must show up as a diff."""
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["products"].append_column(Column("brand", String(64), nullable=True))

    diff = await _on_connection(fresh_url, lambda conn: _diff(conn, changed))
    assert [(op[0], op[2], op[3].name) for op in diff] == [("add_column", "products", "brand")]


async def test_upgrading_twice_is_harmless(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    engine = make_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO products (url, availability, status, failure_count) "
                    "VALUES ('https://shop.example/kept', 'unknown', 'ok', 0)"
                )
            )
        await asyncio.to_thread(upgrade_to_head, fresh_url)
        async with engine.connect() as conn:
            urls = (await conn.execute(text("SELECT url FROM products"))).scalars().all()
    finally:
        await engine.dispose()
    assert urls == ["https://shop.example/kept"]
    assert await _on_connection(fresh_url, _diff) == []


async def test_downgrade_to_base_removes_everything(fresh_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), "base")
    assert await _on_connection(fresh_url, _table_names) == {"alembic_version"}
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    assert await _on_connection(fresh_url, _diff) == []


async def test_upgrade_from_a_running_event_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'from-loop.db'}"
    # Called directly it would block the loop, and its own asyncio.run would fail:
    # it says how to call it instead.
    with pytest.raises(RuntimeError, match=r"asyncio\.to_thread"):
        upgrade_to_head(url)
    await asyncio.to_thread(upgrade_to_head, url)
    assert await asyncio.to_thread(current_matches_head, url) is True


def test_upgrade_from_plain_sync_code(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    assert current_matches_head(f"sqlite+aiosqlite:///{path}") is True
    # Connections are closed and the WAL checkpointed: the file alone is the database.
    assert not Path(f"{path}-wal").exists()


def test_migrations_do_not_depend_on_the_repository_alembic_ini() -> None:
    config = alembic_config("sqlite+aiosqlite:///unused.db")
    assert config.config_file_name is None
    script_location = Path(config.get_main_option("script_location") or "")
    assert (script_location / "env.py").is_file()
    assert (script_location / "versions" / "0001_initial.py").is_file()


def test_head_revision_constant_is_alembics_head() -> None:
    """Start-up trusts migrations.HEAD_REVISION to skip Alembic; a new revision must move it."""
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
    assert script.get_heads() == [HEAD_REVISION]


async def test_schema_check_without_alembic_follows_the_version(fresh_url: str) -> None:
    async def check() -> bool:
        engine = make_engine(fresh_url)
        try:
            return await at_head(engine)
        finally:
            await engine.dispose()

    assert await check() is False  # no tables at all
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    assert await check() is True
    await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), "0001")
    assert await check() is False  # an older schema: Alembic gets the say again
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    assert await check() is True
