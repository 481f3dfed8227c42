"""Repository contract: the memory fake, SQLite (file) and PostgreSQL behave the same."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from adapters.storage import inline_sqlite
from adapters.storage.engine import make_engine
from adapters.storage.tables import chats, metadata, users
from adapters.storage.uow import SqlUnitOfWorkFactory
from core.market import MarketplaceData
from core.model import (
    Availability,
    ChatAddress,
    OutboxMessage,
    OutboxStatus,
    PricePoint,
    Product,
    ProductStatus,
    Rule,
    RuleKind,
    Stats,
    Watch,
)
from core.money import Money
from core.portfolio import Holding, ItemKind, MarketItem, MarketPrice, MarketStats
from core.ports import UnitOfWork, UnitOfWorkFactory
from tests.fakes.memory import MemoryStore, MemoryUnitOfWorkFactory
from tests.integration.conftest import admin_sql

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALICE = "telegram:1001"
BOB = "discord:2002"
DM = ChatAddress("telegram", "1001")
GROUP = ChatAddress("telegram", "-100500")
GROUP_TOPIC = ChatAddress("telegram", "-100500", "7")
# Chats that are not GROUP: another chat id, and the same chat id on another platform.
OTHER_GROUP = ChatAddress("telegram", "-100501")
GROUP_ON_DISCORD = ChatAddress("discord", "-100500")

ChatState = tuple[str, bool, str | None]  # kind, active, inactive reason
UserState = tuple[str, bool]  # display name, banned


@dataclass
class Backend:
    """One storage implementation plus the few raw operations the ports do not offer."""

    name: str
    factory: UnitOfWorkFactory
    chat_state: Callable[[ChatAddress], Awaitable[ChatState | None]]
    user_rows: Callable[[], Awaitable[dict[str, UserState]]]


@pytest.fixture
def clean_postgres_url(migrated_postgres_url: str) -> str:
    """The module's PostgreSQL database, its tables emptied for this test."""
    names = ", ".join(table.name for table in metadata.sorted_tables)
    asyncio.run(admin_sql(migrated_postgres_url, f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return migrated_postgres_url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None for the memory fake, else the URL of an empty database at the newest schema."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return request.getfixturevalue("migrated_sqlite_url")
    return request.getfixturevalue("clean_postgres_url")


def memory_backend() -> Backend:
    store = MemoryStore()

    async def chat_state(address: ChatAddress) -> ChatState | None:
        state = store.chats.get((address.platform, address.chat_id))
        return None if state is None else (state.kind, state.active, state.inactive_reason)

    async def user_rows() -> dict[str, UserState]:
        return {key: (state.display_name, state.banned) for key, state in store.users.items()}

    return Backend("memory", MemoryUnitOfWorkFactory(store), chat_state, user_rows)


@asynccontextmanager
async def sql_backend(database_url: str) -> AsyncIterator[Backend]:
    engine = make_engine(database_url)

    async def chat_state(address: ChatAddress) -> ChatState | None:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(chats.c.kind, chats.c.active, chats.c.inactive_reason).where(
                        chats.c.platform == address.platform, chats.c.chat_id == address.chat_id
                    )
                )
            ).first()
        return None if row is None else (row.kind, row.active, row.inactive_reason)

    async def user_rows() -> dict[str, UserState]:
        async with engine.connect() as conn:
            rows = await conn.execute(select(users.c.key, users.c.display_name, users.c.banned))
            return {row.key: (row.display_name, row.banned) for row in rows}

    factory = SqlUnitOfWorkFactory(engine)
    try:
        yield Backend(engine.dialect.name, factory, chat_state, user_rows)
    finally:
        await factory.aclose()
        await engine.dispose()


@pytest.fixture
async def backend(database_url: str | None) -> AsyncIterator[Backend]:
    if database_url is None:
        yield memory_backend()
        return
    async with sql_backend(database_url) as sql:
        yield sql


# ----- helpers --------------------------------------------------------------------------


def a_product(url: str = "https://shop.example/p/1", **fields: object) -> Product:
    return replace(Product(id=None, url=url), **fields)  # type: ignore[arg-type]


def a_watch(owner: str, product_id: int, address: ChatAddress = DM, **fields: object) -> Watch:
    watch = Watch(
        id=None,
        owner=owner,
        product_id=product_id,
        address=address,
        rule=Rule(RuleKind.ANY_DROP),
        created_at=NOW,
    )
    return replace(watch, **fields)  # type: ignore[arg-type]


def a_point(product_id: int, days_ago: float, price: str) -> PricePoint:
    """An in-stock euro price point, `days_ago` before NOW."""
    return PricePoint(
        None,
        product_id,
        NOW - timedelta(days=days_ago),
        Decimal(price),
        "EUR",
        Availability.IN_STOCK,
    )


def a_message(key: str, address: ChatAddress = DM, **fields: object) -> OutboxMessage:
    message = OutboxMessage(
        id=None,
        dedupe_key=key,
        address=address,
        payload={"blocks": [f"message {key}"], "buttons": [], "is_error": False},
        created_at=NOW,
        owner=ALICE,
    )
    return replace(message, **fields)  # type: ignore[arg-type]


def a_long_url(length: int, seed: int = 0) -> str:
    """A product URL of exactly `length` characters that does not compress, so an index
    entry holding it could not be squeezed under PostgreSQL's btree limit."""
    prefix = "https://shop.example/p?ref="
    rng = random.Random(length * 1000 + seed)
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(rng.choice(alphabet) for _ in range(length - len(prefix)))


async def committed(backend: Backend, work: Callable[[UnitOfWork], Awaitable[object]]) -> object:
    """Runs `work` in its own unit of work and commits it."""
    async with backend.factory() as uow:
        result = await work(uow)
        await uow.commit()
    return result


async def store_product(backend: Backend, product: Product) -> int:
    stored = await committed(backend, lambda uow: uow.products.get_or_add(product))
    assert isinstance(stored, Product) and stored.id is not None
    return stored.id


async def add_product(
    backend: Backend, url: str = "https://shop.example/p/1", **fields: object
) -> int:
    return await store_product(backend, a_product(url, **fields))


async def store_watch(backend: Backend, watch: Watch) -> int:
    stored = await committed(backend, lambda uow: uow.watches.add(watch))
    assert isinstance(stored, Watch) and stored.id is not None
    return stored.id


async def add_watch(backend: Backend, owner: str, product_id: int, **fields: object) -> int:
    return await store_watch(backend, a_watch(owner, product_id, **fields))


async def stored_product(backend: Backend, product_id: int) -> Product:
    async with backend.factory() as uow:
        product = await uow.products.get(product_id)
    assert product is not None
    return product


async def hold(backend: Backend, owner: str, item: MarketItem, quantity: int = 1) -> Holding:
    """`owner` holds `quantity` of `item` (stored first), in their private chat."""

    async def work(uow: UnitOfWork) -> Holding:
        stored = await uow.items.get_or_add(item)
        return await uow.holdings.add(
            Holding(None, owner, DM, stored.id or 0, quantity, created_at=NOW)
        )

    held = await committed(backend, work)
    assert isinstance(held, Holding)
    return held


# ----- products -------------------------------------------------------------------------


async def test_product_round_trips_every_field(backend: Backend) -> None:
    cest = timezone(timedelta(hours=2))
    original = a_product(
        title="Espresso machine",
        image="https://shop.example/p/1.jpg",
        currency="EUR",
        price=Decimal("1299.99"),
        availability=Availability.IN_STOCK,
        status=ProductStatus.BROKEN,
        status_reason="not_found",
        failure_count=3,
        next_check_at=NOW,
        last_checked_at=datetime(2026, 1, 5, 11, 0, tzinfo=cest),  # 09:00 UTC
        last_success_at=NOW - timedelta(days=1),
        etag='W/"abc"',
        last_modified="Mon, 05 Jan 2026 08:00:00 GMT",
        css_selector=".price",
        low_30d=Decimal("0.000001"),
        high_30d=Decimal("12800"),
        avg_30d=Decimal("1149.995"),
        low_all=Decimal("999.00"),
        high_all=Decimal("1500.50"),
        body_digest="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        claim_token="0123456789abcdef0123456789abcdef",
    )
    product_id = await store_product(backend, replace(original))

    async with backend.factory() as uow:
        by_id = await uow.products.get(product_id)
        by_url = await uow.products.get_by_url(original.url, ".price")
        assert await uow.products.get(product_id + 1000) is None
        assert await uow.products.get_by_url("https://shop.example/other", ".price") is None

    assert by_id == by_url == replace(original, id=product_id)
    assert by_id is not None and by_id.last_checked_at is not None
    assert by_id.last_checked_at.tzinfo == UTC
    assert by_id.last_checked_at == NOW


@pytest.mark.parametrize("amount", ["1299.99", "0.000001", "12800", "0.10", "123456789012.345678"])
async def test_decimal_amounts_round_trip_exactly(backend: Backend, amount: str) -> None:
    value = Decimal(amount)
    product_id = await add_product(backend, price=value, currency="USD")
    await committed(
        backend,
        lambda uow: uow.price_points.add(
            PricePoint(None, product_id, NOW, value, "USD", Availability.IN_STOCK)
        ),
    )
    async with backend.factory() as uow:
        product = await uow.products.get(product_id)
        point = await uow.price_points.latest(product_id)
    assert product is not None and point is not None
    for stored in (product.price, point.price):
        assert isinstance(stored, Decimal)
        assert stored == value
        assert str(stored) == str(value)  # same digits, not merely an equal float


async def test_datetimes_come_back_aware_utc(backend: Backend) -> None:
    tokyo = timezone(timedelta(hours=9))
    local = datetime(2026, 1, 5, 18, 30, 15, 123456, tzinfo=tokyo)
    product_id = await add_product(backend, next_check_at=local)
    product = await stored_product(backend, product_id)
    assert product.next_check_at is not None
    assert product.next_check_at.tzinfo == UTC
    assert product.next_check_at == datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC)


async def test_naive_datetimes_are_refused(backend: Backend) -> None:
    async with backend.factory() as uow:
        with pytest.raises(Exception, match="naive datetime"):
            await uow.products.get_or_add(a_product(next_check_at=datetime(2026, 1, 5, 9, 0)))


async def test_update_persists_and_returned_objects_are_copies(backend: Backend) -> None:
    product_id = await add_product(backend)
    async with backend.factory() as uow:
        product = await uow.products.get(product_id)
        assert product is not None
        product.price, product.currency = Decimal("25.99"), "EUR"
        await uow.products.update(product)
        product.title = "changed after update, never saved"
        await uow.commit()
    stored = await stored_product(backend, product_id)
    assert (stored.price, stored.currency, stored.title) == (Decimal("25.99"), "EUR", None)


async def test_get_or_add_returns_the_stored_row_of_the_same_url_and_selector(
    backend: Backend,
) -> None:
    url = "https://shop.example/same"
    plain = await add_product(backend, url, title="first", price=Decimal("10.00"), currency="EUR")

    async with backend.factory() as uow:
        again = await uow.products.get_or_add(a_product(url, title="second"))
        priced = await uow.products.get_or_add(a_product(url, css_selector=".price"))
        # In the same unit of work, before its commit, the new row is found too.
        priced_again = await uow.products.get_or_add(
            a_product(url, css_selector=".price", title="ignored")
        )
        await uow.commit()
    assert again.id == plain
    # The stored row, not the one passed in: nothing of "second" was written.
    assert (again.title, again.price, again.css_selector) == ("first", Decimal("10.00"), None)
    assert priced.id is not None and priced.id != plain
    assert priced_again.id == priced.id and priced_again.title is None

    async with backend.factory() as uow:
        later = await uow.products.get_or_add(a_product(url, css_selector=".price"))
        everything = await uow.products.get_many([plain, priced.id, priced.id + 1])
    assert later.id == priced.id
    assert set(everything) == {plain, priced.id}
    assert everything[plain].title == "first"
    assert (everything[priced.id].url, everything[priced.id].css_selector) == (url, ".price")


