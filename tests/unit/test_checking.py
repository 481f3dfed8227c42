"""The check cycle against fakes: unchanged pages are not read twice, yet read daily."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from core.checking import CheckConfig, Checker, page_digest
from core.errors import Timeout
from core.model import Availability, ChatAddress, Observation, Product, Rule, RuleKind, Watch
from tests.fakes.clock import FakeClock
from tests.fakes.memory import MemoryUnitOfWorkFactory
from tests.fakes.web import FakeExtractor, FakeFetcher

URL = "https://shop.example/kettle"


class CountingExtractor(FakeExtractor):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def extract(self, body: bytes, url: str, css_selector: str | None = None) -> Observation:
        self.reads += 1
        return super().extract(body, url, css_selector)


async def watched_product(
    uow: MemoryUnitOfWorkFactory, clock: FakeClock, url: str, who: str
) -> Product:
    """A product due now, with one any-drop watch by test:`who`."""
    async with uow() as unit:
        product = await unit.products.add(Product(None, url, next_check_at=clock.now()))
        await unit.watches.add(
            Watch(
                None,
                f"test:{who}",
                product.id or 0,
                ChatAddress("test", who),
                Rule(RuleKind.ANY_DROP),
                created_at=clock.now(),
            )
        )
        await unit.commit()
    return product


@pytest.fixture
async def parts():
    clock = FakeClock()
    uow = MemoryUnitOfWorkFactory()
    fetcher, extractor = FakeFetcher(), CountingExtractor()
    checker = Checker(uow, fetcher, extractor, clock, CheckConfig(jitter=0))
    await watched_product(uow, clock, URL, "ann")
    fetcher.pages[URL] = b"<html>49.90 EUR</html>"
    extractor.observations[URL] = Observation(Decimal("49.90"), "EUR", Availability.IN_STOCK)
    return clock, uow, fetcher, extractor, checker


async def check(clock: FakeClock, checker: Checker, **later: float):
    clock.advance(**(later or {"hours": 1}))
    return await checker.run_once()


async def state(uow: MemoryUnitOfWorkFactory) -> tuple[Product, int]:
    async with uow() as unit:
        product = await unit.products.get(1)
        points = len(await unit.price_points.since(1, product.last_checked_at - timedelta(days=9)))
    assert product is not None
    return product, points


async def test_an_unchanged_page_is_recorded_without_being_read_again(parts) -> None:
    clock, uow, fetcher, extractor, checker = parts
    await check(clock, checker, minutes=0)
    report = await check(clock, checker)
    assert (report.checked, report.succeeded, extractor.reads) == (1, 1, 1)
    product, points = await state(uow)
    assert product.price == Decimal("49.90")
    assert product.last_success_at == clock.now()
    assert product.next_check_at == clock.now() + timedelta(hours=1)
    assert product.body_digest == page_digest(fetcher.pages[URL], None, clock.now())
    assert points == 1


async def test_a_changed_page_is_read(parts) -> None:
    clock, uow, fetcher, extractor, checker = parts
    await check(clock, checker, minutes=0)
    fetcher.pages[URL] = b"<html>39.90 EUR</html>"
    extractor.observations[URL] = Observation(Decimal("39.90"), "EUR", Availability.IN_STOCK)
    report = await check(clock, checker)
    assert (extractor.reads, report.alerts) == (2, 1)
    product, points = await state(uow)
    assert (product.price, points) == (Decimal("39.90"), 2)


async def test_an_unchanged_page_is_still_read_in_full_once_a_day(parts) -> None:
    clock, uow, _, extractor, checker = parts
    await check(clock, checker, hours=15.5)  # 00:30
    for _ in range(23):
        await check(clock, checker)
    assert extractor.reads == 1
    await check(clock, checker)  # 00:30 the next day
    assert extractor.reads == 2
    _, points = await state(uow)
    assert points == 2  # the daily heartbeat


async def test_a_new_selector_means_a_new_reading(parts) -> None:
    clock, uow, _, extractor, checker = parts
    await check(clock, checker, minutes=0)
    async with uow() as unit:
        product = await unit.products.get(1)
        assert product is not None
        product.css_selector = ".price-now"
        await unit.products.update(product)
        await unit.commit()
    await check(clock, checker)
    assert extractor.reads == 2


async def test_a_failed_check_forgets_the_digest(parts) -> None:
    clock, uow, fetcher, extractor, checker = parts
    await check(clock, checker, minutes=0)
    page = fetcher.pages[URL]
    fetcher.pages[URL] = Timeout()
    report = await check(clock, checker)
    assert report.failed == 1
    product, _ = await state(uow)
    assert product.body_digest is None
    fetcher.pages[URL] = page
    await check(clock, checker, hours=3)  # after the backoff
    assert extractor.reads == 2


async def test_a_failed_reading_keeps_no_traceback(parts) -> None:
    _, _, _, extractor, checker = parts
    extractor.observations.clear()
    reading = await checker._read(Product(1, URL), asyncio.Semaphore(1))
    assert reading.error is not None
    assert reading.error.__traceback__ is None


async def test_a_batch_that_cannot_be_written_is_written_product_by_product(
    parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One product whose row cannot be written costs the batch its single transaction, not
    the other products their readings and alerts."""
    clock, uow, fetcher, extractor, checker = parts
    other = "https://shop.example/toaster"
    product = await watched_product(uow, clock, other, "bob")
    fetcher.pages[other] = b"<html>20.00 EUR</html>"
    extractor.observations[other] = Observation(Decimal("20.00"), "EUR", Availability.IN_STOCK)
    await check(clock, checker, minutes=0)  # baselines for both

    from tests.fakes import memory

    add_point = memory.MemoryPricePointRepository.add

    async def refuse_the_toaster(self, point):  # type: ignore[no-untyped-def]
        if point.product_id == product.id:
            raise RuntimeError("disk full")
        return await add_point(self, point)

    fetcher.pages[URL] = b"<html>39.90 EUR</html>"
    extractor.observations[URL] = Observation(Decimal("39.90"), "EUR", Availability.IN_STOCK)
    fetcher.pages[other] = b"<html>15.00 EUR</html>"
    extractor.observations[other] = Observation(Decimal("15.00"), "EUR", Availability.IN_STOCK)
    monkeypatch.setattr(memory.MemoryPricePointRepository, "add", refuse_the_toaster)
    report = await check(clock, checker)
    assert (report.checked, report.alerts) == (1, 1)  # the kettle, with its alert
    async with uow() as unit:
        kettle = await unit.products.get(1)
        toaster = await unit.products.get(product.id or 0)
    assert kettle is not None and kettle.price == Decimal("39.90")
    assert toaster is not None and toaster.price == Decimal("20.00")  # untouched, retried later
    assert [m.owner for m in uow.store.outbox.values()] == ["test:ann"]
