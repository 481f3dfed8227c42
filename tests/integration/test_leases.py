"""A reading that outlived its lease is not written, on SQLite and PostgreSQL: a slow worker
whose claim expired mid-read writes nothing, and one price drop gives exactly one alert."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from adapters.extract import PageExtractor
from adapters.storage.engine import make_engine
from adapters.storage.uow import SqlUnitOfWorkFactory
from core.checking import CheckConfig, Checker
from core.model import ChatAddress, FetchResult, Product, Rule, RuleKind, Watch
from core.ports import Fetcher
from core.reading import PageReader
from tests.fakes.clock import FakeClock

URL = "https://shop.example/kettle"
LEASE = timedelta(minutes=10)


def page(price: str) -> bytes:
    return (
        '<html><head><script type="application/ld+json">{"@type": "Product", "name": "Kettle",'
        f' "offers": {{"price": "{price}", "priceCurrency": "EUR"}}}}</script></head></html>'
    ).encode()


class Shop(Fetcher):
    """Serves the kettle at `price`; a fetch may be held until the test releases it."""

    def __init__(self, price: str) -> None:
        self.price = price
        self.hold = False
        self.fetching = asyncio.Event()
        self.release = asyncio.Event()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        body = page(self.price)  # what the shop showed when the request arrived
        self.fetching.set()
        if self.hold:
            await self.release.wait()
        return FetchResult(url=url, status=200, body=body, content_type="text/html")


@pytest.fixture
async def uow(sql_database_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    engine = make_engine(sql_database_url)
    factory = SqlUnitOfWorkFactory(engine)
    try:
        yield factory
    finally:
        await factory.aclose()
        await engine.dispose()


def checker(uow: SqlUnitOfWorkFactory, shop: Shop, clock: FakeClock) -> Checker:
    reader = PageReader(shop, PageExtractor(), clock)
    return Checker(uow, reader, clock, CheckConfig(lease=LEASE, jitter=0))


async def test_a_worker_whose_lease_expired_mid_read_writes_nothing(
    uow: SqlUnitOfWorkFactory,
) -> None:
    clock = FakeClock()
    async with uow() as unit:
        product = await unit.products.get_or_add(Product(None, URL, next_check_at=clock.now()))
        await unit.watches.add(
            Watch(
                None,
                "telegram:1",
                product.id or 0,
                ChatAddress("telegram", "1"),
                Rule(RuleKind.ANY_DROP),
                created_at=clock.now(),
            )
        )
        await unit.commit()
    baseline = await checker(uow, Shop("100.00"), clock).run_once()
    assert (baseline.succeeded, baseline.alerts) == (1, 0)

    # Worker A starts the next check and stalls while the page still shows 100.
    clock.advance(hours=2)
    slow = Shop("100.00")
    slow.hold = True
    stalled = asyncio.create_task(checker(uow, slow, clock).run_once())
    await asyncio.wait_for(slow.fetching.wait(), 10)
    # Its lease runs out; worker B takes the product over and reads the new price, 90.
    clock.advance(minutes=11)
    fast = await checker(uow, Shop("90.00"), clock).run_once()
    assert (fast.succeeded, fast.alerts) == (1, 1)
    # A's stale reading of 100 arrives last: dropped, not written over B's 90.
    slow.release.set()
    late = await asyncio.wait_for(stalled, 10)
    assert (late.checked, late.lost, late.alerts) == (0, 1, 0)

    # The next check reads 90 again: no second alert for the same drop.
    clock.advance(hours=2)
    again = await checker(uow, Shop("90.00"), clock).run_once()
    assert (again.succeeded, again.alerts) == (1, 0)
    async with uow() as unit:
        points = await unit.price_points.since(product.id or 0, clock.now() - timedelta(days=1))
        stored = await unit.products.get(product.id or 0)
    assert [point.price for point in points] == [Decimal("100.00"), Decimal("90.00")]
    assert stored is not None and stored.price == Decimal("90.00") and stored.claim_token is None
    async with uow.engine.connect() as connection:
        alerts = (await connection.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
    assert alerts == 1