async def test_get_by_url_with_and_without_selector(backend: Backend) -> None:
    url = "https://shop.example/two-ways"
    only_selected = "https://shop.example/selected-only"
    plain = await add_product(backend, url)
    priced = await add_product(backend, url, css_selector=".price")
    selected = await add_product(backend, only_selected, css_selector="#now")

    async with backend.factory() as uow:
        found_plain = await uow.products.get_by_url(url)
        found_none = await uow.products.get_by_url(url, None)
        found_priced = await uow.products.get_by_url(url, ".price")
        assert await uow.products.get_by_url(url, ".other") is None
        assert await uow.products.get_by_url(url, "#now") is None
        # A page read only through a selector has no plain product.
        assert await uow.products.get_by_url(only_selected) is None
        found_selected = await uow.products.get_by_url(only_selected, "#now")
        assert await uow.products.get_by_url("https://shop.example/nothing") is None
    assert found_plain is not None and found_plain.id == plain
    assert found_plain.css_selector is None
    assert found_none == found_plain
    assert found_priced is not None and found_priced.id == priced
    assert found_priced.css_selector == ".price"
    assert found_selected is not None and found_selected.id == selected


async def test_claim_due_only_takes_products_someone_wants(backend: Backend) -> None:
    watched = await add_product(backend, "https://shop.example/watched")
    held = await add_product(backend, "https://shop.example/held")
    unwatched = await add_product(backend, "https://shop.example/nobody")
    untracked = await add_product(backend, "https://shop.example/untracked")
    await add_watch(backend, ALICE, watched)
    await add_watch(backend, ALICE, untracked, active=False)
    await hold(backend, BOB, MarketItem(None, ItemKind.PAGE, "held page", product_id=held))
    await hold(backend, BOB, MarketItem(None, ItemKind.CARD, "card", "scryfall", "c-1", "foil"))

    async with backend.factory() as uow:
        claimed = await uow.products.claim_due(NOW, NOW + timedelta(minutes=5), 100, "run-1")
        await uow.commit()
    assert sorted(p.id for p in claimed) == sorted([watched, held])
    assert unwatched not in {p.id for p in claimed}
    assert (await stored_product(backend, unwatched)).claim_token is None


async def test_claim_due_takes_what_is_due_at_due_and_writes_the_token(backend: Backend) -> None:
    ids = {}
    for name, due in [
        ("never", None),
        ("before", NOW - timedelta(minutes=1)),
        ("exact", NOW),
        ("after", NOW + timedelta(microseconds=1)),
    ]:
        ids[name] = await add_product(backend, f"https://shop.example/{name}", next_check_at=due)
        await add_watch(backend, ALICE, ids[name])
    lease = NOW + timedelta(minutes=10)

    async with backend.factory() as uow:
        claimed = await uow.products.claim_due(NOW, lease, 10, "run-a")
        await uow.commit()
    assert [p.id for p in claimed] == [ids["never"], ids["before"], ids["exact"]]
    assert all((p.next_check_at, p.claim_token) == (lease, "run-a") for p in claimed)

    stored = {name: await stored_product(backend, product_id) for name, product_id in ids.items()}
    for name in ("never", "before", "exact"):
        assert (stored[name].next_check_at, stored[name].claim_token) == (lease, "run-a")
    # Not due at `due`: untouched.
    assert stored["after"].claim_token is None
    assert stored["after"].next_check_at == NOW + timedelta(microseconds=1)


async def test_claim_due_orders_oldest_first_limits_and_leases(backend: Backend) -> None:
    ids = {}
    for name, due in [
        ("later", NOW + timedelta(minutes=1)),
        ("old", NOW - timedelta(hours=2)),
        ("never", None),
        ("recent", NOW - timedelta(minutes=1)),
        ("exact", NOW),
    ]:
        ids[name] = await add_product(backend, f"https://shop.example/{name}", next_check_at=due)
        await add_watch(backend, ALICE, ids[name])
    lease = NOW + timedelta(minutes=10)

    async with backend.factory() as uow:
        first = await uow.products.claim_due(NOW, lease, 2, "run-1")
        await uow.commit()
    assert [p.id for p in first] == [ids["never"], ids["old"]]
    assert all(p.next_check_at == lease for p in first)

    async with backend.factory() as uow:
        rest = await uow.products.claim_due(NOW, lease, 10, "run-2")
        await uow.commit()
    assert [p.id for p in rest] == [ids["recent"], ids["exact"]]

    async with backend.factory() as uow:
        assert await uow.products.claim_due(NOW, lease, 10, "run-3") == []
        stored = await uow.products.get(ids["never"])
        assert stored is not None and stored.next_check_at == lease
        assert stored.claim_token == "run-1"
        # Once the lease runs out, the products are due again (the later one too).
        again = await uow.products.claim_due(lease, lease + timedelta(minutes=10), 10, "run-4")
    assert {p.id for p in again} == set(ids.values())
    assert {p.claim_token for p in again} == {"run-4"}


async def test_claim_due_lease_is_dropped_on_rollback(backend: Backend) -> None:
    product_id = await add_product(backend)
    await add_watch(backend, ALICE, product_id)
    lease = NOW + timedelta(hours=1)
    async with backend.factory() as uow:
        assert [p.id for p in await uow.products.claim_due(NOW, lease, 5, "lost")] == [product_id]
    assert (await stored_product(backend, product_id)).claim_token is None
    async with backend.factory() as uow:
        assert [p.id for p in await uow.products.claim_due(NOW, lease, 5, "kept")] == [product_id]


async def test_release_claims_ends_only_the_claims_still_held(backend: Backend) -> None:
    ids = []
    for n in range(3):
        ids.append(await add_product(backend, f"https://shop.example/{n}"))
        await add_watch(backend, ALICE, ids[-1])
    first, second, third = ids
    lease = NOW + timedelta(minutes=5)
    async with backend.factory() as uow:
        assert len(await uow.products.claim_due(NOW, lease, 10, "slow-run")) == 3
        await uow.commit()
    # The slow run's lease runs out; another run claims the first product again.
    async with backend.factory() as uow:
        retaken = await uow.products.claim_due(lease, lease + timedelta(minutes=5), 1, "next-run")
        await uow.commit()
    assert [p.id for p in retaken] == [first]

    async with backend.factory() as uow:
        missing = first + second + third + 1000
        held = await uow.products.release_claims([first, second, third, missing], "slow-run")
        # Released once: a second release finds nothing held any more.
        assert await uow.products.release_claims([second, third], "slow-run") == set()
        assert await uow.products.release_claims([], "slow-run") == set()
        await uow.commit()
    assert held == {second, third}
    tokens = {pid: (await stored_product(backend, pid)).claim_token for pid in ids}
    assert tokens == {first: "next-run", second: None, third: None}

    async with backend.factory() as uow:
        assert await uow.products.release_claims([first], "slow-run") == set()
        assert await uow.products.release_claims([first], "next-run") == {first}
        # Not committed: the claim stays.
    assert (await stored_product(backend, first)).claim_token == "next-run"


async def test_mark_stale(backend: Backend) -> None:
    cutoff = NOW - timedelta(days=2)
    old_ok = await add_product(
        backend, "https://shop.example/a", last_success_at=cutoff - timedelta(seconds=1)
    )
    fresh = await add_product(backend, "https://shop.example/b", last_success_at=cutoff)
    broken = await add_product(
        backend,
        "https://shop.example/c",
        status=ProductStatus.BROKEN,
        last_success_at=cutoff - timedelta(days=9),
    )
    never = await add_product(backend, "https://shop.example/d")

    async with backend.factory() as uow:
        assert await uow.products.mark_stale(cutoff) == 1
        await uow.commit()
    async with backend.factory() as uow:
        statuses = {
            pid: (await uow.products.get(pid)).status for pid in (old_ok, fresh, broken, never)
        }  # type: ignore[union-attr]
        assert await uow.products.mark_stale(cutoff) == 0
    assert statuses == {
        old_ok: ProductStatus.STALE,
        fresh: ProductStatus.OK,
        broken: ProductStatus.BROKEN,
        never: ProductStatus.OK,
    }


# ----- price points ---------------------------------------------------------------------


async def test_price_points_latest_and_since(backend: Backend) -> None:
    product_id = await add_product(backend)
    other_id = await add_product(backend, "https://shop.example/other")

    async def add_points(uow: UnitOfWork) -> list[PricePoint]:
        added = []
        for days_ago, price in [(3, "30.00"), (1, "10.00"), (2, "20.00")]:
            added.append(await uow.price_points.add(a_point(product_id, days_ago, price)))
        await uow.price_points.add(a_point(other_id, 0, "1"))
        return added

    added = await committed(backend, add_points)
    assert isinstance(added, list) and all(p.id is not None for p in added)
    assert len({p.id for p in added}) == 3

    async with backend.factory() as uow:
        assert await uow.price_points.latest(product_id + other_id + 1000) is None
        latest = await uow.price_points.latest(product_id)
        since = await uow.price_points.since(product_id, NOW - timedelta(days=2))
    assert latest is not None and latest.price == Decimal("10.00")
    assert latest.observed_at == NOW - timedelta(days=1) and latest.observed_at.tzinfo == UTC
    assert [p.price for p in since] == [Decimal("20.00"), Decimal("10.00")]
    assert all(p.product_id == product_id for p in since)


async def test_batch_reads_agree_with_the_single_ones(backend: Backend) -> None:
    """A check batch reads products, newest points and watches for many products at once;
    each answer must be what asking product by product gives."""
    quiet = await add_product(backend, "https://shop.example/quiet")  # no points, no watches
    busy = await add_product(backend, "https://shop.example/busy")
    tied = await add_product(backend, "https://shop.example/tied")
    missing = busy + tied + quiet + 1000

    async def add_points(uow: UnitOfWork) -> None:
        for product_id, days_ago, price in [
            (busy, 3, "30.00"),
            (busy, 1, "10.00"),
            (busy, 2, "20.00"),
            (tied, 1, "5.00"),
            (tied, 1, "6.00"),  # same time: the later row is the newer point
        ]:
            await uow.price_points.add(a_point(product_id, days_ago, price))

    await committed(backend, add_points)
    first = await add_watch(backend, ALICE, busy)
    await add_watch(backend, BOB, busy, active=False)
    second = await add_watch(backend, BOB, busy, address=GROUP)
    third = await add_watch(backend, ALICE, tied)

    ids = [quiet, busy, tied, missing]
    async with backend.factory() as uow:
        products = await uow.products.get_many(ids)
        latest = await uow.price_points.latest_many(ids)
        watches = await uow.watches.for_products(ids)
        singles = {i: await uow.products.get(i) for i in ids}
        single_latest = {i: await uow.price_points.latest(i) for i in ids}
        single_watches = {i: await uow.watches.for_product(i) for i in ids}
        assert await uow.products.get_many([]) == {}
        assert await uow.price_points.latest_many([]) == {}
        assert await uow.watches.for_products([]) == {}
    assert products == {i: p for i, p in singles.items() if p is not None}
    assert set(products) == {quiet, busy, tied}
    assert latest == {i: p for i, p in single_latest.items() if p is not None}
    assert latest[busy].price == Decimal("10.00") and latest[tied].price == Decimal("6.00")
    assert watches == single_watches
    assert [w.id for w in watches[busy]] == [first, second]
    assert [w.id for w in watches[tied]] == [third]
    assert watches[quiet] == [] and watches[missing] == []


