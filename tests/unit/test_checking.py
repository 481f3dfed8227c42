"""The check cycle against fakes: unchanged pages are not read twice, yet read daily."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from core.checking import CheckConfig, Checker
from core.errors import Timeout
from core.model import Availability, ChatAddress, Observation, Product, Rule, RuleKind, Watch
from core.reading import PageReader, checked, page_digest
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
        product = await unit.products.get_or_add(Product(None, url, next_check_at=clock.now()))
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
    checker = Checker(uow, PageReader(fetcher, extractor, clock), clock, CheckConfig(jitter=0))
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
    assert (report.checked, report.succeeded, report.alerts) == (2, 1, 1)  # the kettle's alert
    # The toaster fails visibly: counted, backed off, not claimed again at every lease.
    assert (report.failed, report.failures) == (1, {"storage": 1})
    async with uow() as unit:
        kettle = await unit.products.get(1)
        toaster = await unit.products.get(product.id or 0)
    assert kettle is not None and kettle.price == Decimal("39.90")
    assert toaster is not None and toaster.price == Decimal("20.00")  # its reading not stored
    assert toaster.failure_count == 1 and toaster.claim_token is None
    assert toaster.next_check_at == clock.now() + timedelta(hours=2)  # backed off
    assert [m.owner for m in uow.store.outbox.values()] == ["test:ann"]


async def test_a_product_failing_to_be_stored_tells_its_watchers_after_repeated_failures(
    parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, uow, fetcher, extractor, checker = parts
    await check(clock, checker, minutes=0)
    from tests.fakes import memory

    async def refuse(self, point):  # type: ignore[no-untyped-def]
        raise RuntimeError("value out of range")

    monkeypatch.setattr(memory.MemoryPricePointRepository, "add", refuse)
    fetcher.pages[URL] = b"<html>39.90 EUR</html>"
    extractor.observations[URL] = Observation(Decimal("39.90"), "EUR", Availability.IN_STOCK)
    for _ in range(5):
        report = await check(clock, checker, hours=30)
        assert report.failures == {"storage": 1}
    product, _ = await state(uow)
    assert product.status.value == "broken" and product.status_reason == "storage"
    [told] = [m for m in uow.store.outbox.values() if m.dedupe_key.startswith("status:")]
    assert "readings cannot be saved" in " ".join(told.payload["blocks"])


async def test_one_cycle_checks_each_product_once_even_when_the_interval_is_shorter(
    parts,
) -> None:
    """A cycle longer than the check interval must not re-claim what it has just checked
    (`pricebot check` would never end)."""
    clock, uow, fetcher, extractor, _ = parts
    other = "https://shop.example/toaster"
    await watched_product(uow, clock, other, "bob")
    fetcher.pages[other] = b"<html>20.00 EUR</html>"
    extractor.observations[other] = Observation(Decimal("20.00"), "EUR", Availability.IN_STOCK)

    class SlowShop(FakeFetcher):
        async def fetch(self, url, *, etag=None, last_modified=None):  # type: ignore[no-untyped-def]
            clock.advance(seconds=5)  # each fetch outlasts the whole interval
            return await fetcher.fetch(url, etag=etag, last_modified=last_modified)

    config = CheckConfig(interval=timedelta(seconds=1), batch=1, jitter=0)
    checker = Checker(uow, PageReader(SlowShop(), extractor, clock), clock, config)
    report = await asyncio.wait_for(checker.run_once(), timeout=10)
    assert report.checked == 2
    assert sorted(fetcher.fetches) == [URL, other]


def test_an_extractors_addresses_are_dropped_not_cut_and_titles_are_cut_visibly() -> None:
    """Any Extractor's answer passes `checked`: a cut address would point somewhere else."""
    long_address = "https://img.example/" + "k" * 2100 + ".jpg"
    observation = checked(
        Observation(
            Decimal("19"),
            "EUR",
            title="Kettle " * 60,
            image=long_address,
            canonical_url=" https://shop.example/p/\tkettle\x00 ",
        )
    )
    assert observation.price == Decimal("19.00")
    assert observation.image is None
    assert observation.canonical_url == "https://shop.example/p/kettle"
    assert observation.title is not None and len(observation.title) == 300
    assert observation.title.endswith("…")
