"""The check cycle: claim due products, fetch and read them, record, alert, reschedule."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import xxhash

from core.alert_text import render_status_change
from core.alerts import AlertPolicy
from core.errors import (
    ExtractionError,
    FetchError,
    NoPriceFound,
    PricebotError,
    PriceUnavailable,
    RetryLater,
)
from core.model import Availability, Observation, PricePoint, Product, ProductStatus, Watch
from core.ports import Clock, Extractor, Fetcher, UnitOfWork, UnitOfWorkFactory
from core.recording import Known, message_for, record_observation

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """How often and how hard to check."""

    interval: timedelta = timedelta(hours=1)
    batch: int = 200
    concurrency: int = 32
    lease: timedelta = timedelta(minutes=10)  # a claimed product is due again if a worker dies
    jitter: float = 0.1  # +-10 % of the interval, so checks do not bunch up
    max_backoff: timedelta = timedelta(hours=24)
    broken_after: int = 5  # consecutive failures
    stale_after_intervals: int = 3


@dataclass(slots=True)
class CycleReport:
    checked: int = 0
    succeeded: int = 0
    failed: int = 0
    alerts: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def merge(self, other: CycleReport) -> None:
        self.checked += other.checked
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.alerts += other.alerts
        for reason, count in other.failures.items():
            self.failures[reason] = self.failures.get(reason, 0) + count


def page_digest(body: bytes, css_selector: str | None, now: datetime) -> str:
    """What a reading of the page depends on: its bytes and the user's selector. Salted with
    the UTC day, so a page that never changes is still read in full once a day and a reading
    cannot outlive a fix to the extractor (or a bad one) by more than that.

    XXH3-128, not a cryptographic hash: the question is only "the same bytes as last time?",
    where 128 bits leave no room for an accident, and a shop that forged a collision would
    only keep its own page's reading for the rest of the day (it can show any price anyway).
    SHA-256 cost 0.4-0.5 ms per half-megabyte page, 5 % of a check cycle; this 0.03 ms."""
    digest = xxhash.xxh3_128(f"{now:%Y-%m-%d}|{css_selector or ''}|".encode())
    digest.update(body)
    return digest.hexdigest()


@dataclass(slots=True)
class _Reading:
    """What fetching and reading one product gave, before anything is written."""

    product: Product
    observation: Observation | None = None
    not_modified: bool = False
    # The page is byte for byte the one behind the product's current reading (same day).
    unchanged: bool = False
    digest: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: PricebotError | None = None


def _without_tracebacks(error: BaseException) -> None:
    """Drops the frames an error holds (and those of its causes): a reading keeps its error
    until the batch is written, and the frames would keep each failed page's body and DOM."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