async def test_price_point_with_no_price_round_trips(backend: Backend) -> None:
    product_id = await add_product(backend)
    point = PricePoint(None, product_id, NOW, None, None, Availability.OUT_OF_STOCK)
    added = await committed(backend, lambda uow: uow.price_points.add(point))
    async with backend.factory() as uow:
        assert await uow.price_points.latest(product_id) == added


async def test_stats_window_currency_and_exact_average(backend: Backend) -> None:
    product_id = await add_product(backend)

    async def add_points(uow: UnitOfWork) -> None:
        for days_ago, price, currency in [
            (400, "5.00", "EUR"),  # outside the 30-day window
            (300, "999.00", "USD"),  # an old currency: never mixed in
            (20, "1000.01", "EUR"),
            (10, None, None),  # a failed read: no price, not counted
            (5, "1299.99", "EUR"),
        ]:
            amount = None if price is None else Decimal(price)
            availability = Availability.UNKNOWN if price is None else Availability.IN_STOCK
            await uow.price_points.add(
                PricePoint(
                    None, product_id, NOW - timedelta(days=days_ago), amount, currency, availability
                )
            )

    await committed(backend, add_points)
    async with backend.factory() as uow:
        window = await uow.price_points.stats(product_id, NOW - timedelta(days=30))
        overall = await uow.price_points.stats(product_id, None)
        empty = await uow.price_points.stats(product_id, NOW + timedelta(days=1))

    assert (window.low, window.high, window.average, window.points) == (
        Decimal("1000.01"),
        Decimal("1299.99"),
        Decimal("1150.00"),
        2,
    )
    assert (overall.low, overall.high, overall.points) == (Decimal("5.00"), Decimal("1299.99"), 3)
    assert overall.average == (Decimal("5.00") + Decimal("1000.01") + Decimal("1299.99")) / 3
    assert empty == Stats(None, None, None, 0)


# ----- watches --------------------------------------------------------------------------


async def test_watch_round_trips_every_field(backend: Backend) -> None:
    product_id = await add_product(backend)
    original = a_watch(
        ALICE,
        product_id,
        GROUP_TOPIC,
        rule=Rule(RuleKind.TARGET, Money(Decimal("24.99"), "EUR")),
        baseline_price=Decimal("29.99"),
        baseline_currency="EUR",
        last_alert_price=Decimal("24.50"),
        last_alert_at=NOW - timedelta(hours=3),
        last_alert_kind="target",
        target_armed=False,
        snoozed_until=NOW + timedelta(hours=24),
        community="guild-1",
    )
    watch_id = await store_watch(backend, replace(original))
    percent = a_watch(
        ALICE, product_id, DM, rule=Rule(RuleKind.DROP_PERCENT, percent=Decimal("12.5"))
    )
    percent_id = await add_watch(backend, ALICE, product_id, address=DM, rule=percent.rule)

    async with backend.factory() as uow:
        stored = await uow.watches.get_in_chat(GROUP_TOPIC, watch_id)
        stored_percent = await uow.watches.get_in_chat(DM, percent_id)
    assert stored == replace(original, id=watch_id)
    assert stored_percent is not None and stored_percent.rule == percent.rule


async def test_watches_are_counted_per_community_across_its_chats(backend: Backend) -> None:
    product_id = await add_product(backend)
    for channel, community, active in [
        ("c1", "g1", True),
        ("c2", "g1", True),
        ("c3", "g1", False),
        ("c4", "g2", True),
    ]:
        address = ChatAddress("discord", channel)
        await add_watch(
            backend, BOB, product_id, address=address, community=community, active=active
        )
    await add_watch(backend, ALICE, product_id, address=DM)
    async with backend.factory() as uow:
        assert await uow.watches.count_in_community("discord", "g1") == 2
        assert await uow.watches.count_in_community("discord", "g2") == 1
        assert await uow.watches.count_in_community("telegram", "g1") == 0


