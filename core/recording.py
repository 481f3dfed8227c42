"""Record an observation on a product: price point, statistics, alerts into the outbox."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from core.alert_text import render_alert
from core.alerts import AlertPolicy, evaluate
from core.model import Observation, OutboxMessage, PricePoint, Product, Watch
from core.money import Money
from core.ports import UnitOfWork
from core.reply import Reply

HEARTBEAT = timedelta(days=1)
STATS_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording one observation did."""

    point: PricePoint | None  # the new point, or None when nothing changed
    alerts: int
    suppressed: int


@dataclass(frozen=True, slots=True)
class Known:
    """What a check batch read ahead for one product, in the transaction that records it:
    its newest price point and its active watches (three queries per batch instead of two
    per product)."""

    last: PricePoint | None
    watches: list[Watch]


def _changed(last: PricePoint | None, obs: Observation, now: datetime) -> bool:
    if last is None:
        return True
    if (last.price, last.currency, last.availability) != (
        obs.price,
        obs.currency,
        obs.availability,
    ):
        return True
    return now - last.observed_at >= HEARTBEAT


def update_product_fields(product: Product, obs: Observation, now: datetime) -> None:
    """Copies what was read onto the product row (in place)."""
    product.title = obs.title or product.title
    product.image = obs.image or product.image
    product.price = obs.price
    product.currency = obs.currency
    product.availability = obs.availability
    product.last_checked_at = now
    product.last_success_at = now


def all_time_extended(
    low: Decimal | None, high: Decimal | None, last: PricePoint | None, point: PricePoint
) -> tuple[Decimal | None, Decimal | None] | None:
    """All-time low and high after `point`, from the previous ones, when that needs no look
    at the history: the new point has no price (nothing changes), or it is priced in the
    currency of the priced point before it. None when the history must be read again (the
    first price, a change of currency, a previous point without a price)."""
    if point.price is None:
        return low, high
    if (
        low is None
        or high is None
        or last is None
        or last.price is None
        or last.currency != point.currency
    ):
        return None
    return min(low, point.price), max(high, point.price)


async def record_observation(
    uow: UnitOfWork,
    product: Product,
    obs: Observation,
    now: datetime,
    policy: AlertPolicy,
    *,
    skip_watch_ids: frozenset[int] = frozenset(),
    known: Known | None = None,
) -> Recorded:
    """Stores a price point when price, currency or stock changed (or a day passed), refreshes
    the product's statistics, evaluates every active watch on it and writes alerts to the outbox,
    all inside the caller's unit of work so they commit together. `known` is what the caller
    already read in this unit of work (the newest point and active watches)."""
    assert product.id is not None
    last = known.last if known is not None else await uow.price_points.latest(product.id)
    update_product_fields(product, obs, now)
    if not _changed(last, obs, now):
        await uow.products.update(product)
        return Recorded(None, 0, 0)
    point = await uow.price_points.add(
        PricePoint(None, product.id, now, obs.price, obs.currency, obs.availability)
    )
    window = await uow.price_points.stats(product.id, now - STATS_WINDOW)
    product.low_30d, product.high_30d, product.avg_30d = window.low, window.high, window.average
    extended = all_time_extended(product.low_all, product.high_all, last, point)
    if extended is None:
        overall = await uow.price_points.stats(product.id, None)
        extended = overall.low, overall.high
    product.low_all, product.high_all = extended
    await uow.products.update(product)

    alerts = suppressed = 0
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    low = Money(product.low_30d, product.currency) if product.low_30d and product.currency else None
    watches = known.watches if known is not None else await uow.watches.for_product(product.id)
    for watch in watches:
        if watch.id in skip_watch_ids:
            continue
        decision = evaluate(
            watch, last, point, avg_30d=product.avg_30d, now=now, policy=policy, alerts_today=0
        )
        if decision.event is not None:
            # The daily cap needs a count query; only a watch about to alert pays for it, so a
            # product with a thousand quiet watchers costs no thousand queries.
            sent_today = await uow.outbox.count_sent_since(watch.owner, day_start)
            if sent_today:
                decision = evaluate(
                    watch,
                    last,
                    point,
                    avg_30d=product.avg_30d,
                    now=now,
                    policy=policy,
                    alerts_today=sent_today,
                )
        suppressed += int(decision.suppressed is not None)
        if decision.watch != watch:
            await uow.watches.update(decision.watch)
        if decision.event is None:
            continue
        reply = render_alert(decision.event, watch=decision.watch, product=product, low_30d=low)
        key = f"alert:{watch.id}:{decision.event.kind}:{point.id}"
        added = await uow.outbox.add(message_for(watch, key, reply, now))
        alerts += int(added)
    return Recorded(point, alerts, suppressed)


def message_for(watch: Watch, dedupe_key: str, reply: Reply, now: datetime) -> OutboxMessage:
    """An outbox row that takes `reply` to the chat where `watch` was set up."""
    return OutboxMessage(
        id=None,
        dedupe_key=dedupe_key,
        address=watch.address,
        payload=reply.to_dict(),
        created_at=now,
        watch_id=watch.id,
        owner=watch.owner,
    )


def baseline_watch(watch: Watch, product: Product) -> Watch:
    """A new watch starts from the product's current price as its baseline.

    A target that is already met when tracking starts is reported in the /track reply, so the
    watch starts disarmed at that price: it re-arms above the target, or fires on a further drop.
    """
    already_met = (
        watch.rule.target is not None
        and product.price is not None
        and product.currency == watch.rule.target.currency
        and product.price <= watch.rule.target.amount
    )
    return replace(
        watch,
        baseline_price=product.price,
        baseline_currency=product.currency,
        target_armed=not already_met,
        last_alert_price=product.price if already_met else None,
    )