class Checker:
    """Runs check cycles. Each claimed batch is fetched and read concurrently, then written in
    one transaction: price points, statistics, alerts and next check times commit together,
    and one commit per batch instead of per product keeps SQLite fast."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        fetcher: Fetcher,
        extractor: Extractor,
        clock: Clock,
        config: CheckConfig | None = None,
        policy: AlertPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow_factory
        self._fetcher = fetcher
        self._extractor = extractor
        self._clock = clock
        self._config = config or CheckConfig()
        self._policy = policy or AlertPolicy()
        self._rng = rng or random.Random()

    async def run_once(self) -> CycleReport:
        """Checks every product that is due now, batch by batch, then sweeps stale ones."""
        report = CycleReport()
        semaphore = asyncio.Semaphore(self._config.concurrency)
        while True:
            batch = await self._claim()
            if not batch:
                break
            readings = await asyncio.gather(*(self._read(p, semaphore) for p in batch))
            await self._write(readings, report)
        await self._sweep_stale()
        return report

    async def _claim(self) -> list[Product]:
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.products.claim_due(
                now, now + self._config.lease, self._config.batch
            )
            await uow.commit()
        return claimed

    async def _read(self, product: Product, semaphore: asyncio.Semaphore) -> _Reading:
        reading = _Reading(product)
        async with semaphore:
            try:
                fetched = await self._fetcher.fetch(
                    product.url, etag=product.etag, last_modified=product.last_modified
                )
                reading.etag, reading.last_modified = fetched.etag, fetched.last_modified
                reading.not_modified = fetched.not_modified
                if not fetched.not_modified:
                    reading.digest = page_digest(
                        fetched.body, product.css_selector, self._clock.now()
                    )
                    reading.unchanged = reading.digest == product.body_digest
                    if not reading.unchanged:
                        reading.observation = self._observe(fetched.body, fetched.url, product)
            except (FetchError, ExtractionError) as error:
                _without_tracebacks(error)
                reading.error = error
            except Exception as error:  # a bug in one page's reading must not stop the cycle
                log.exception("reading product %s failed unexpectedly", product.id)
                reading.error = PricebotError(f"internal error: {type(error).__name__}")
        return reading

    def _observe(self, body: bytes, url: str, product: Product) -> Observation:
        """The page's observation; a sold-out page without a price still counts (restocks)."""
        try:
            observation = self._extractor.extract(body, url, product.css_selector)
        except PriceUnavailable as sold_out:
            observation = sold_out.observation
            assert isinstance(observation, Observation)
        if observation.price is None and observation.availability is not Availability.OUT_OF_STOCK:
            raise NoPriceFound()
        return observation

    async def _write(self, readings: list[_Reading], report: CycleReport) -> None:
        batch_report = CycleReport()
        try:
            async with self._uow() as uow:
                ahead = await _BatchRows.read(uow, readings)
                for reading in readings:
                    await self._apply(uow, reading, batch_report, ahead)
                await uow.commit()
            report.merge(batch_report)
            return
        except Exception:
            log.exception("writing a batch of %d failed; writing one by one", len(readings))
        # One bad row must not cost the others their results (or their alerts).
        for reading in readings:
            try:
                async with self._uow() as uow:
                    one = CycleReport()
                    await self._apply(uow, reading, one)
                    await uow.commit()
                report.merge(one)
            except Exception:
                log.exception("writing product %s failed", reading.product.id)

    async def _apply(
        self,
        uow: UnitOfWork,
        reading: _Reading,
        report: CycleReport,
        ahead: _BatchRows | None = None,
    ) -> None:
        report.checked += 1
        product_id = reading.product.id or 0
        if ahead is not None:
            product = ahead.products.get(product_id)
        else:
            product = await uow.products.get(product_id)
        if product is None:
            return
        now = self._clock.now()
        if reading.error is not None:
            report.failed += 1
            reason = getattr(reading.error, "reason", "internal")
            report.failures[reason] = report.failures.get(reason, 0) + 1
            await self._record_failure(uow, product, reading.error, now)
            return
        report.succeeded += 1
        recovered = product.status is ProductStatus.BROKEN
        observation = reading.observation
        if reading.unchanged:
            if product.body_digest == reading.digest:
                # The same bytes as the reading the product holds: that reading, recorded
                # again (a heartbeat point when due), without extracting the page twice.
                observation = _current_reading(product)
            else:
                reading.digest = None  # changed meanwhile: the next check reads in full
        # Set before recording, so that one UPDATE writes the reading and the schedule.
        product.etag, product.last_modified = reading.etag, reading.last_modified
        product.failure_count = 0
        product.status, product.status_reason = ProductStatus.OK, None
        product.next_check_at = self._next_check(now, failures=0)
        if observation is not None:
            product.body_digest = reading.digest
            known = ahead.known(product_id) if ahead is not None else None
            recorded = await record_observation(
                uow, product, observation, now, self._policy, known=known
            )
            report.alerts += recorded.alerts
        else:
            product.last_checked_at = product.last_success_at = now
            if reading.unchanged:
                product.body_digest = None
            await uow.products.update(product)
        if recovered:
            await self._tell_watchers(uow, product, broken=False, reason="", now=now)

    async def _record_failure(
        self, uow: UnitOfWork, product: Product, error: PricebotError, now: datetime
    ) -> None:
        product.body_digest = None  # the next good page is read in full
        product.failure_count += 1
        product.last_checked_at = now
        product.next_check_at = self._next_check(now, failures=product.failure_count)
        if isinstance(error, RetryLater) and error.retry_after:
            # The shop named a time: come back no earlier than that.
            asked = now + timedelta(seconds=error.retry_after)
            product.next_check_at = max(product.next_check_at, asked)
        newly_broken = (
            product.failure_count >= self._config.broken_after
            and product.status is not ProductStatus.BROKEN
        )
        if newly_broken:
            product.status = ProductStatus.BROKEN
            product.status_reason = error.user_message
        await uow.products.update(product)
        if newly_broken:
            await self._tell_watchers(uow, product, broken=True, reason=error.user_message, now=now)

    async def _tell_watchers(
        self, uow: UnitOfWork, product: Product, *, broken: bool, reason: str, now: datetime
    ) -> None:
        reply = render_status_change(product, broken=broken, reason=reason)
        episode = (product.last_success_at or product.next_check_at or now).isoformat()
        event = "broken" if broken else "recovered"
        for watch in await uow.watches.for_product(product.id or 0):
            key = f"status:{watch.id}:{event}:{episode}"
            await uow.outbox.add(message_for(watch, key, reply, now))

    def _next_check(self, now: datetime, *, failures: int) -> datetime:
        base = (
            self._config.interval * (2 ** min(failures, 16)) if failures else self._config.interval
        )
        base = min(base, self._config.max_backoff)
        spread = base.total_seconds() * self._config.jitter
        return now + base + timedelta(seconds=self._rng.uniform(-spread, spread))

    async def _sweep_stale(self) -> None:
        cutoff = self._clock.now() - self._config.interval * self._config.stale_after_intervals
        async with self._uow() as uow:
            await uow.products.mark_stale(cutoff)
            await uow.commit()


@dataclass(slots=True)
class _BatchRows:
    """The rows a batch's writes start from, read in the batch's own transaction with one
    query per table instead of a few per product."""

    products: dict[int, Product]
    latest: dict[int, PricePoint]
    watches: dict[int, list[Watch]]

    @classmethod
    async def read(cls, uow: UnitOfWork, readings: list[_Reading]) -> _BatchRows:
        ids = [reading.product.id for reading in readings if reading.product.id is not None]
        # Points and watches matter only where something was read.
        read_ok = [
            reading.product.id
            for reading in readings
            if reading.product.id is not None and reading.error is None
        ]
        return cls(
            products=await uow.products.get_many(ids),
            latest=await uow.price_points.latest_many(read_ok),
            watches=await uow.watches.for_products(read_ok),
        )

    def known(self, product_id: int) -> Known:
        return Known(self.latest.get(product_id), self.watches.get(product_id, []))


def _current_reading(product: Product) -> Observation:
    """The observation a product's fields hold (what its last full reading found)."""
    return Observation(
        price=product.price,
        currency=product.currency,
        availability=product.availability,
        title=product.title,
        image=product.image,
        method="unchanged",
        confidence=1.0,
    )