async def test_named_state_is_kept_and_replaced(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.state.get("discord-commands") is None
        await uow.state.put("discord-commands", "abc")
        await uow.commit()
    async with backend.factory() as uow:
        await uow.state.put("discord-commands", "def")
        # Not committed: the next unit of work still sees the old value.
    async with backend.factory() as uow:
        assert await uow.state.get("discord-commands") == "abc"
        await uow.state.put("discord-commands", "def")
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.state.get("discord-commands") == "def"


async def test_watches_are_seen_only_in_the_chat_they_were_made_in(backend: Backend) -> None:
    url = "https://shop.example/p/1"
    product_id = await add_product(backend, url)
    in_group = await add_watch(backend, ALICE, product_id, address=GROUP)

    async with backend.factory() as uow:
        for elsewhere in (DM, OTHER_GROUP, GROUP_ON_DISCORD):
            assert await uow.watches.get_in_chat(elsewhere, in_group) is None
            assert await uow.watches.list_in_chat(elsewhere) == []
            assert await uow.watches.find_in_chat(elsewhere, url) is None
        # Every thread of the chat shares its watches, whoever asks there.
        by_thread = await uow.watches.get_in_chat(GROUP_TOPIC, in_group)
        listed = await uow.watches.list_in_chat(GROUP_TOPIC)
        found = await uow.watches.find_in_chat(GROUP_TOPIC, url)
        assert await uow.watches.count_owned(BOB) == 0
        assert await uow.watches.count_owned(ALICE) == 1
    assert by_thread is not None and by_thread.id == in_group and by_thread.owner == ALICE
    assert by_thread.address == GROUP  # where it was made, not where it was asked about
    assert [w.id for w in listed] == [in_group]
    assert found is not None and found.id == in_group

    # A watch made in a forum thread is the whole chat's too.
    in_topic = await add_watch(backend, BOB, product_id, address=GROUP_TOPIC)
    async with backend.factory() as uow:
        plain = await uow.watches.get_in_chat(GROUP, in_topic)
        assert [w.id for w in await uow.watches.list_in_chat(GROUP)] == [in_group, in_topic]
        assert await uow.watches.list_in_chat(OTHER_GROUP) == []
    assert plain is not None and plain.address == GROUP_TOPIC


async def test_chat_watches_are_active_ones_in_id_order(backend: Backend) -> None:
    first = await add_product(backend, "https://shop.example/1")
    second = await add_product(backend, "https://shop.example/2")
    a = await add_watch(backend, ALICE, second, address=GROUP)
    b = await add_watch(backend, BOB, first, address=GROUP_TOPIC)
    stopped = await add_watch(backend, ALICE, first, address=GROUP, active=False)
    in_dm = await add_watch(backend, ALICE, first, address=DM)

    async with backend.factory() as uow:
        assert [w.id for w in await uow.watches.list_in_chat(GROUP)] == [a, b]
        assert [w.id for w in await uow.watches.list_in_chat(DM)] == [in_dm]
        # The per-user count spans every chat, active watches only.
        assert await uow.watches.count_owned(ALICE) == 2
        assert await uow.watches.count_owned(BOB) == 1
        assert await uow.watches.get_in_chat(GROUP, stopped) is None
        assert await uow.watches.get_in_chat(GROUP, a + b + stopped + in_dm + 1) is None
        assert [w.id for w in await uow.watches.for_product(first)] == [b, in_dm]
        assert [w.id for w in await uow.watches.for_product(second)] == [a]


async def test_find_in_chat_matches_the_page_whatever_its_selector(backend: Backend) -> None:
    url = "https://shop.example/p/1"
    other_url = "https://shop.example/p/2"
    plain = await add_product(backend, url)
    priced = await add_product(backend, url, css_selector=".price")
    other = await add_product(backend, other_url)
    by_selector = await add_watch(backend, ALICE, priced, address=GROUP_TOPIC)
    await add_watch(backend, ALICE, plain, address=DM, active=False)
    await add_watch(backend, BOB, other, address=OTHER_GROUP)

    async with backend.factory() as uow:
        in_group = await uow.watches.find_in_chat(GROUP, url)
        in_topic = await uow.watches.find_in_chat(GROUP_TOPIC, url)
        assert await uow.watches.find_in_chat(DM, url) is None  # only inactive there
        assert await uow.watches.find_in_chat(GROUP, other_url) is None
        assert await uow.watches.find_in_chat(GROUP, "https://shop.example/p/3") is None
        assert await uow.watches.find_in_chat(OTHER_GROUP, url) is None
        in_other = await uow.watches.find_in_chat(OTHER_GROUP, other_url)
    assert in_group is not None and in_group.id == by_selector
    assert in_group.product_id == priced
    assert in_topic == in_group
    assert in_other is not None and in_other.product_id == other


async def test_watch_update_persists(backend: Backend) -> None:
    product_id = await add_product(backend)
    watch_id = await add_watch(backend, ALICE, product_id)
    async with backend.factory() as uow:
        watch = await uow.watches.get_in_chat(DM, watch_id)
        assert watch is not None
        watch.rule = Rule(RuleKind.TARGET, Money(Decimal("19.99"), "GBP"))
        watch.last_alert_price, watch.last_alert_at = Decimal("18.00"), NOW
        watch.target_armed = False
        await uow.watches.update(watch)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.watches.get_in_chat(DM, watch_id) == watch
        watch.active = False
        await uow.watches.update(watch)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.watches.get_in_chat(DM, watch_id) is None
        assert await uow.watches.list_in_chat(DM) == []
        assert await uow.watches.count_owned(ALICE) == 0


async def test_pause_for_chat_pauses_the_whole_chat_only(backend: Backend) -> None:
    product_id = await add_product(backend)
    in_group = await add_watch(backend, ALICE, product_id, address=GROUP)
    in_topic = await add_watch(backend, BOB, product_id, address=GROUP_TOPIC)
    in_dm = await add_watch(backend, ALICE, product_id, address=DM)
    on_discord = await add_watch(
        backend, BOB, product_id, address=ChatAddress("discord", "-100500")
    )

    async with backend.factory() as uow:
        assert await uow.watches.pause_for_chat(GROUP, "chat_gone") == 2
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.watches.pause_for_chat(GROUP, "chat_gone") == 0
        remaining = {w.id for w in await uow.watches.for_product(product_id)}
    assert remaining == {in_dm, on_discord}
    assert in_group not in remaining and in_topic not in remaining


# ----- outbox ---------------------------------------------------------------------------


async def test_outbox_dedupe_returns_false_and_keeps_the_transaction(backend: Backend) -> None:
    async with backend.factory() as uow:
        first = a_message("alert:1:target:9")
        assert await uow.outbox.add(first) is True
        assert first.id is not None
        duplicate = a_message("alert:1:target:9", payload={"blocks": ["other"]})
        assert await uow.outbox.add(duplicate) is False
        assert duplicate.id is None
        await uow.products.get_or_add(a_product())
        await uow.commit()

    # Against a committed row too: on PostgreSQL a failed INSERT would abort the transaction
    # and lose the work around it.
    async with backend.factory() as uow:
        assert await uow.outbox.add(a_message("alert:1:target:9")) is False
        await uow.products.get_or_add(a_product("https://shop.example/after-duplicate"))
        assert await uow.outbox.add(a_message("alert:2:target:9")) is True
        await uow.commit()

    async with backend.factory() as uow:
        pending = await uow.outbox.pending(NOW, 10)
        assert await uow.products.get_by_url("https://shop.example/p/1") is not None
        assert await uow.products.get_by_url("https://shop.example/after-duplicate") is not None
    assert [m.dedupe_key for m in pending] == ["alert:1:target:9", "alert:2:target:9"]
    assert pending[0].payload == first.payload


async def test_outbox_message_round_trips(backend: Backend) -> None:
    message = a_message(
        "feed:3:77",
        GROUP_TOPIC,
        payload={
            "blocks": ["Price drop: €25.99", "was €29.99"],
            "buttons": [{"label": "Open", "url": "https://shop.example/p/1", "action": None}],
            "is_error": False,
        },
        watch_id=None,
        owner=None,
        next_attempt_at=NOW - timedelta(seconds=1),
    )
    await committed(backend, lambda uow: uow.outbox.add(message))
    async with backend.factory() as uow:
        (stored,) = await uow.outbox.pending(NOW, 10)
    assert stored == message


async def test_outbox_pending_is_due_open_rows_in_id_order(backend: Backend) -> None:
    other = ChatAddress("telegram", "3003")

    async def add_all(uow: UnitOfWork) -> None:
        await uow.outbox.add(a_message("a"))
        await uow.outbox.add(a_message("later", other, next_attempt_at=NOW + timedelta(seconds=30)))
        await uow.outbox.add(a_message("b", next_attempt_at=NOW))
        await uow.outbox.add(a_message("sent", status=OutboxStatus.SENT))
        await uow.outbox.add(a_message("gone", status=OutboxStatus.UNDELIVERABLE))
        await uow.outbox.add(a_message("c", next_attempt_at=NOW - timedelta(minutes=1)))
        await uow.outbox.add(a_message("after-later", other))

    await committed(backend, add_all)
    async with backend.factory() as uow:
        # "after-later" waits behind the earlier row of its chat that is not due yet.
        assert [m.dedupe_key for m in await uow.outbox.pending(NOW, 10)] == ["a", "b", "c"]
        assert [m.dedupe_key for m in await uow.outbox.pending(NOW, 2)] == ["a", "b"]
        later = await uow.outbox.pending(NOW + timedelta(minutes=1), 10)
    assert [m.dedupe_key for m in later] == ["a", "later", "b", "c", "after-later"]


async def test_outbox_claim_is_exclusive_and_expires(backend: Backend) -> None:
    await committed(backend, lambda uow: uow.outbox.add(a_message("a")))
    await committed(backend, lambda uow: uow.outbox.add(a_message("b")))
    async with backend.factory() as uow:
        first, _ = await uow.outbox.pending(NOW, 10)
        assert await uow.outbox.claim(first.id, NOW, NOW + timedelta(minutes=2), "run-1")
        assert not await uow.outbox.claim(first.id, NOW, NOW + timedelta(minutes=2), "run-2")
        await uow.commit()
    async with backend.factory() as uow:
        # A claimed row holds back its chat's later rows until the claim expires...
        assert await uow.outbox.pending(NOW + timedelta(minutes=1), 10) == []
        # ... then comes back, still marked sending: in doubt.
        expired = await uow.outbox.pending(NOW + timedelta(minutes=3), 10)
        assert [(m.dedupe_key, m.status) for m in expired] == [
            ("a", OutboxStatus.SENDING),
            ("b", OutboxStatus.PENDING),
        ]
        assert [m.claim_token for m in expired] == ["run-1", None]
        assert await uow.outbox.count_sent_since(ALICE, NOW) == 2


async def test_outbox_update_claimed_persists(backend: Backend) -> None:
    await committed(backend, lambda uow: uow.outbox.add(a_message("a")))
    async with backend.factory() as uow:
        (message,) = await uow.outbox.pending(NOW, 10)
        assert await uow.outbox.claim(message.id, NOW, NOW + timedelta(minutes=2), "run-1")
        message.attempts = 2
        message.next_attempt_at = NOW + timedelta(minutes=5)
        message.error = "rate limited"
        assert await uow.outbox.update_claimed(message, "run-1") is True
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.outbox.pending(NOW, 10) == []
        (retried,) = await uow.outbox.pending(NOW + timedelta(minutes=5), 10)
        assert retried == message
        later = NOW + timedelta(minutes=5)
        assert await uow.outbox.claim(retried.id, later, later + timedelta(minutes=2), "run-2")
        retried.status, retried.platform_message_id = OutboxStatus.SENT, "555"
        assert await uow.outbox.update_claimed(retried, "run-2") is True
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.outbox.pending(NOW + timedelta(days=1), 10) == []
        assert await uow.outbox.count_sent_since(ALICE, NOW) == 1


async def test_outbox_update_claimed_refuses_a_stale_token(backend: Backend) -> None:
    await committed(backend, lambda uow: uow.outbox.add(a_message("a")))
    await committed(backend, lambda uow: uow.outbox.add(a_message("never-claimed", GROUP)))
    async with backend.factory() as uow:
        message, unclaimed = await uow.outbox.pending(NOW, 10)
        assert await uow.outbox.claim(message.id, NOW, NOW + timedelta(minutes=2), "slow-run")
        await uow.commit()
    # The slow run's claim expires and another run takes the row over.
    retake_at = NOW + timedelta(minutes=3)
    async with backend.factory() as uow:
        assert await uow.outbox.claim(
            message.id, retake_at, retake_at + timedelta(minutes=2), "next-run"
        )
        await uow.commit()

    late = replace(message, status=OutboxStatus.SENT, platform_message_id="1", attempts=1)
    async with backend.factory() as uow:
        assert await uow.outbox.update_claimed(late, "slow-run") is False
        # A row nobody claimed takes no outcome either, whatever the token.
        unclaimed.status = OutboxStatus.SENT
        assert await uow.outbox.update_claimed(unclaimed, "") is False
        assert await uow.outbox.update_claimed(unclaimed, "slow-run") is False
        await uow.commit()
    async with backend.factory() as uow:
        rows = await uow.outbox.pending(retake_at + timedelta(minutes=3), 10)
        assert [(m.dedupe_key, m.status, m.attempts) for m in rows] == [
            ("a", OutboxStatus.SENDING, 0),
            ("never-claimed", OutboxStatus.PENDING, 0),
        ]
        assert rows[0].claim_token == "next-run"
        assert rows[0].platform_message_id is None
        # The run holding the claim writes its outcome.
        done = replace(rows[0], status=OutboxStatus.SENT, platform_message_id="2", attempts=1)
        assert await uow.outbox.update_claimed(done, "next-run") is True
        await uow.commit()
    async with backend.factory() as uow:
        rows = await uow.outbox.pending(NOW + timedelta(days=1), 10)
    assert [m.dedupe_key for m in rows] == ["never-claimed"]


async def test_close_pending_for_chat(backend: Backend) -> None:
    async def add_all(uow: UnitOfWork) -> None:
        await uow.outbox.add(a_message("group", GROUP))
        await uow.outbox.add(a_message("topic", GROUP_TOPIC))
        await uow.outbox.add(a_message("sent", GROUP, status=OutboxStatus.SENT))
        await uow.outbox.add(a_message("dm", DM))

    await committed(backend, add_all)
    async with backend.factory() as uow:
        assert await uow.outbox.close_pending_for_chat(GROUP, "bot was removed") == 2
        await uow.commit()
    async with backend.factory() as uow:
        assert [m.dedupe_key for m in await uow.outbox.pending(NOW, 10)] == ["dm"]
        assert await uow.outbox.close_pending_for_chat(GROUP, "again") == 0
        # Sent ones still count towards the daily cap, undeliverable ones do not.
        assert await uow.outbox.count_sent_since(ALICE, NOW) == 2


async def test_count_sent_since(backend: Backend) -> None:
    async def add_all(uow: UnitOfWork) -> None:
        await uow.outbox.add(a_message("yesterday", created_at=NOW - timedelta(days=1)))
        await uow.outbox.add(a_message("pending"))
        await uow.outbox.add(
            a_message("sent", status=OutboxStatus.SENT, created_at=NOW + timedelta(hours=1))
        )
        await uow.outbox.add(a_message("failed", status=OutboxStatus.UNDELIVERABLE))
        await uow.outbox.add(a_message("bobs", owner=BOB))
        await uow.outbox.add(a_message("feed", owner=None))

    await committed(backend, add_all)
    async with backend.factory() as uow:
        assert await uow.outbox.count_sent_since(ALICE, NOW) == 2
        assert await uow.outbox.count_sent_since(ALICE, NOW - timedelta(days=1)) == 3
        assert await uow.outbox.count_sent_since(BOB, NOW) == 1
        assert await uow.outbox.count_sent_since("telegram:nobody", NOW) == 0


# ----- chats, users ---------------------------------------------------------------------


async def test_chat_activity(backend: Backend) -> None:
    assert await backend.chat_state(GROUP) is None  # never seen: nothing says it is gone
    async with backend.factory() as uow:
        await uow.chats.touch(GROUP, "group")
        await uow.chats.touch(GROUP, "group")
        await uow.commit()
    assert await backend.chat_state(GROUP) == ("group", True, None)
    async with backend.factory() as uow:
        await uow.chats.deactivate(GROUP_TOPIC, "kicked")  # a thread stands for its chat
        await uow.chats.deactivate(ChatAddress("discord", "42"), "forbidden")
        await uow.commit()
    assert await backend.chat_state(GROUP) == ("group", False, "kicked")
    assert await backend.chat_state(ChatAddress("discord", "42")) == ("unknown", False, "forbidden")
    assert await backend.chat_state(DM) is None
    assert await backend.chat_state(GROUP_ON_DISCORD) is None
    async with backend.factory() as uow:
        await uow.chats.touch(GROUP_TOPIC, "group")  # someone talks there again
        await uow.chats.deactivate(DM, "blocked")
        # Not committed: gone with the unit of work.
    assert await backend.chat_state(GROUP) == ("group", False, "kicked")
    assert await backend.chat_state(DM) is None
    async with backend.factory() as uow:
        await uow.chats.touch(GROUP_TOPIC, "group")
        await uow.commit()
    assert await backend.chat_state(GROUP) == ("group", True, None)


async def test_users(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.users.is_banned(ALICE) is False
        await uow.users.ensure(ALICE, "Alice")
        await uow.users.ensure(ALICE, "Alice")
        await uow.users.ensure(ALICE, "")  # no name given: the known one stays
        await uow.users.ensure(BOB, "")
        await uow.commit()
    assert await backend.user_rows() == {ALICE: ("Alice", False), BOB: ("", False)}
    async with backend.factory() as uow:
        await uow.users.set_banned(ALICE, True)
        await uow.users.set_banned("discord:unknown", True)  # banned before first contact
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.users.is_banned(ALICE) is True
        assert await uow.users.is_banned(BOB) is False
        assert await uow.users.is_banned("discord:unknown") is True
        await uow.users.ensure(ALICE, "Alice B.")  # seeing a user again does not unban
        await uow.users.set_banned("discord:unknown", False)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.users.is_banned(ALICE) is True
        assert await uow.users.is_banned("discord:unknown") is False
    assert await backend.user_rows() == {
        ALICE: ("Alice B.", True),
        BOB: ("", False),
        "discord:unknown": ("", False),
    }


# ----- offers ---------------------------------------------------------------------------


async def test_an_offer_is_taken_once_by_its_owner_in_its_chat(backend: Backend) -> None:
    url = "https://shop.example/offered"
    since = NOW - timedelta(minutes=30)
    await committed(backend, lambda uow: uow.offers.put("tok-1", ALICE, GROUP_TOPIC, url, NOW))
    async with backend.factory() as uow:
        assert await uow.offers.take("tok-1", BOB, GROUP, since) is None  # not the owner
        assert await uow.offers.take("tok-1", ALICE, DM, since) is None  # another chat
        assert await uow.offers.take("tok-1", ALICE, OTHER_GROUP, since) is None
        assert await uow.offers.take("tok-1", ALICE, GROUP_ON_DISCORD, since) is None
        assert await uow.offers.take("tok-2", ALICE, GROUP, since) is None  # no such offer
        await uow.commit()
    async with backend.factory() as uow:
        # Any thread of the chat it was made in; the wrong guesses above did not use it up.
        assert await uow.offers.take("tok-1", ALICE, GROUP, since) == url
        assert await uow.offers.take("tok-1", ALICE, GROUP, since) is None  # once
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.offers.take("tok-1", ALICE, GROUP_TOPIC, since) is None


async def test_an_offer_taken_without_commit_is_still_there(backend: Backend) -> None:
    url = "https://shop.example/offered"
    await committed(backend, lambda uow: uow.offers.put("tok-1", ALICE, DM, url, NOW))
    async with backend.factory() as uow:
        assert await uow.offers.take("tok-1", ALICE, DM, NOW) == url
    async with backend.factory() as uow:
        assert await uow.offers.take("tok-1", ALICE, DM, NOW) == url  # made at `since`: in time
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.offers.take("tok-1", ALICE, DM, NOW) is None


async def test_old_offers_are_refused_and_forgotten(backend: Backend) -> None:
    async def put_all(uow: UnitOfWork) -> None:
        await uow.offers.put("old", ALICE, DM, "https://shop.example/old", NOW - timedelta(hours=2))
        await uow.offers.put(
            "bobs", BOB, GROUP, "https://shop.example/bobs", NOW - timedelta(days=1)
        )
        await uow.offers.put("fresh", BOB, GROUP, "https://shop.example/fresh", NOW)

    await committed(backend, put_all)
    since = NOW - timedelta(hours=1)
    async with backend.factory() as uow:
        assert await uow.offers.take("old", ALICE, DM, since) is None  # too old
        await uow.commit()
    # Taking any offer forgets those made before `since`, Bob's unpressed one too.
    long_ago = NOW - timedelta(days=30)
    async with backend.factory() as uow:
        assert await uow.offers.take("old", ALICE, DM, long_ago) is None
        assert await uow.offers.take("bobs", BOB, GROUP, long_ago) is None
        assert await uow.offers.take("fresh", BOB, GROUP, long_ago) == "https://shop.example/fresh"


# ----- unit of work ---------------------------------------------------------------------


async def test_leaving_without_commit_rolls_back(backend: Backend) -> None:
    async with backend.factory() as uow:
        product = await uow.products.get_or_add(a_product())
        assert product.id is not None
        await uow.watches.add(a_watch(ALICE, product.id))
        await uow.outbox.add(a_message("lost"))
        await uow.offers.put("lost", ALICE, DM, product.url, NOW)
    async with backend.factory() as uow:
        assert await uow.products.get_by_url(product.url) is None
        assert await uow.watches.count_owned(ALICE) == 0
        assert await uow.outbox.pending(NOW, 10) == []
        assert await uow.offers.take("lost", ALICE, DM, NOW) is None


async def test_exception_rolls_back(backend: Backend) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with backend.factory() as uow:
            await uow.products.get_or_add(a_product())
            raise RuntimeError("boom")
    async with backend.factory() as uow:
        assert await uow.products.get_by_url(a_product().url) is None


async def test_rollback_discards_and_the_unit_of_work_goes_on(backend: Backend) -> None:
    async with backend.factory() as uow:
        await uow.products.get_or_add(a_product("https://shop.example/discarded"))
        await uow.rollback()
        await uow.products.get_or_add(a_product("https://shop.example/kept"))
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.products.get_by_url("https://shop.example/discarded") is None
        assert await uow.products.get_by_url("https://shop.example/kept") is not None


async def test_changes_are_invisible_to_others_until_commit(backend: Backend) -> None:
    async with backend.factory() as writer:
        await writer.products.get_or_add(a_product())
        async with backend.factory() as reader:
            assert await reader.products.get_by_url(a_product().url) is None
        await writer.commit()
    async with backend.factory() as reader:
        assert await reader.products.get_by_url(a_product().url) is not None


# ----- concurrency (real databases) -----------------------------------------------------


# The memory fake has no concurrent writers; these run on the real databases only.
real_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@real_databases
async def test_open_claim_is_skipped_by_a_concurrent_worker(backend: Backend) -> None:
    ids = []
    for n in range(6):
        ids.append(
            await add_product(
                backend, f"https://shop.example/{n}", next_check_at=NOW - timedelta(minutes=n)
            )
        )
        await add_watch(backend, ALICE, ids[-1])
    lease = NOW + timedelta(minutes=5)
    started = asyncio.Event()

    async def second_worker() -> list[Product]:
        async with backend.factory() as uow:
            started.set()
            claimed = await uow.products.claim_due(NOW, lease, 10, "second")
            await uow.commit()
        return claimed

    async with backend.factory() as first_worker:
        first = await first_worker.products.claim_due(NOW, lease, 2, "first")
        second_task = asyncio.create_task(second_worker())
        await started.wait()
        if backend.name == "postgresql":
            # The first claim is not committed: its rows are locked and SKIP LOCKED passes
            # over them instead of waiting, so the second worker finishes while the first
            # still holds them. (Were it waiting, it would wait for ever: the bound only
            # turns that hang into a failure.)
            await asyncio.wait({second_task}, timeout=60)
            assert second_task.done()
        else:
            # SQLite has one writer at a time. The second worker ran on its own, without
            # yielding, from its start to the first worker's write lock, and waits there
            # without blocking the event loop: this worker runs again meanwhile.
            assert not second_task.done()
        await first_worker.commit()
    second = await second_task
    assert [p.id for p in first] == [ids[5], ids[4]]
    assert {p.id for p in second} == set(ids[:4])
    assert {p.claim_token for p in second} == {"second"}
    tokens = {pid: (await stored_product(backend, pid)).claim_token for pid in ids}
    assert tokens == {pid: "first" if pid in ids[4:] else "second" for pid in ids}


@real_databases
async def test_concurrent_workers_never_claim_the_same_product(backend: Backend) -> None:
    count = 40
    for n in range(count):
        product_id = await add_product(backend, f"https://shop.example/{n}")
        await add_watch(backend, ALICE, product_id)

    async def worker(name: str) -> list[int]:
        mine: list[int] = []
        while True:
            async with backend.factory() as uow:
                batch = await uow.products.claim_due(NOW, NOW + timedelta(hours=1), 3, name)
                await asyncio.sleep(0)  # let the other workers interleave mid-transaction
                await uow.commit()
            if not batch:
                return mine
            mine.extend(p.id for p in batch if p.id is not None)

    results = await asyncio.gather(*(worker(f"worker-{n}") for n in range(4)))
    claimed = [product_id for batch in results for product_id in batch]
    assert len(claimed) == len(set(claimed)) == count
    # Each product carries the token of the worker that got it.
    for n, batch in enumerate(results):
        for product_id in batch:
            assert (await stored_product(backend, product_id)).claim_token == f"worker-{n}"


async def until_a_transaction_waits_for_a_lock(database_url: str) -> None:
    """PostgreSQL: returns once some transaction is waiting for a lock another one holds."""
    engine = make_engine(database_url)
    waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    try:
        async with asyncio.timeout(10):
            while True:
                async with engine.connect() as connection:
                    if (await connection.execute(waiting)).scalar_one():
                        return
                await asyncio.sleep(0.01)
    finally:
        await engine.dispose()


@real_databases
async def test_two_units_of_work_adding_one_page_get_one_row(
    backend: Backend, database_url: str | None
) -> None:
    started = asyncio.Event()

    async def second_user() -> Product:
        async with backend.factory() as uow:
            started.set()
            product = await uow.products.get_or_add(a_product(title="second"))
            await uow.commit()
        return product

    async with backend.factory() as first_user:
        first = await first_user.products.get_or_add(a_product(title="first"))
        second_task = asyncio.create_task(second_user())
        # The second insert now waits for this transaction (SQLite: for its write lock;
        # PostgreSQL: on the unique index entry) and then finds the row it committed.
        await started.wait()
        if backend.name == "postgresql":
            assert database_url is not None
            await until_a_transaction_waits_for_a_lock(database_url)
        await first_user.commit()
    second = await second_task
    assert first.id is not None and second.id == first.id
    assert second.title == "first"
    async with backend.factory() as uow:
        stored = await uow.products.get_many([first.id, first.id + 1])
    assert list(stored) == [first.id]


async def test_a_writer_waiting_too_long_gets_database_is_locked(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_sqlite, "WRITE_LOCK_TIMEOUT", 0.2)
    factory = SqlUnitOfWorkFactory(make_engine(migrated_sqlite_url))
    try:
        async with factory() as holder:
            await holder.products.get_or_add(a_product("https://shop.example/held"))
            async with factory() as waiter:
                assert await waiter.products.get_by_url("https://shop.example/held") is None
                with pytest.raises(OperationalError, match="database is locked"):
                    await waiter.products.get_or_add(a_product("https://shop.example/waits"))
            await holder.commit()
        # The lock went back with the commit: the next writer goes straight through.
        async with factory() as uow:
            await uow.products.get_or_add(a_product("https://shop.example/after"))
            await uow.commit()
    finally:
        await factory.aclose()
        await factory.engine.dispose()


# ----- what only the SQL databases check ------------------------------------------------


@real_databases
@pytest.mark.parametrize("length", [2720, 4096])
async def test_long_product_urls_are_stored_and_found(backend: Backend, length: int) -> None:
    """PostgreSQL refuses btree entries over 2704 bytes: a unique index on the URL itself
    failed for these ("index row size exceeds btree maximum")."""
    url = a_long_url(length)
    neighbour = url[:-1] + ("x" if url[-1] != "x" else "y")  # differs in the last character
    assert len(url) == len(neighbour) == length

    product_id = await add_product(backend, url, title="long")
    neighbour_id = await add_product(backend, neighbour)
    selected_id = await add_product(backend, url, css_selector=".price")
    watch_id = await add_watch(backend, ALICE, product_id)
    async with backend.factory() as uow:
        found = await uow.products.get_by_url(url)
        found_neighbour = await uow.products.get_by_url(neighbour)
        found_selected = await uow.products.get_by_url(url, ".price")
        again = await uow.products.get_or_add(a_product(url, title="again"))
        watch = await uow.watches.find_in_chat(DM, url)
        assert await uow.watches.find_in_chat(DM, neighbour) is None
    assert len({product_id, neighbour_id, selected_id}) == 3
    assert found is not None and (found.id, found.url, found.title) == (product_id, url, "long")
    assert found_neighbour is not None and found_neighbour.id == neighbour_id
    assert found_selected is not None and found_selected.id == selected_id
    assert again.id == product_id and again.title == "long"
    assert watch is not None and watch.id == watch_id


HOSTILE_URL = "https://shop.example/caf\x00e/\ud83d"
HOSTILE_SELECTOR = ".price\x00 \udc80span"
HOSTILE_TITLE = "Caf\x00é \ud83d espresso\x00 \udfff"
HOSTILE_NAME = "Al\x00ice \ud800"


async def hostile_round_trip(backend: Backend) -> tuple[object, ...]:
    """Stores text with NULs and lone surrogates; returns what reads back."""
    product_id = await add_product(
        backend, HOSTILE_URL, title=HOSTILE_TITLE, css_selector=HOSTILE_SELECTOR
    )
    watch_id = await add_watch(backend, ALICE, product_id)
    async with backend.factory() as uow:
        await uow.users.ensure(ALICE, HOSTILE_NAME)
        await uow.commit()
    async with backend.factory() as uow:
        await uow.users.ensure(ALICE, HOSTILE_NAME)  # seen again: the same name
        await uow.commit()

    product = await stored_product(backend, product_id)
    async with backend.factory() as uow:
        # Found again both by what was read back and by the text as it was sent.
        by_stored = await uow.products.get_by_url(product.url, product.css_selector)
        by_sent = await uow.products.get_by_url(HOSTILE_URL, HOSTILE_SELECTOR)
        same_row = await uow.products.get_or_add(
            a_product(product.url, css_selector=product.css_selector)
        )
        watch_by_stored = await uow.watches.find_in_chat(DM, product.url)
        watch_by_sent = await uow.watches.find_in_chat(DM, HOSTILE_URL)
        await uow.commit()
    assert by_stored is not None and by_stored.id == product_id
    assert by_sent is not None and by_sent.id == product_id
    assert same_row.id == product_id
    assert watch_by_stored is not None and watch_by_stored.id == watch_id
    assert watch_by_sent is not None and watch_by_sent.id == watch_id
    users_now = await backend.user_rows()
    return product.url, product.css_selector, product.title, users_now[ALICE][0]


async def test_hostile_text_is_stored_alike_on_sqlite_and_postgres(
    migrated_sqlite_url: str, clean_postgres_url: str
) -> None:
    read_back = {}
    for url in (migrated_sqlite_url, clean_postgres_url):
        async with sql_backend(url) as sql:
            read_back[sql.name] = await hostile_round_trip(sql)
    # NUL dropped, each lone surrogate turned into U+FFFD: the same text on both.
    expected = (
        "https://shop.example/cafe/\ufffd",
        ".price \ufffdspan",
        "Café \ufffd espresso \ufffd",
        "Alice \ufffd",
    )
    assert read_back == {"sqlite": expected, "postgresql": expected}


# ----- engine ---------------------------------------------------------------------------


async def test_sqlite_engine_pragmas(migrated_sqlite_url: str) -> None:
    engine = make_engine(migrated_sqlite_url)
    try:
        async with engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            ]
    finally:
        await engine.dispose()
    assert values == ["wal", 1, 5000, 1]  # synchronous 1 = NORMAL


async def test_sqlite_enforces_foreign_keys(migrated_sqlite_url: str) -> None:
    factory = SqlUnitOfWorkFactory(make_engine(migrated_sqlite_url))
    try:
        async with factory() as uow:
            with pytest.raises(Exception, match="FOREIGN KEY"):
                await uow.watches.add(a_watch(ALICE, 12345))
    finally:
        await factory.aclose()
        await factory.engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///pricebot.db",
        "postgresql://u@h/db",
        "postgresql+psycopg://u@h/db",
        "mysql+aiomysql://u@h/db",
        "not a url",
    ],
)
def test_make_engine_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite\\+aiosqlite"):
        make_engine(url)


