"""The check cycle: claim due products, fetch and read them, record, alert, reschedule."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.alert_text import render_status_change
from core.alerts import AlertPolicy
from core.errors import ExtractionError, FetchError, NoPriceFound, PricebotError
from core.model import OutboxMessage, Product, ProductStatus
from core.ports import Clock, Extractor, Fetcher, UnitOfWork, UnitOfWorkFactory
from core.recording import record_observation

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


class Checker:
    """Runs check cycles. Network work is concurrent; database writes go one at a time per
    process, which keeps SQLite free of lock contention and costs PostgreSQL little."""

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
        self._write_lock = asyncio.Lock()

    async def run_once(self) -> CycleReport:
        """Checks every product that is due now, batch by batch, then sweeps stale ones."""
        report = CycleReport()
        semaphore = asyncio.Semaphore(self._config.concurrency)
        while True:
            batch = await self._claim()
            if not batch:
                break
            await asyncio.gather(*(self._guarded(p, semaphore, report) for p in batch))
        await self._sweep_stale()
        return report

    async def _claim(self) -> list[Product]:
        now = self._clock.now()
        async with self._write_lock, self._uow() as uow:
            claimed = await uow.products.claim_due(
                now, now + self._config.lease, self._config.batch
            )
            await uow.commit()
        return claimed

    async def _guarded(
        self, product: Product, semaphore: asyncio.Semaphore, report: CycleReport
    ) -> None:
        async with semaphore:
            try:
                await self.check(product, report)
            except Exception:  # a bug in one product's check must not stop the cycle
                log.exception("check of product %s failed unexpectedly", product.id)

    async def check(self, product: Product, report: CycleReport) -> None:
        report.checked += 1
        try:
            fetched = await self._fetcher.fetch(
                product.url, etag=product.etag, last_modified=product.last_modified
            )
            observation = None
            if not fetched.not_modified:
                observation = self._extractor.extract(
                    fetched.body, fetched.url, product.css_selector
                )
                if observation.price is None and observation.availability != "OutOfStock":
                    raise NoPriceFound()
        except (FetchError, ExtractionError) as error:
            report.failed += 1
            report.failures[error.reason] = report.failures.get(error.reason, 0) + 1
            await self._record_failure(product.id or 0, error)
            return
        report.succeeded += 1
        async with self._write_lock, self._uow() as uow:
            current = await uow.products.get(product.id or 0)
            if current is None:
                return
            now = self._clock.now()
            recovered = current.status is ProductStatus.BROKEN
            if observation is not None:
                recorded = await record_observation(uow, current, observation, now, self._policy)
                report.alerts += recorded.alerts
            else:
                current.last_checked_at = current.last_success_at = now
            current.etag, current.last_modified = fetched.etag, fetched.last_modified
            current.failure_count = 0
            current.status, current.status_reason = ProductStatus.OK, None
            current.next_check_at = self._next_check(now, failures=0)
            await uow.products.update(current)
            if recovered:
                await self._tell_watchers(uow, current, broken=False, reason="", now=now)
            await uow.commit()

    async def _record_failure(self, product_id: int, error: PricebotError) -> None:
        async with self._write_lock, self._uow() as uow:
            product = await uow.products.get(product_id)
            if product is None:
                return
            now = self._clock.now()
            product.failure_count += 1
            product.last_checked_at = now
            product.next_check_at = self._next_check(now, failures=product.failure_count)
            newly_broken = (
                product.failure_count >= self._config.broken_after
                and product.status is not ProductStatus.BROKEN
            )
            if newly_broken:
                product.status = ProductStatus.BROKEN
                product.status_reason = error.user_message
            await uow.products.update(product)
            if newly_broken:
                await self._tell_watchers(
                    uow, product, broken=True, reason=error.user_message, now=now
                )
            await uow.commit()

    async def _tell_watchers(
        self, uow: UnitOfWork, product: Product, *, broken: bool, reason: str, now: datetime
    ) -> None:
        reply = render_status_change(product, broken=broken, reason=reason)
        episode = (product.last_success_at or product.next_check_at or now).isoformat()
        event = "broken" if broken else "recovered"
        for watch in await uow.watches.for_product(product.id or 0):
            await uow.outbox.add(
                OutboxMessage(
                    id=None,
                    dedupe_key=f"status:{watch.id}:{event}:{episode}",
                    address=watch.address,
                    payload=reply.to_dict(),
                    created_at=now,
                    watch_id=watch.id,
                    owner=watch.owner,
                )
            )

    def _next_check(self, now: datetime, *, failures: int) -> datetime:
        base = (
            self._config.interval * (2 ** min(failures, 16)) if failures else self._config.interval
        )
        base = min(base, self._config.max_backoff)
        spread = base.total_seconds() * self._config.jitter
        return now + base + timedelta(seconds=self._rng.uniform(-spread, spread))

    async def _sweep_stale(self) -> None:
        cutoff = self._clock.now() - self._config.interval * self._config.stale_after_intervals
        async with self._write_lock, self._uow() as uow:
            await uow.products.mark_stale(cutoff)
            await uow.commit()
