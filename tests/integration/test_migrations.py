"""Alembic migrations build exactly the schema the SQLModel tables describe, on both databases."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
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
from adapters.storage.keys import product_key
from adapters.storage.migrate import alembic_config, current_matches_head, upgrade_to_head
from adapters.storage.schema import at_head
from adapters.storage.tables import metadata
from adapters.storage.uow import SqlUnitOfWorkFactory
from core.model import ChatAddress, ProductStatus
from migrations import HEAD_REVISION

REVISION_0003 = importlib.import_module("migrations.versions.0003_claims_offers_url_key")

TABLES = {
    "alembic_version",
    "app_state",
    "audit_log",
    "chats",
    "feeds",
    "holdings",
    "market_items",
    "market_prices",
    "marketplace_data",
    "offers",
    "portfolio_snapshots",
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
                    "INSERT INTO products (url_key, url, availability, status, failure_count) "
                    "VALUES (:key, 'https://shop.example/kept', 'unknown', 'ok', 0)"
                ),
                {"key": product_key("https://shop.example/kept", None)},
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


@dataclass(frozen=True)
class _OldAmounts:
    """SQL literals of what earlier versions may have stored, in one dialect's form."""

    insane: tuple[str, ...]  # NaN, infinities, 1e400, zero or less, 1e12
    edge: tuple[str, ...]  # just inside the bounds: kept
    text_amounts: bool  # SQLite keeps ExactDecimal as text, PostgreSQL as NUMERIC
    at: str
    true: str

    def sane(self, amount: str) -> str:
        return f"'{amount}'" if self.text_amounts else amount


_OLD_AMOUNTS = {
    "sqlite": _OldAmounts(
        insane=("'1E+400'", "'NaN'", "'Infinity'", "'-5'", "'0'", "'1000000000000'"),
        # As REAL, the first is 1e12 and the second 0.0: the exact amounts decide.
        edge=("'999999999999.9999999'", "'1E-400'"),
        text_amounts=True,
        at="'2026-01-05 09:00:00.000000'",
        true="1",
    ),
    "postgresql": _OldAmounts(
        insane=("'NaN'::numeric", "1e400", "-5", "0", "1000000000000", "-1e400"),
        edge=("999999999999.9999999", "1e-400"),
        text_amounts=False,
        at="'2026-01-05 09:00:00+00'",
        true="true",
    ),
}