async def test_many_open_sqlite_units_of_work_never_wait_for_a_connection(
    migrated_sqlite_url: str,
) -> None:
    """SQLite units of work run on the event loop; one waiting for a pooled connection
    would block the loop that the holders need to finish. Thirty open at once must all
    read, and the writers among them take turns."""
    factory = SqlUnitOfWorkFactory(make_engine(migrated_sqlite_url))
    count = 30
    opened = 0
    all_open = asyncio.Event()

    async def one(n: int) -> int | None:
        nonlocal opened
        async with factory() as uow:
            await uow.products.get_by_url("https://shop.example/none")
            opened += 1
            if opened == count:
                all_open.set()
            await all_open.wait()  # every unit of work holds its connection at once
            stored = await uow.products.get_or_add(a_product(f"https://shop.example/{n}"))
            await uow.commit()
            return stored.id

    try:
        tasks = [asyncio.create_task(one(n)) for n in range(count)]
        ids = await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
        async with factory() as uow:
            stored = await uow.products.get_many([i for i in ids if i is not None])
    finally:
        await factory.aclose()
        await factory.engine.dispose()
    assert opened == count
    assert len(stored) == count


# ----- holdings and market data ---------------------------------------------------------

# What each backend says about a row that names a market item that does not exist.
UNKNOWN_ITEM = r"(?i)foreign key|no market item"


