"""Repository contract: the memory fake, SQLite (file) and PostgreSQL behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import OperationalError

from adapters.storage import inline_sqlite
from adapters.storage.engine import make_engine
from adapters.storage.tables import audit_log, holdings, metadata
from adapters.storage.uow import SqlUnitOfWorkFactory
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
from core.ports import UnitOfWork, UnitOfWorkFactory
from tests.fakes.memory import MemoryStore, MemoryUnitOfWorkFactory
from tests.integration.conftest import admin_sql

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALICE = "telegram:1001"
BOB = "discord:2002"
DM = ChatAddress("telegram", "1001")
GROUP = ChatAddress("telegram", "-100500")
GROUP_TOPIC = ChatAddress("telegram", "-100500", "7")

AuditRow = tuple[str, str, str, datetime]


@dataclass
class Backend:
    """One storage implementation plus the few raw operations the ports do not offer yet."""

    name: str
    factory: UnitOfWorkFactory
    add_holding: Callable[[str, int | None], Awaitable[None]]
    audit_rows: Callable[[], Awaitable[list[AuditRow]]]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None for the memory fake, else the URL of an empty database at the newest schema."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return request.getfixturevalue("migrated_sqlite_url")
    url: str = request.getfixturevalue("migrated_postgres_url")
    # The module shares one PostgreSQL database: start every test from empty tables.
    names = ", ".join(table.name for table in metadata.sorted_tables)
    asyncio.run(admin_sql(url, f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
async def backend(database_url: str | None) -> AsyncIterator[Backend]:
    if database_url is None:
        store = MemoryStore()

        async def add_memory_holding(owner: str, product_id: int | None) -> None:
            store.add_holding(owner, product_id)

        async def memory_audit_rows() -> list[AuditRow]:
            return [(e.actor, e.action, e.detail, e.at) for e in store.audit.values()]

        yield Backend(
            "memory", MemoryUnitOfWorkFactory(store), add_memory_holding, memory_audit_rows
        )
        return

    engine = make_engine(database_url)

    async def add_sql_holding(owner: str, product_id: int | None) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                insert(holdings).values(
                    owner=owner, product_id=product_id, quantity=Decimal(1), created_at=NOW
                )
            )

    async def sql_audit_rows() -> list[AuditRow]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(
                    audit_log.c.actor, audit_log.c.action, audit_log.c.detail, audit_log.c.at
                ).order_by(audit_log.c.id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    factory = SqlUnitOfWorkFactory(engine)
    try:
        yield Backend(engine.dialect.name, factory, add_sql_holding, sql_audit_rows)
    finally:
        await factory.aclose()
        await engine.dispose()


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


async def committed(backend: Backend, work: Callable[[UnitOfWork], Awaitable[object]]) -> object:
    """Runs `work` in its own unit of work and commits it."""
    async with backend.factory() as uow:
        result = await work(uow)
        await uow.commit()
    return result


async def store_product(backend: Backend, product: Product) -> int:
    stored = await committed(backend, lambda uow: uow.products.add(product))
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
    )
    product_id = await store_product(backend, replace(original))

    async with backend.factory() as uow:
        by_id = await uow.products.get(product_id)
        by_url = await uow.products.get_by_url(original.url)
        assert await uow.products.get(product_id + 1000) is None
        assert await uow.products.get_by_url("https://shop.example/other") is None

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
    async with backend.factory() as uow:
        product = await uow.products.get(product_id)
    assert product is not None and product.next_check_at is not None
    assert product.next_check_at.tzinfo == UTC
    assert product.next_check_at == datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC)


async def test_naive_datetimes_are_refused(backend: Backend) -> None:
    async with backend.factory() as uow:
        with pytest.raises(Exception, match="naive datetime"):
            await uow.products.add(a_product(next_check_at=datetime(2026, 1, 5, 9, 0)))


async def test_update_persists_and_returned_objects_are_copies(backend: Backend) -> None:
    product_id = await add_product(backend)
    async with backend.factory() as uow:
        product = await uow.products.get(product_id)
        assert product is not None
        product.price, product.currency = Decimal("25.99"), "EUR"
        await uow.products.update(product)
        product.title = "changed after update, never saved"
        await uow.commit()
    async with backend.factory() as uow:
        stored = await uow.products.get(product_id)
    assert stored is not None
    assert (stored.price, stored.currency, stored.title) == (Decimal("25.99"), "EUR", None)


async def test_product_url_is_unique(backend: Backend) -> None:
    await add_product(backend, "https://shop.example/same")
    async with backend.factory() as uow:
        with pytest.raises(Exception, match=r"(?i)unique"):
            await uow.products.add(a_product("https://shop.example/same"))


async def test_claim_due_only_takes_products_someone_wants(backend: Backend) -> None:
    watched = await add_product(backend, "https://shop.example/watched")
    held = await add_product(backend, "https://shop.example/held")
    unwatched = await add_product(backend, "https://shop.example/nobody")
    untracked = await add_product(backend, "https://shop.example/untracked")
    await add_watch(backend, ALICE, watched)
    await add_watch(backend, ALICE, untracked, active=False)
    await backend.add_holding(BOB, held)
    await backend.add_holding(BOB, None)  # a card holding without a product page

    async with backend.factory() as uow:
        claimed = await uow.products.claim_due(NOW, NOW + timedelta(minutes=5), 100)
        await uow.commit()
    assert sorted(p.id for p in claimed) == sorted([watched, held])
    assert unwatched not in {p.id for p in claimed}


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
        first = await uow.products.claim_due(NOW, lease, 2)
        await uow.commit()
    assert [p.id for p in first] == [ids["never"], ids["old"]]
    assert all(p.next_check_at == lease for p in first)

    async with backend.factory() as uow:
        rest = await uow.products.claim_due(NOW, lease, 10)
        await uow.commit()
    assert [p.id for p in rest] == [ids["recent"], ids["exact"]]

    async with backend.factory() as uow:
        assert await uow.products.claim_due(NOW, lease, 10) == []
        stored = await uow.products.get(ids["never"])
        assert stored is not None and stored.next_check_at == lease
        # Once the lease runs out, the products are due again (the later one too).
        again = await uow.products.claim_due(lease, lease + timedelta(minutes=10), 10)
    assert {p.id for p in again} == set(ids.values())


async def test_claim_due_lease_is_dropped_on_rollback(backend: Backend) -> None:
    product_id = await add_product(backend)
    await add_watch(backend, ALICE, product_id)
    async with backend.factory() as uow:
        assert [p.id for p in await uow.products.claim_due(NOW, NOW + timedelta(hours=1), 5)] == [
            product_id
        ]
    async with backend.factory() as uow:
        assert [p.id for p in await uow.products.claim_due(NOW, NOW + timedelta(hours=1), 5)] == [
            product_id
        ]


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
    )
    watch_id = await store_watch(backend, replace(original))
    percent = a_watch(
        ALICE, product_id, DM, rule=Rule(RuleKind.DROP_PERCENT, percent=Decimal("12.5"))
    )
    percent_id = await add_watch(backend, ALICE, product_id, address=DM, rule=percent.rule)

    async with backend.factory() as uow:
        stored = await uow.watches.get_owned(ALICE, watch_id)
        stored_percent = await uow.watches.get_owned(ALICE, percent_id)
    assert stored == replace(original, id=watch_id)
    assert stored_percent is not None and stored_percent.rule == percent.rule


async def test_watches_are_scoped_to_their_owner(backend: Backend) -> None:
    product_id = await add_product(backend)
    alices = await add_watch(backend, ALICE, product_id)

    async with backend.factory() as uow:
        assert await uow.watches.get_owned(BOB, alices) is None
        assert await uow.watches.list_owned(BOB) == []
        assert await uow.watches.count_owned(BOB) == 0
        assert await uow.watches.find(BOB, product_id, DM) is None
        mine = await uow.watches.get_owned(ALICE, alices)
    assert mine is not None and mine.owner == ALICE


async def test_owned_watches_are_active_ones_in_id_order(backend: Backend) -> None:
    first = await add_product(backend, "https://shop.example/1")
    second = await add_product(backend, "https://shop.example/2")
    a = await add_watch(backend, ALICE, second)
    b = await add_watch(backend, ALICE, first, address=GROUP)
    stopped = await add_watch(backend, ALICE, first, active=False)
    await add_watch(backend, BOB, first)

    async with backend.factory() as uow:
        assert [w.id for w in await uow.watches.list_owned(ALICE)] == [a, b]
        assert await uow.watches.count_owned(ALICE) == 2
        assert await uow.watches.get_owned(ALICE, stopped) is None
        assert [w.owner for w in await uow.watches.for_product(first)] == [ALICE, BOB]
        assert [w.id for w in await uow.watches.for_product(second)] == [a]


async def test_find_matches_owner_product_and_full_address(backend: Backend) -> None:
    product_id = await add_product(backend)
    in_topic = await add_watch(backend, ALICE, product_id, address=GROUP_TOPIC)
    in_dm = await add_watch(backend, ALICE, product_id, address=DM)
    await add_watch(backend, ALICE, product_id, address=GROUP, active=False)

    async with backend.factory() as uow:
        topic = await uow.watches.find(ALICE, product_id, GROUP_TOPIC)
        dm = await uow.watches.find(ALICE, product_id, DM)
        assert await uow.watches.find(ALICE, product_id, GROUP) is None  # only inactive there
        assert await uow.watches.find(ALICE, product_id + 1, DM) is None
    assert topic is not None and topic.id == in_topic
    assert dm is not None and dm.id == in_dm


async def test_watch_update_persists(backend: Backend) -> None:
    product_id = await add_product(backend)
    watch_id = await add_watch(backend, ALICE, product_id)
    async with backend.factory() as uow:
        watch = await uow.watches.get_owned(ALICE, watch_id)
        assert watch is not None
        watch.rule = Rule(RuleKind.TARGET, Money(Decimal("19.99"), "GBP"))
        watch.last_alert_price, watch.last_alert_at = Decimal("18.00"), NOW
        watch.target_armed = False
        await uow.watches.update(watch)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.watches.get_owned(ALICE, watch_id) == watch
        watch.active = False
        await uow.watches.update(watch)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.watches.get_owned(ALICE, watch_id) is None
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
        await uow.products.add(a_product())
        await uow.commit()

    # Against a committed row too: on PostgreSQL a failed INSERT would abort the transaction
    # and lose the work around it.
    async with backend.factory() as uow:
        assert await uow.outbox.add(a_message("alert:1:target:9")) is False
        await uow.products.add(a_product("https://shop.example/after-duplicate"))
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
        assert await uow.outbox.claim(first.id, NOW, NOW + timedelta(minutes=2))
        assert not await uow.outbox.claim(first.id, NOW, NOW + timedelta(minutes=2))
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
        assert await uow.outbox.count_sent_since(ALICE, NOW) == 2


async def test_outbox_update_persists(backend: Backend) -> None:
    await committed(backend, lambda uow: uow.outbox.add(a_message("a")))
    async with backend.factory() as uow:
        (message,) = await uow.outbox.pending(NOW, 10)
        message.attempts = 2
        message.next_attempt_at = NOW + timedelta(minutes=5)
        message.error = "rate limited"
        await uow.outbox.update(message)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.outbox.pending(NOW, 10) == []
        (retried,) = await uow.outbox.pending(NOW + timedelta(minutes=5), 10)
        assert retried == message
        retried.status, retried.platform_message_id = OutboxStatus.SENT, "555"
        await uow.outbox.update(retried)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.outbox.pending(NOW + timedelta(days=1), 10) == []
        assert await uow.outbox.count_sent_since(ALICE, NOW) == 1


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


# ----- chats, users, audit --------------------------------------------------------------


async def test_chat_activity(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.chats.is_active(GROUP) is True  # never seen: nothing says it is gone
        await uow.chats.touch(GROUP, "group")
        await uow.chats.touch(GROUP, "group")
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.chats.is_active(GROUP_TOPIC) is True
        await uow.chats.deactivate(GROUP_TOPIC, "kicked")  # a thread stands for its chat
        await uow.chats.deactivate(ChatAddress("discord", "42"), "forbidden")
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.chats.is_active(GROUP) is False
        assert await uow.chats.is_active(ChatAddress("discord", "42")) is False
        assert await uow.chats.is_active(DM) is True
        await uow.chats.touch(GROUP, "group")  # someone talks there again
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.chats.is_active(GROUP) is True


async def test_users(backend: Backend) -> None:
    async with backend.factory() as uow:
        assert await uow.users.count() == 0
        assert await uow.users.is_banned(ALICE) is False
        await uow.users.ensure(ALICE, "Alice")
        await uow.users.ensure(ALICE, "Alice")
        await uow.users.ensure(ALICE, "")
        await uow.users.ensure(BOB, "")
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.users.count() == 2
        await uow.users.set_banned(ALICE, True)
        await uow.users.set_banned("discord:unknown", True)  # banned before first contact
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.users.is_banned(ALICE) is True
        assert await uow.users.is_banned(BOB) is False
        assert await uow.users.is_banned("discord:unknown") is True
        assert await uow.users.count() == 3
        await uow.users.ensure(ALICE, "Alice B.")  # seeing a user again does not unban
        await uow.users.set_banned("discord:unknown", False)
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.users.is_banned(ALICE) is True
        assert await uow.users.is_banned("discord:unknown") is False


async def test_audit_records(backend: Backend) -> None:
    async with backend.factory() as uow:
        await uow.audit.record("telegram:1", "ban", "discord:2", NOW)
        await uow.audit.record("telegram:1", "broadcast", "hello", NOW + timedelta(seconds=1))
        await uow.commit()
    async with backend.factory() as uow:
        await uow.audit.record("telegram:1", "rolled back", "", NOW)
    assert await backend.audit_rows() == [
        ("telegram:1", "ban", "discord:2", NOW),
        ("telegram:1", "broadcast", "hello", NOW + timedelta(seconds=1)),
    ]


# ----- unit of work ---------------------------------------------------------------------


async def test_leaving_without_commit_rolls_back(backend: Backend) -> None:
    async with backend.factory() as uow:
        product = await uow.products.add(a_product())
        assert product.id is not None
        await uow.watches.add(a_watch(ALICE, product.id))
        await uow.outbox.add(a_message("lost"))
    async with backend.factory() as uow:
        assert await uow.products.get_by_url(product.url) is None
        assert await uow.watches.count_owned(ALICE) == 0
        assert await uow.outbox.pending(NOW, 10) == []


async def test_exception_rolls_back(backend: Backend) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with backend.factory() as uow:
            await uow.products.add(a_product())
            raise RuntimeError("boom")
    async with backend.factory() as uow:
        assert await uow.products.get_by_url(a_product().url) is None


async def test_rollback_discards_and_the_unit_of_work_goes_on(backend: Backend) -> None:
    async with backend.factory() as uow:
        await uow.products.add(a_product("https://shop.example/discarded"))
        await uow.rollback()
        await uow.products.add(a_product("https://shop.example/kept"))
        await uow.commit()
    async with backend.factory() as uow:
        assert await uow.products.get_by_url("https://shop.example/discarded") is None
        assert await uow.products.get_by_url("https://shop.example/kept") is not None


async def test_changes_are_invisible_to_others_until_commit(backend: Backend) -> None:
    async with backend.factory() as writer:
        await writer.products.add(a_product())
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

    async def second_worker() -> list[Product]:
        async with backend.factory() as uow:
            claimed = await uow.products.claim_due(NOW, lease, 10)
            await uow.commit()
        return claimed

    async with backend.factory() as first_worker:
        first = await first_worker.products.claim_due(NOW, lease, 2)
        second_task = asyncio.create_task(second_worker())
        await asyncio.sleep(0.2)
        if backend.name == "postgresql":
            # The first claim is not committed: its rows are locked and SKIP LOCKED passes
            # over them instead of waiting.
            assert second_task.done()
        else:
            # SQLite has one writer at a time: the second worker waits for the first,
            # without blocking the event loop (this test's sleep ran meanwhile).
            assert not second_task.done()
        await first_worker.commit()
    second = await second_task
    assert [p.id for p in first] == [ids[5], ids[4]]
    assert {p.id for p in second} == set(ids[:4])


@real_databases
async def test_concurrent_workers_never_claim_the_same_product(backend: Backend) -> None:
    count = 40
    for n in range(count):
        product_id = await add_product(backend, f"https://shop.example/{n}")
        await add_watch(backend, ALICE, product_id)

    async def worker() -> list[int]:
        mine: list[int] = []
        while True:
            async with backend.factory() as uow:
                batch = await uow.products.claim_due(NOW, NOW + timedelta(hours=1), 3)
                await asyncio.sleep(0)  # let the other workers interleave mid-transaction
                await uow.commit()
            if not batch:
                return mine
            mine.extend(p.id for p in batch if p.id is not None)

    results = await asyncio.gather(*(worker() for _ in range(4)))
    claimed = [product_id for batch in results for product_id in batch]
    assert len(claimed) == len(set(claimed)) == count


async def test_a_writer_waiting_too_long_gets_database_is_locked(
    migrated_sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_sqlite, "WRITE_LOCK_TIMEOUT", 0.2)
    factory = SqlUnitOfWorkFactory(make_engine(migrated_sqlite_url))
    try:
        async with factory() as holder:
            await holder.products.add(a_product("https://shop.example/held"))
            async with factory() as waiter:
                assert await waiter.products.get_by_url("https://shop.example/held") is None
                with pytest.raises(OperationalError, match="database is locked"):
                    await waiter.products.add(a_product("https://shop.example/waits"))
            await holder.commit()
        # The lock went back with the commit: the next writer goes straight through.
        async with factory() as uow:
            await uow.products.add(a_product("https://shop.example/after"))
            await uow.commit()
    finally:
        await factory.aclose()
        await factory.engine.dispose()


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
    started = asyncio.Event()

    async def one(n: int) -> int | None:
        async with factory() as uow:
            await uow.products.get_by_url("https://shop.example/none")
            await started.wait()  # every unit of work holds its connection at once
            stored = await uow.products.add(a_product(f"https://shop.example/{n}"))
            await uow.commit()
            return stored.id

    try:
        tasks = [asyncio.create_task(one(n)) for n in range(30)]
        await asyncio.sleep(0.05)
        started.set()
        ids = await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
        async with factory() as uow:
            stored = await uow.products.get_many([i for i in ids if i is not None])
    finally:
        await factory.aclose()
        await factory.engine.dispose()
    assert len(stored) == 30
