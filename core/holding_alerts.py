"""Alerts for holdings: an item strays N % from its 30-day average (either way), or the
holder's own ask sits N % above the market's lowest ask (time to reprice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from core.alerts import AlertPolicy
from core.market import MarketplaceData
from core.model import OutboxMessage
from core.money import Money
from core.portfolio import Holding, MarketItem, MarketStats
from core.ports import UnitOfWork
from core.reply import Button, Reply
from core.text import clean_text

# An average of fewer observations says little: no deviation alert before there are these.
MIN_OBSERVATIONS = 3
DEFAULT_REPRICE_PERCENT = Decimal(5)
_HUNDRED = Decimal(100)


class HoldingAlerts:
    """Evaluates the holdings of items after their prices changed; writes alerts to the
    outbox in the caller's transaction (with the prices that caused them)."""

    def __init__(self, policy: AlertPolicy | None = None) -> None:
        self._policy = policy or AlertPolicy()

    async def evaluate(self, uow: UnitOfWork, item: MarketItem, now: datetime) -> int:
        return await self.evaluate_many(uow, [item], now)

    async def evaluate_many(
        self, uow: UnitOfWork, items: Sequence[MarketItem], now: datetime
    ) -> int:
        """Every item's holdings, read with their marketplaces in one query each for all
        the items (a refresh evaluates thousands at once)."""
        unique = {item.id or 0: item for item in items}
        held = await uow.holdings.for_items(list(unique))
        asking = [i for i, found in held.items() if any(h.ask is not None for h in found)]
        markets = await uow.marketplaces.for_items(asking) if asking else {}
        sent = 0
        for item_id, item in unique.items():
            if held[item_id]:
                sent += await self._evaluate(
                    uow, item, held[item_id], markets.get(item_id, []), now
                )
        return sent

    async def _evaluate(
        self,
        uow: UnitOfWork,
        item: MarketItem,
        held: list[Holding],
        markets: list[MarketplaceData],
        now: datetime,
    ) -> int:
        sent = 0
        stats = None
        if item.price is not None and any(h.alert_percent for h in held):
            # In the currency of the item's own price: the market it is valued at.
            stats = await uow.market_prices.stats(item.id or 0, item.price.price.currency, now)
        for holding in held:
            # Both rules change the holding: the second starts from the first's result, and
            # one update writes both (the update writes every column).
            changed, moved = holding, 0
            if stats is not None:
                changed, moved = await self._deviation(uow, holding, item, stats, now)
            changed, repriced = await self._reprice(uow, changed, item, markets, now)
            if changed is not holding:
                await uow.holdings.update(changed)
            sent += moved + repriced
        return sent

    async def _deviation(
        self,
        uow: UnitOfWork,
        holding: Holding,
        item: MarketItem,
        stats: MarketStats,
        now: datetime,
    ) -> tuple[Holding, int]:
        """The holding as the rule leaves it, and the alerts it wrote (0 or 1)."""
        percent, deviation = holding.alert_percent, stats.deviation
        if percent is None or deviation is None or stats.observations_30d < MIN_OBSERVATIONS:
            return holding, 0
        away = abs(deviation) >= percent
        if not away:
            return (holding if holding.alert_armed else replace(holding, alert_armed=True)), 0
        if not holding.alert_armed or not await self._may_alert(uow, holding, now):
            return holding, 0
        assert stats.current is not None and stats.mean_30d is not None
        average = Money(stats.mean_30d, stats.currency)
        way = "above" if deviation > 0 else "below"
        reply = _reply(
            f"Market move: {_title(item)}",
            f"{stats.current.price.format()} vs 30-day average {average.format()} "
            f"({'+' if deviation > 0 else ''}{deviation}%)",
            f"Why: the market price is {abs(deviation)}% {way} its 30-day average; you asked "
            f"to hear about moves of {percent}% or more (/holdings alert).",
            f"You hold {holding.quantity}, now worth "
            f"{Money(stats.current.price.amount * holding.quantity, stats.currency).format()}.",
            item=item,
        )
        key = f"holding:{holding.id}:deviation:{stats.current.observed_at.isoformat()}"
        added = await uow.outbox.add(_message(holding, key, reply, now))
        return replace(holding, alert_armed=False, last_alert_at=now), int(added)

    async def _reprice(
        self,
        uow: UnitOfWork,
        holding: Holding,
        item: MarketItem,
        markets: list[MarketplaceData],
        now: datetime,
    ) -> tuple[Holding, int]:
        """The holding as the rule leaves it, and the alerts it wrote (0 or 1)."""
        if holding.ask is None or holding.ask_platform is None:
            return holding, 0
        market = next((m for m in markets if m.platform == holding.ask_platform), None)
        lowest = market.lowest_ask if market is not None else None
        if lowest is None or lowest.currency != holding.ask.currency or lowest.amount <= 0:
            return holding, 0
        percent = holding.alert_percent or DEFAULT_REPRICE_PERCENT
        above = (holding.ask.amount - lowest.amount) / lowest.amount * _HUNDRED
        if above < percent:
            return (holding if holding.ask_armed else replace(holding, ask_armed=True)), 0
        if not holding.ask_armed:
            return holding, 0
        shown = above.quantize(Decimal("0.1"))
        reply = _reply(
            f"Reprice your ask: {_title(item)}",
            f"Your ask on {holding.ask_platform}: {holding.ask.format()}; the lowest ask there "
            f"is now {lowest.format()} ({shown}% below yours).",
            f"Lower your ask to sell sooner, or keep it and wait. /sell {holding.id} compares "
            "the marketplaces.",
            item=item,
        )
        key = f"holding:{holding.id}:reprice:{lowest.amount}:{now.date().isoformat()}"
        added = await uow.outbox.add(_message(holding, key, reply, now))
        return replace(holding, ask_armed=False), int(added)

    async def _may_alert(self, uow: UnitOfWork, holding: Holding, now: datetime) -> bool:
        last = holding.last_alert_at
        if last is not None and now - last < self._policy.cooldown:
            return False
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return await uow.outbox.count_sent_since(holding.owner, day_start) < self._policy.daily_cap


def _title(item: MarketItem) -> str:
    return clean_text(item.label, 120) or item.name


def _reply(*blocks: str, item: MarketItem) -> Reply:
    buttons = (Button("Open", url=item.url),) if item.url else ()
    return Reply(
        (*blocks, *([item.url] if item.url else [])),
        buttons,
        link=item.url,
        thumbnail=item.image,
    )


def _message(holding: Holding, key: str, reply: Reply, now: datetime) -> OutboxMessage:
    return OutboxMessage(
        id=None,
        dedupe_key=key,
        address=holding.address,
        payload=reply.to_dict(),
        created_at=now,
        owner=holding.owner,
    )