def a_card(
    source_id: str = "e3285e6b",
    finish: str | None = "normal",
    source: str = "scryfall",
    **fields: object,
) -> MarketItem:
    """A card printing in one finish at one source (fields not given are left empty)."""
    card = MarketItem(None, ItemKind.CARD, "Lightning Bolt", source, source_id, finish)
    return replace(card, **fields)  # type: ignore[arg-type]


def a_page_item(product_id: int, name: str = "Air Jordan 1 Chicago") -> MarketItem:
    return MarketItem(None, ItemKind.PAGE, name, product_id=product_id)


def a_holding(owner: str, item_id: int, address: ChatAddress = DM, **fields: object) -> Holding:
    holding = Holding(None, owner, address, item_id, quantity=1, created_at=NOW)
    return replace(holding, **fields)  # type: ignore[arg-type]


def an_observation(
    item_id: int,
    age: timedelta,
    amount: str,
    currency: str = "USD",
    market: str = "tcgplayer",
    source: str = "scryfall",
) -> MarketPrice:
    """A market price of `item_id` observed `age` before NOW."""
    return MarketPrice(
        item_id, source, market, "market", Money(Decimal(amount), currency), NOW - age
    )


def a_marketplace(
    platform: str = "stockx",
    ask: str | None = "238.00",
    ask_currency: str = "USD",
    **fields: object,
) -> MarketplaceData:
    lowest = None if ask is None else Money(Decimal(ask), ask_currency)
    data = MarketplaceData(
        platform=platform,
        item_ref=f"https://{platform}.example/air-jordan-1-chicago",
        lowest_ask=lowest,
        highest_bid=None,
        last_sale=None,
        sales_30d=None,
        volatility=None,
        as_of=NOW,
    )
    return replace(data, **fields)  # type: ignore[arg-type]


def read_back(data: MarketplaceData) -> MarketplaceData:
    """A marketplace row as it reads back: in the currency its amounts are in (or the one it
    names when it has none; USD when it names none either)."""
    return replace(data, currency=data.amounts_currency)


async def store_item(backend: Backend, item: MarketItem) -> int:
    stored = await committed(backend, lambda uow: uow.items.get_or_add(item))
    assert isinstance(stored, MarketItem) and stored.id is not None
    return stored.id


async def stored_item(backend: Backend, item_id: int) -> MarketItem:
    async with backend.factory() as uow:
        found = await uow.items.get_many([item_id])
    return found[item_id]


async def add_holding(backend: Backend, holding: Holding) -> int:
    stored = await committed(backend, lambda uow: uow.holdings.add(holding))
    assert isinstance(stored, Holding) and stored.id is not None
    return stored.id


async def add_observations(backend: Backend, prices: list[MarketPrice]) -> None:
    async def work(uow: UnitOfWork) -> None:
        for price in prices:
            await uow.market_prices.add(price)

    await committed(backend, work)


async def test_market_items_are_keyed_by_source_id_and_finish_or_by_product(
    backend: Backend,
) -> None:
    foil = await store_item(backend, a_card(finish="foil", set_name="Masters 25"))
    product = await add_product(backend, "https://stockx.example/air-jordan-1-chicago")
    other_product = await add_product(backend, "https://goat.example/air-jordan-1-chicago")

    async with backend.factory() as uow:
        # The same key: the stored row, whatever else the new one says.
        again = await uow.items.get_or_add(a_card(finish="foil", name="renamed", number="141"))
        normal = await uow.items.get_or_add(a_card(finish="normal"))
        elsewhere = await uow.items.get_or_add(a_card(finish="foil", source="cardmarket"))
        other_card = await uow.items.get_or_add(a_card("5f0e0a9c", finish="foil"))
        page = await uow.items.get_or_add(a_page_item(product))
        # Found again in the same unit of work, before its commit.
        page_again = await uow.items.get_or_add(a_page_item(product, "another title"))
        other_page = await uow.items.get_or_add(a_page_item(other_product))
        await uow.commit()

    assert again.id == foil
    assert (again.name, again.number, again.set_name) == ("Lightning Bolt", None, "Masters 25")
    new_ids = [normal.id, elsewhere.id, other_card.id, page.id, other_page.id]
    assert None not in new_ids and len({foil, *new_ids}) == 6
    assert page_again.id == page.id and page_again.name == "Air Jordan 1 Chicago"

    async with backend.factory() as uow:
        later = await uow.items.get_or_add(a_page_item(product, "third title"))
        everything = await uow.items.get_many([foil, page.id or 0, 10_000])
        assert await uow.items.get_many([]) == {}
    assert later.id == page.id
    assert set(everything) == {foil, page.id}
    assert everything[foil].finish == "foil" and everything[foil].kind is ItemKind.CARD
    assert everything[page.id or 0].product_id == product
    assert everything[page.id or 0].kind is ItemKind.PAGE


async def test_market_item_update_round_trips_every_field(backend: Backend) -> None:
    tokyo = timezone(timedelta(hours=9))
    item_id = await store_item(backend, a_card())
    untouched = await store_item(backend, a_card("5f0e0a9c"))
    observed = datetime(2026, 1, 5, 17, 30, 15, 250000, tzinfo=tokyo)  # 08:30:15.25 UTC
    original = a_card(
        id=item_id,
        game="mtg",
        set_name="Masters 25",
        number="141",
        image="https://cards.scryfall.io/normal/front/e/3/e3285e6b.jpg",
        url="https://scryfall.com/card/a25/141/lightning-bolt",
        next_refresh_at=NOW + timedelta(days=1),
        refreshed_at=observed,
        price=MarketPrice(
            item_id, "scryfall", "tcgplayer", "market", Money(Decimal("2.15"), "USD"), observed
        ),
    )
    async with backend.factory() as uow:
        await uow.items.update(replace(original))
        await uow.commit()

    stored = await stored_item(backend, item_id)
    assert stored == original
    # Every time comes back as aware UTC, the current price's own too.
    assert stored.price is not None and stored.price.observed_at.tzinfo == UTC
    assert stored.price.observed_at == datetime(2026, 1, 5, 8, 30, 15, 250000, tzinfo=UTC)
    assert stored.refreshed_at is not None and stored.refreshed_at.tzinfo == UTC
    assert str(stored.price.price.amount) == "2.15"
    assert (await stored_item(backend, untouched)) == a_card("5f0e0a9c", id=untouched)

    # A new price replaces the old one; changing the returned object saves nothing.
    euros = MarketPrice(
        item_id, "scryfall", "cardmarket", "trend", Money(Decimal("1.90"), "EUR"), NOW
    )
    async with backend.factory() as uow:
        await uow.items.update(replace(stored, price=euros, next_refresh_at=None))
        stored.name = "never saved"
        await uow.commit()
    repriced = await stored_item(backend, item_id)
    assert repriced == replace(original, price=euros, next_refresh_at=None)


