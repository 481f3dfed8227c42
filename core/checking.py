"""The check cycle: claim due products, fetch and read them, record, alert, reschedule."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.alert_text import render_status_change
from core.alerts import AlertPolicy
from core.check_batch import BatchRows, Reading, current_reading, without_tracebacks
from core.errors import PricebotError, RetryLater, UnreadablePage
from core.model import Product, ProductStatus
from core.ports import Clock, UnitOfWork, UnitOfWorkFactory
from core.reading import PageReader
from core.recording import message_for, record_observation

log = logging.getLogger(__name__)

STORAGE_FAILURE = "storage"


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
    # Readings not written because the claim expired and another run took the product.
    lost: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def merge(self, other: CycleReport) -> None:
        self.checked += other.checked
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.alerts += other.alerts
        self.lost += other.lost
        for reason, count in other.failures.items():
            self.failures[reason] = self.failures.get(reason, 0) + count


class Checker:
    """Runs check cycles. Each claimed batch is fetched and read concurrently, then written in
    one transaction: price points, statistics, alerts and next check times commit together,
    and one commit per batch instead of per product keeps SQLite fast.

    Every claim carries a token, and a batch writes only the products its token still holds:
    a reading that outlived its lease (a slow shop, a stalled worker) is dropped rather than
    written after the newer reading of whoever took the product over."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        reader: PageReader,
        clock: Clock,
        config: CheckConfig | None = None,
        policy: AlertPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow_factory
        self._reader = reader
        self._clock = clock
        self._config = config or CheckConfig()
        self._policy = policy or AlertPolicy()
        self._rng = rng or random.Random()

    async def run_once(self) -> CycleReport:
        """Checks every product that is due now, batch by batch, then sweeps stale ones.
        Only products due when the cycle started are taken, so each is checked at most once
        per cycle however short the check interval."""
        report = CycleReport()
        started = self._clock.now()
        token = uuid.uuid4().hex
        semaphore = asyncio.Semaphore(self._config.concurrency)
        while True:
            batch = await self._claim(started, token)
            if not batch:
                break
            readings = await asyncio.gather(*(self._read(p, semaphore) for p in batch))
            await self._write(readings, report, token)
        await self._sweep_stale()
        return report

    async def _claim(self, due: datetime, token: str) -> list[Product]:
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.products.claim_due(
                due, now + self._config.lease, self._config.batch, token
            )
            await uow.commit()
        return claimed

    async def _read(self, product: Product, semaphore: asyncio.Semaphore) -> Reading:
        reading = Reading(product)
        async with semaphore:
            try:
                reading.read = await self._reader.read(
                    product.url,
                    selector=product.css_selector,
                    etag=product.etag,
                    last_modified=product.last_modified,
                    known_digest=product.body_digest,
                )
            except PricebotError as error:
                without_tracebacks(error)
                reading.error = error
            except Exception:  # a bug in one page's reading must not stop the cycle
                log.exception("reading product %s failed unexpectedly", product.id)
                reading.error = UnreadablePage()
        return reading

    async def _write(self, readings: list[Reading], report: CycleReport, token: str) -> None:
        batch_report = CycleReport()
        try:
            async with self._uow() as uow:
                ids = [reading.product.id or 0 for reading in readings]
                held = await uow.products.release_claims(ids, token)
                kept = [reading for reading in readings if reading.product.id in held]
                batch_report.lost = len(readings) - len(kept)
                ahead = await BatchRows.read(uow, kept)
                for reading in kept:
                    await self._apply(uow, reading, batch_report, ahead)
                await uow.commit()
            report.merge(batch_report)
            return
        except Exception:
            log.exception("writing a batch of %d failed; writing one by one", len(readings))
        # One bad row must not cost the others their results (or their alerts).
        for reading in readings:
            await self._write_one(reading, report, token)

    async def _write_one(self, reading: Reading, report: CycleReport, token: str) -> None:
        product_id = reading.product.id or 0
        one = CycleReport()
        try:
            async with self._uow() as uow:
                if product_id not in await uow.products.release_claims([product_id], token):
                    report.lost += 1
                    return
                await self._apply(uow, reading, one)
                await uow.commit()
            report.merge(one)
            return
        except Exception:
            log.exception("writing product %s failed", product_id)
        # The reading cannot be stored: the product fails visibly (counted, backed off, its
        # watchers told once it keeps failing) instead of being claimed again every lease.
        report.checked += 1
        report.failed += 1
        report.failures[STORAGE_FAILURE] = report.failures.get(STORAGE_FAILURE, 0) + 1
        try:
            async with self._uow() as uow:
                if product_id not in await uow.products.release_claims([product_id], token):
                    return
                product = await uow.products.get(product_id)
                if product is not None:
                    await self._record_failure(
                        uow, product, STORAGE_FAILURE, None, self._clock.now()
                    )
                await uow.commit()
        except Exception:
            log.exception("recording the failure of product %s failed too", product_id)

    async def _apply(
        self,
        uow: UnitOfWork,
        reading: Reading,
        report: CycleReport,
        ahead: BatchRows | None = None,
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
        if reading.error is not None or reading.read is None:
            error = reading.error or UnreadablePage()
            report.failed += 1
            report.failures[error.reason] = report.failures.get(error.reason, 0) + 1
            await self._record_failure(uow, product, error.reason, error, now)
            return
        report.succeeded += 1
        read = reading.read
        recovered = product.status is ProductStatus.BROKEN
        observation = read.observation
        digest = read.digest
        if read.unchanged:
            if product.body_digest == read.digest:
                # The same bytes as the reading the product holds: that reading, recorded
                # again (a heartbeat point when due), without extracting the page twice.
                observation = current_reading(product)
            else:
                digest = None  # changed meanwhile: the next check reads in full
        # Set before recording, so that one UPDATE writes the reading and the schedule.
        product.etag, product.last_modified = read.etag, read.last_modified
        product.failure_count = 0
        product.status, product.status_reason = ProductStatus.OK, None
        product.next_check_at = self._next_check(now, failures=0)
        if observation is not None:
            product.body_digest = digest
            known = ahead.known(product_id) if ahead is not None else None
            recorded = await record_observation(
                uow, product, observation, now, self._policy, known=known
            )
            report.alerts += recorded.alerts
        else:
            product.last_checked_at = product.last_success_at = now
            if read.unchanged:
                product.body_digest = None
            await uow.products.update(product)
        if recovered:
            await self._tell_watchers(uow, product, broken=False, reason="", now=now)

    async def _record_failure(
        self,
        uow: UnitOfWork,
        product: Product,
        reason: str,
        error: PricebotError | None,
        now: datetime,
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
            product.status_reason = reason
        await uow.products.update(product)
        if newly_broken:
            await self._tell_watchers(uow, product, broken=True, reason=reason, now=now)

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