async def test_upgrade_to_0003_repairs_what_earlier_versions_stored(fresh_url: str) -> None:
    sentences = REVISION_0003.REASON_SENTENCES
    sentence = next(text for text, code in sentences.items() if code == "not_found")
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_url), "0002")

    engine = make_engine(fresh_url)
    dialect = engine.dialect.name
    old = _OLD_AMOUNTS[dialect]
    bad, sane, at, true = old.insane, old.sane, old.at, old.true
    long_url = "https://shop.example/p?ref=" + "x" * (300 - len("https://shop.example/p?ref="))
    try:
        async with engine.begin() as conn:
            columns = "url, availability, status, failure_count, css_selector, body_digest"
            money = "price, low_30d, high_30d, avg_30d, low_all, high_all"
            await conn.execute(
                text(
                    f"INSERT INTO products (id, {columns}, {money}) VALUES "
                    f"(1, 'https://shop.example/insane', 'InStock', 'ok', 0, NULL, 'digest-1', "
                    f"{bad[0]}, {bad[1]}, {bad[2]}, {bad[3]}, {bad[4]}, {bad[5]}), "
                    f"(2, 'https://shop.example/sane', 'InStock', 'ok', 0, '.price', 'digest-2', "
                    f"{sane('19.99')}, {sane('0.01')}, {sane('999999999999.99')}, "
                    f"{sane('12.50')}, {old.edge[0]}, {old.edge[1]})"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO products (id, url, availability, status, failure_count, "
                    "status_reason) VALUES "
                    f"(3, '{long_url}', 'unknown', 'broken', 4, :sentence), "
                    "(4, 'https://shop.example/coded', 'unknown', 'broken', 1, 'timeout'), "
                    "(5, 'https://shop.example/other', 'unknown', 'broken', 1, 'Some other text')"
                ),
                {"sentence": sentence},
            )
            await conn.execute(
                text(
                    "INSERT INTO price_points (id, product_id, observed_at, price, currency, "
                    f"availability) VALUES (1, 2, {at}, {bad[0]}, 'EUR', 'InStock'), "
                    f"(2, 2, {at}, {sane('19.99')}, 'EUR', 'InStock'), "
                    f"(3, 2, {at}, {bad[3]}, 'EUR', 'InStock'), "
                    f"(4, 2, {at}, NULL, NULL, 'unknown')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO watches (id, owner, product_id, platform, chat_id, rule_kind, "
                    "target_amount, target_currency, created_at, active, target_armed, "
                    "baseline_price, baseline_currency, last_alert_price) VALUES "
                    f"(1, 'telegram:1', 2, 'telegram', '1', 'target', {bad[1]}, 'EUR', "
                    f"{at}, {true}, {true}, {bad[2]}, 'EUR', "
                    f"{sane('18.00')}), "
                    f"(2, 'telegram:1', 3, 'telegram', '1', 'target', {sane('25.00')}, 'EUR', "
                    f"{at}, {true}, {true}, {bad[3]}, 'EUR', {bad[0]})"
                )
            )
            if dialect == "postgresql":  # ids were given: move the sequences past them
                for table in ("products", "price_points", "watches"):
                    await conn.execute(
                        text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                    )

        await asyncio.to_thread(upgrade_to_head, fresh_url)

        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, url_key, body_digest FROM products"))).all()
        keys = {row.id: row.url_key for row in rows}
        digests = {row.id: row.body_digest for row in rows}
        factory = SqlUnitOfWorkFactory(engine)
        try:
            async with factory() as uow:
                chat = ChatAddress("telegram", "1")
                watches = await uow.watches.list_in_chat(chat)
                products = await uow.products.get_many([1, 2, 3, 4, 5])
                latest = await uow.price_points.latest_many([1, 2, 3])
                points = await uow.price_points.since(2, datetime(2026, 1, 1, tzinfo=UTC))
                found_long = await uow.products.get_by_url(long_url)
                found_sane = await uow.products.get_by_url("https://shop.example/sane", ".price")
                assert await uow.products.get_by_url("https://shop.example/sane") is None
        finally:
            await factory.aclose()
    finally:
        await engine.dispose()

    insane, kept, long, coded, other = (products[n] for n in range(1, 6))
    money = ("price", "low_30d", "high_30d", "avg_30d", "low_all", "high_all")
    assert [getattr(insane, column) for column in money] == [None] * 6
    assert [getattr(kept, column) for column in money] == [
        Decimal("19.99"),
        Decimal("0.01"),
        Decimal("999999999999.99"),
        Decimal("12.50"),
        Decimal("999999999999.9999999"),
        Decimal("1E-400"),
    ]
    # A cleared amount forgets the page digest too, so the next check reads the page again.
    assert digests == {1: None, 2: "digest-2", 3: None, 4: None, 5: None}
    assert [p.price for p in points] == [None, Decimal("19.99"), None, None]
    assert latest[2].id == 4 and set(latest) == {2}

    assert [w.id for w in watches] == [1, 2]
    first, second = watches
    assert first.rule.target is None and first.baseline_price is None
    assert first.last_alert_price == Decimal("18.00")
    assert second.rule.target is not None and second.rule.target.amount == Decimal("25.00")
    assert (second.baseline_price, second.last_alert_price) == (None, None)

    assert (long.status, long.status_reason) == (ProductStatus.BROKEN, "not_found")
    assert coded.status_reason == "timeout"
    assert other.status_reason == "Some other text"  # not one of the old sentences: kept

    assert keys == {
        product.id: product_key(product.url, product.css_selector)
        for product in (insane, kept, long, coded, other)
    }
    assert found_long is not None and found_long.id == 3 and found_long.url == long_url
    assert found_sane is not None and found_sane.id == 2


async def test_0007_moves_the_seller_fee_out_of_the_rows_and_back(fresh_url: str) -> None:
    """The fee is a setting from 0007 on: the rows keep their market, lose the fee; going back
    gives each row its platform's documented default fee (0 for one without a default)."""
    await asyncio.to_thread(command.upgrade, alembic_config(fresh_url), "0006")
    engine = make_engine(fresh_url)
    old = _OLD_AMOUNTS[engine.dialect.name]
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO market_items (id, item_key, kind, name) "
                    "VALUES (1, 'k-1', 'card', 'Black Lotus')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO marketplace_data (id, item_id, platform, item_ref, currency, "
                    "lowest_ask, fee, as_of) VALUES "
                    f"(1, 1, 'stockx', 'p-1:v-1', 'USD', {old.sane('238.00')}, "
                    f"{old.sane('0.10')}, {old.at}), "
                    f"(2, 1, 'ebay', 'https://www.ebay.com/itm/1', 'USD', {old.sane('230.00')}, "
                    f"{old.sane('0.1325')}, {old.at})"
                )
            )

        await asyncio.to_thread(upgrade_to_head, fresh_url)
        async with engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("marketplace_data")}
            )
            refs = (
                await conn.execute(text("SELECT item_ref FROM marketplace_data ORDER BY id"))
            ).scalars()
            assert list(refs) == ["p-1:v-1", "https://www.ebay.com/itm/1"]
        assert "fee" not in columns and "lowest_ask" in columns
        assert await _on_connection(fresh_url, _diff) == []

        await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), "0006")
        async with engine.connect() as conn:
            fees = (
                await conn.execute(text("SELECT platform, fee FROM marketplace_data ORDER BY id"))
            ).all()
        assert [(platform, Decimal(str(fee))) for platform, fee in fees] == [
            ("stockx", Decimal("0.12")),
            ("ebay", Decimal("0")),
        ]
        with pytest.raises(Exception, match=r"ck_marketplace_data_fee|CHECK constraint failed"):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE marketplace_data SET fee = '1.5' WHERE id = 1"))
        with pytest.raises(Exception, match=r"(?i)null"):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO marketplace_data (item_id, platform, item_ref, currency, "
                        f"as_of) VALUES (1, 'goat', 'g-1', 'USD', {old.at})"
                    )
                )
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade_to_head, fresh_url)
    assert await _on_connection(fresh_url, _diff) == []