async def test_due_items_are_held_and_due_oldest_first(backend: Backend) -> None:
    ids: dict[str, int] = {}
    for name, due in [
        ("later", NOW + timedelta(microseconds=1)),
        ("old", NOW - timedelta(hours=2)),
        ("never", None),
        ("exact", NOW),
        ("recent", NOW - timedelta(minutes=1)),
    ]:
        ids[name] = await store_item(backend, a_card(name, next_refresh_at=due))
        await add_holding(backend, a_holding(ALICE, ids[name]))
    await add_holding(backend, a_holding(BOB, ids["old"], GROUP))  # held twice: listed once
    nobody = await store_item(backend, a_card("nobody", next_refresh_at=NOW - timedelta(days=1)))
    sold = await store_item(backend, a_card("sold", next_refresh_at=NOW - timedelta(days=1)))
    await add_holding(backend, a_holding(ALICE, sold, active=False))
    product = await add_product(backend)
    page = await store_item(
        backend, replace(a_page_item(product), next_refresh_at=NOW - timedelta(minutes=30))
    )
    await add_holding(backend, a_holding(BOB, page))

    async with backend.factory() as uow:
        due = await uow.items.due(NOW, 10)
        first_two = await uow.items.due(NOW, 2)
        tomorrow = await uow.items.due(NOW + timedelta(days=1), 10)
    assert [i.id for i in due] == [ids["never"], ids["old"], page, ids["recent"], ids["exact"]]
    assert [i.id for i in first_two] == [ids["never"], ids["old"]]
    assert {nobody, sold}.isdisjoint(i.id for i in tomorrow)
    assert [i.id for i in tomorrow] == [i.id for i in due] + [ids["later"]]
    # Whole items, as get_many gives them.
    assert due[1] == await stored_item(backend, ids["old"])


async def test_market_price_stats_over_windows_and_currencies(backend: Backend) -> None:
    item_id = await store_item(backend, a_card())
    neighbour = await store_item(backend, a_card("5f0e0a9c"))
    day = timedelta(days=1)
    await add_observations(
        backend,
        [
            an_observation(item_id, 60 * day, "1.00"),  # outside the window
            an_observation(item_id, 31 * day, "100.00"),  # outside the 30 days, by a day
            an_observation(item_id, 29 * day, "10.00"),
            an_observation(item_id, 20 * day, "12.50"),
            an_observation(item_id, 10 * day, "11.00", market="cardkingdom"),
            an_observation(item_id, 7 * day, "14.00"),
            an_observation(item_id, 3 * day, "13.00", source="page", market="ebay.com"),
            an_observation(item_id, 1 * day, "15.50"),  # the newest dollar price
            an_observation(item_id, 40 * day, "7.00", "EUR", "cardmarket"),
            an_observation(item_id, 5 * day, "8.00", "EUR", "cardmarket"),
            an_observation(item_id, 2 * day, "9.00", "EUR", "cardmarket"),
            an_observation(item_id, 90 * day, "1500", "JPY", "yuyutei"),
            an_observation(neighbour, 1 * day, "999.99"),  # another item's: never mixed in
        ],
    )

    async with backend.factory() as uow:
        usd = await uow.market_prices.stats(item_id, "USD", NOW)
        eur = await uow.market_prices.stats(item_id, "EUR", NOW)
        jpy = await uow.market_prices.stats(item_id, "JPY", NOW)
        gbp = await uow.market_prices.stats(item_id, "GBP", NOW)
        unknown = await uow.market_prices.stats(neighbour + item_id + 1000, "USD", NOW)

    # Dollars over 30 days: 10.00 11.00 12.50 13.00 14.00 15.50 (six).
    # Mean 76.00 / 6 = 12.666.. -> 12.67.
    assert usd == MarketStats(
        currency="USD",
        current=an_observation(item_id, 1 * day, "15.50"),
        mean_30d=Decimal("12.67"),
        observations_30d=6,
    )
    # Euros: 8.00 and 9.00 in the window (the 40-day-old 7.00 is not).
    assert eur == MarketStats(
        currency="EUR",
        current=an_observation(item_id, 2 * day, "9.00", "EUR", "cardmarket"),
        mean_30d=Decimal("8.50"),
        observations_30d=2,
    )
    # An old price is still the current one; it is in no window.
    assert jpy == MarketStats(
        "JPY", an_observation(item_id, 90 * day, "1500", "JPY", "yuyutei"), observations_30d=0
    )
    assert gbp == MarketStats("GBP", None) and unknown == MarketStats("USD", None)
    assert str(usd.mean_30d) == "12.67"
    assert usd.current is not None and usd.current.observed_at.tzinfo == UTC


async def test_market_price_stats_of_a_single_price_and_of_a_tie(backend: Backend) -> None:
    item_id = await store_item(backend, a_card())
    await add_observations(
        backend,
        [
            an_observation(item_id, timedelta(hours=2), "20.00", market="tcgplayer"),
            # The same moment: the row written later is the newer price.
            an_observation(item_id, timedelta(hours=2), "21.00", market="cardkingdom"),
            an_observation(item_id, timedelta(hours=1), "5", "JPY", "yuyutei"),
        ],
    )
    async with backend.factory() as uow:
        usd = await uow.market_prices.stats(item_id, "USD", NOW)
        jpy = await uow.market_prices.stats(item_id, "JPY", NOW)
    assert usd.current == an_observation(item_id, timedelta(hours=2), "21.00", market="cardkingdom")
    assert (usd.mean_30d, usd.observations_30d) == (Decimal("20.50"), 2)
    # One price: its own mean.
    assert jpy == MarketStats(
        currency="JPY",
        current=an_observation(item_id, timedelta(hours=1), "5", "JPY", "yuyutei"),
        mean_30d=Decimal("5"),
        observations_30d=1,
    )


@pytest.mark.parametrize("record", ["current price", "observation", "holding", "marketplace"])
async def test_naive_times_in_market_data_are_refused(backend: Backend, record: str) -> None:
    item_id = await store_item(backend, a_card())
    naive = datetime(2026, 1, 5, 9, 0)
    price = MarketPrice(
        item_id, "scryfall", "tcgplayer", "market", Money(Decimal("2.15"), "USD"), naive
    )
    async with backend.factory() as uow:
        with pytest.raises(Exception, match="naive datetime"):
            if record == "current price":
                await uow.items.update(replace(a_card(id=item_id), price=price))
            elif record == "observation":
                await uow.market_prices.add(price)
            elif record == "holding":
                await uow.holdings.add(a_holding(ALICE, item_id, created_at=naive))
            else:
                await uow.marketplaces.put(item_id, a_marketplace(as_of=naive))
    assert (await stored_item(backend, item_id)).price is None


async def test_an_observation_of_an_unknown_item_is_refused(backend: Backend) -> None:
    async with backend.factory() as uow:
        with pytest.raises(Exception, match=UNKNOWN_ITEM):
            await uow.market_prices.add(an_observation(12345, timedelta(hours=1), "1.00"))


async def test_market_stats_are_the_same_on_memory_sqlite_and_postgres(
    migrated_sqlite_url: str, clean_postgres_url: str
) -> None:
    """The same observations give the same numbers to the digit on every backend."""
    rng = random.Random(20260105)
    amounts = [f"{rng.randint(150, 9_999) / 100:.2f}" for _ in range(41)]
    ages = [timedelta(hours=rng.randint(0, 45 * 24)) for _ in amounts]

    async def stats_of(backend: Backend) -> list[tuple[str, ...]]:
        item_id = await store_item(backend, a_card())
        observed = [
            an_observation(item_id, age, amount, currency)
            for n, (age, amount) in enumerate(zip(ages, amounts, strict=True))
            for currency in (("USD", "EUR") if n % 3 else ("USD",))
        ]
        await add_observations(backend, observed)
        async with backend.factory() as uow:
            found = [await uow.market_prices.stats(item_id, c, NOW) for c in ("USD", "EUR")]
        # repr keeps a Decimal's digits: 12.5 and 12.50 would differ here.
        return [tuple(repr(getattr(s, f)) for f in MarketStats.__slots__) for s in found]

    results = {"memory": await stats_of(memory_backend())}
    for url in (migrated_sqlite_url, clean_postgres_url):
        async with sql_backend(url) as sql:
            results[sql.name] = await stats_of(sql)
    assert results["sqlite"] == results["memory"]
    assert results["postgresql"] == results["memory"]
    usd = dict(zip(MarketStats.__slots__, results["memory"][0], strict=True))
    assert usd["observations_30d"] != "0" and usd["mean_30d"] != "None"


async def test_market_stats_are_one_query_per_item(
    migrated_sqlite_url: str, clean_postgres_url: str
) -> None:
    """A refresh asks for an item's statistics every time its holders may be alerted."""
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "market_prices" in statement:
            seen.append(statement)

    for url in (migrated_sqlite_url, clean_postgres_url):
        async with sql_backend(url) as sql:
            item_id = await store_item(sql, a_card())
            observed = [an_observation(item_id, timedelta(days=d), "10.00") for d in (1, 2, 40)]
            await add_observations(sql, observed)
            event.listen(Engine, "before_cursor_execute", count)
            try:
                async with sql.factory() as uow:
                    found = await uow.market_prices.stats(item_id, "USD", NOW)
                    none = await uow.market_prices.stats(item_id, "EUR", NOW)
            finally:
                event.remove(Engine, "before_cursor_execute", count)
        assert (found.mean_30d, found.observations_30d) == (Decimal("10.00"), 2)
        assert none == MarketStats("EUR", None)
        assert len(seen) == 2, seen
        seen.clear()


async def test_holding_round_trips_every_field(backend: Backend) -> None:
    cest = timezone(timedelta(hours=2))
    item_id = await store_item(backend, a_card())
    original = a_holding(
        BOB,
        item_id,
        GROUP_TOPIC,
        quantity=3,
        created_at=NOW - timedelta(days=2),
        unit_cost=Money(Decimal("1.95"), "EUR"),
        condition="NM",
        alert_percent=Decimal("12.5"),
        alert_armed=False,
        last_alert_at=datetime(2026, 1, 5, 10, 0, tzinfo=cest),  # 08:00 UTC
        ask=Money(Decimal("249.99"), "USD"),
        ask_platform="stockx",
        ask_armed=False,
    )
    holding_id = await add_holding(backend, replace(original))
    plain_id = await add_holding(backend, a_holding(ALICE, item_id))

    async with backend.factory() as uow:
        stored = await uow.holdings.get_in_chat(GROUP, holding_id)
        plain = await uow.holdings.get_in_chat(DM, plain_id)
    assert stored == replace(original, id=holding_id)
    assert stored is not None and stored.last_alert_at is not None
    assert stored.last_alert_at.tzinfo == UTC
    assert stored.last_alert_at == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert stored.alert_percent is not None and str(stored.alert_percent) == "12.5"
    assert plain == a_holding(ALICE, item_id, id=plain_id)


async def test_holding_update_persists_and_inactive_holdings_disappear(backend: Backend) -> None:
    item_id = await store_item(backend, a_card())
    holding_id = await add_holding(backend, a_holding(ALICE, item_id))
    async with backend.factory() as uow:
        holding = await uow.holdings.get_in_chat(DM, holding_id)
        assert holding is not None
        holding.quantity, holding.unit_cost = 4, Money(Decimal("2.00"), "USD")
        holding.alert_percent, holding.alert_armed = Decimal("15"), False
        holding.last_alert_at = NOW
        await uow.holdings.update(holding)
        holding.condition = "changed after update, never saved"
        await uow.commit()
    async with backend.factory() as uow:
        updated = await uow.holdings.get_in_chat(DM, holding_id)
    assert updated == replace(holding, condition=None)

    async with backend.factory() as uow:
        await uow.holdings.update(replace(holding, condition=None, active=False))
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.holdings.get_in_chat(DM, holding_id) is None
        assert await uow.holdings.list_in_chat(DM) == []
        assert await uow.holdings.for_items([item_id]) == {item_id: []}


async def test_holdings_are_seen_only_in_their_chat_oldest_first(backend: Backend) -> None:
    bolt = await store_item(backend, a_card())
    lotus = await store_item(backend, a_card("5f0e0a9c"))
    in_group = await add_holding(backend, a_holding(ALICE, lotus, GROUP))
    in_topic = await add_holding(backend, a_holding(BOB, bolt, GROUP_TOPIC))
    sold = await add_holding(backend, a_holding(ALICE, bolt, GROUP, active=False))
    in_dm = await add_holding(backend, a_holding(ALICE, bolt, DM))

    async with backend.factory() as uow:
        for elsewhere in (DM, OTHER_GROUP, GROUP_ON_DISCORD):
            assert await uow.holdings.get_in_chat(elsewhere, in_group) is None
        assert await uow.holdings.list_in_chat(OTHER_GROUP) == []
        assert await uow.holdings.list_in_chat(GROUP_ON_DISCORD) == []
        # Every thread of the chat shares its holdings.
        by_thread = await uow.holdings.get_in_chat(GROUP_TOPIC, in_group)
        from_topic = await uow.holdings.get_in_chat(GROUP, in_topic)
        listed = await uow.holdings.list_in_chat(GROUP_TOPIC)
        assert await uow.holdings.get_in_chat(GROUP, sold) is None
        assert [h.id for h in await uow.holdings.list_in_chat(DM)] == [in_dm]
        assert await uow.holdings.get_in_chat(DM, in_group + in_topic + sold + in_dm) is None
    assert by_thread is not None and by_thread.address == GROUP  # where it was added
    assert from_topic is not None and from_topic.address == GROUP_TOPIC
    assert [h.id for h in listed] == [in_group, in_topic]


async def test_holdings_are_counted_in_their_chat_when_active(backend: Backend) -> None:
    bolt = await store_item(backend, a_card())
    lotus = await store_item(backend, a_card("5f0e0a9c"))
    await add_holding(backend, a_holding(ALICE, lotus, GROUP))
    await add_holding(backend, a_holding(BOB, bolt, GROUP_TOPIC))
    await add_holding(backend, a_holding(BOB, lotus, GROUP_TOPIC))
    await add_holding(backend, a_holding(ALICE, bolt, GROUP, active=False))
    await add_holding(backend, a_holding(ALICE, bolt, DM))

    async with backend.factory() as uow:
        # Every thread of the chat shares its holdings, and so its count.
        assert await uow.holdings.count_in_chat(GROUP) == 3
        assert await uow.holdings.count_in_chat(GROUP_TOPIC) == 3
        assert await uow.holdings.count_in_chat(DM) == 1
        assert await uow.holdings.count_in_chat(OTHER_GROUP) == 0
        assert await uow.holdings.count_in_chat(GROUP_ON_DISCORD) == 0


async def test_holdings_for_items_are_active_ones_of_every_chat(backend: Backend) -> None:
    bolt = await store_item(backend, a_card())
    lotus = await store_item(backend, a_card("5f0e0a9c"))
    quiet = await store_item(backend, a_card("b9e1b5c1"))
    first = await add_holding(backend, a_holding(ALICE, bolt, DM))
    await add_holding(backend, a_holding(BOB, bolt, GROUP, active=False))
    second = await add_holding(backend, a_holding(BOB, bolt, GROUP_ON_DISCORD))
    third = await add_holding(backend, a_holding(BOB, lotus, GROUP))
    missing = bolt + lotus + quiet + 1000

    async with backend.factory() as uow:
        found = await uow.holdings.for_items([bolt, lotus, quiet, missing])
        assert await uow.holdings.for_items([]) == {}
    assert {item: [h.id for h in held] for item, held in found.items()} == {
        bolt: [first, second],
        lotus: [third],
        quiet: [],
        missing: [],
    }
    assert found[bolt][1].address == GROUP_ON_DISCORD


async def test_portfolio_snapshots_are_one_value_per_chat_day_and_currency(
    backend: Backend,
) -> None:
    today = NOW.replace(hour=0)
    yesterday = today - timedelta(days=1)
    cest = timezone(timedelta(hours=2))

    async def put_all(uow: UnitOfWork) -> None:
        await uow.holdings.put_snapshot(DM, yesterday, {"USD": Decimal("10.50")})
        await uow.holdings.put_snapshot(DM, today, {"USD": Decimal("11"), "EUR": Decimal("3")})
        await uow.holdings.put_snapshot(DM, today, {"USD": Decimal("12.25")})  # replaces USD
        # The same chat id on another platform is another chat.
        await uow.holdings.put_snapshot(GROUP_ON_DISCORD, yesterday, {"EUR": Decimal("1")})

    await committed(backend, put_all)
    async with backend.factory() as uow:
        days = await uow.holdings.snapshots(DM, yesterday)
        recent = await uow.holdings.snapshots(DM, today)
        asked = [DM, GROUP, GROUP_TOPIC, GROUP_ON_DISCORD]
        done_today = await uow.holdings.snapshotted(asked, today)
        done_yesterday = await uow.holdings.snapshotted(asked, yesterday.astimezone(cest))
        assert await uow.holdings.snapshotted([], today) == set()
    assert days == [
        (yesterday, "USD", Decimal("10.50")),
        (today, "EUR", Decimal("3")),
        (today, "USD", Decimal("12.25")),
    ]
    assert recent == days[1:] and days[0][0].tzinfo == UTC
    assert done_today == {DM}
    assert done_yesterday == {DM, ChatAddress("discord", "-100500")}


async def test_a_holding_of_an_unknown_item_is_refused(backend: Backend) -> None:
    async with backend.factory() as uow:
        with pytest.raises(Exception, match=UNKNOWN_ITEM):
            await uow.holdings.add(a_holding(ALICE, 12345))


async def test_marketplaces_are_one_row_per_item_and_platform(backend: Backend) -> None:
    cest = timezone(timedelta(hours=2))
    sneaker = await store_item(backend, a_card("sneaker"))
    other = await store_item(backend, a_card("other"))
    stockx = a_marketplace(
        "stockx",
        "238.00",
        highest_bid=Money(Decimal("221.50"), "USD"),
        last_sale=Money(Decimal("230"), "USD"),
        sales_30d=412,
        volatility=Decimal("0.0731"),
        as_of=datetime(2026, 1, 5, 10, 0, tzinfo=cest),
    )
    goat = a_marketplace("goat", "219.99", "EUR", volatility=Decimal("0"))
    # Nothing listed there yet: the row keeps the currency to ask the marketplace in.
    empty = a_marketplace("alias", None, volatility=Decimal("1"), currency="GBP")

    async def put_all(uow: UnitOfWork) -> None:
        await uow.marketplaces.put(sneaker, stockx)
        await uow.marketplaces.put(sneaker, goat)
        await uow.marketplaces.put(sneaker, empty)
        await uow.marketplaces.put(other, a_marketplace("stockx", "10.00"))

    await committed(backend, put_all)
    async with backend.factory() as uow:
        listed = await uow.marketplaces.for_item(sneaker)
        assert await uow.marketplaces.for_item(sneaker + other + 1000) == []
    assert listed == [read_back(empty), read_back(goat), read_back(stockx)]  # by platform
    assert [m.currency for m in listed] == ["GBP", "EUR", "USD"]
    assert listed[2].as_of.tzinfo == UTC and listed[2].as_of == NOW - timedelta(hours=1)
    assert [str(m.volatility) for m in listed] == ["1", "0", "0.0731"]

    # Put again: the platform's row is replaced, the others stay.
    cheaper = a_marketplace("stockx", "199.00", sales_30d=430, as_of=NOW + timedelta(hours=1))
    await committed(backend, lambda uow: uow.marketplaces.put(sneaker, cheaper))
    async with backend.factory() as uow:
        replaced = await uow.marketplaces.for_item(sneaker)
        [others] = await uow.marketplaces.for_item(other)
    assert replaced == [read_back(empty), read_back(goat), read_back(cheaper)]
    assert (others.lowest_ask, others.currency) == (Money(Decimal("10.00"), "USD"), "USD")


async def test_marketplaces_for_items_are_every_asked_item_by_platform(backend: Backend) -> None:
    sneaker = await store_item(backend, a_card("sneaker"))
    other = await store_item(backend, a_card("other"))
    quiet = await store_item(backend, a_card("quiet"))
    unasked = await store_item(backend, a_card("unasked"))
    stockx, goat = a_marketplace("stockx", "238.00"), a_marketplace("goat", "219.99", "EUR")

    async def put_all(uow: UnitOfWork) -> None:
        await uow.marketplaces.put(sneaker, stockx)
        await uow.marketplaces.put(sneaker, goat)
        await uow.marketplaces.put(other, a_marketplace("stockx", "10.00"))
        await uow.marketplaces.put(unasked, a_marketplace("goat", "1.00"))

    await committed(backend, put_all)
    missing = sneaker + other + quiet + unasked + 1000
    async with backend.factory() as uow:
        found = await uow.marketplaces.for_items([other, sneaker, quiet, missing])
        assert await uow.marketplaces.for_items([]) == {}
        one = await uow.marketplaces.for_item(sneaker)
    assert found == {
        other: [read_back(a_marketplace("stockx", "10.00"))],
        sneaker: [read_back(goat), read_back(stockx)],
        quiet: [],
        missing: [],
    }
    assert one == found[sneaker]


async def test_a_marketplace_row_holds_one_currency_of_a_known_item(backend: Backend) -> None:
    item_id = await store_item(backend, a_card())
    mixed = a_marketplace(highest_bid=Money(Decimal("200"), "EUR"))
    async with backend.factory() as uow:
        with pytest.raises(ValueError, match="one currency"):
            await uow.marketplaces.put(item_id, mixed)
    async with backend.factory() as uow:
        assert await uow.marketplaces.for_item(item_id) == []
        with pytest.raises(Exception, match=UNKNOWN_ITEM):
            await uow.marketplaces.put(item_id + 1000, a_marketplace())


@real_databases
@pytest.mark.parametrize("value", ["1.0001", "-0.2"])
async def test_the_database_refuses_a_volatility_outside_0_to_1(
    backend: Backend, value: str
) -> None:
    """MarketplaceData refuses it itself; the database is the last word for any writer that
    builds a row another way."""
    item_id = await store_item(backend, a_card())
    kept = a_marketplace("stockx")
    await committed(backend, lambda uow: uow.marketplaces.put(item_id, kept))
    for platform in ("stockx", "goat"):  # the update of a row, and a new row
        bad = a_marketplace(platform)
        object.__setattr__(bad, "volatility", Decimal(value))  # past the record's own check
        async with backend.factory() as uow:
            with pytest.raises(IntegrityError, match="ck_marketplace_data_volatility"):
                await uow.marketplaces.put(item_id, bad)
    async with backend.factory() as uow:
        assert await uow.marketplaces.for_item(item_id) == [read_back(kept)]
