"""Holdings and market items: what a collector owns, what it is worth, and the arithmetic."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.market import RateTable
from core.model import ChatAddress
from core.money import Money, minor_unit


class ItemKind(enum.StrEnum):
    CARD = "card"  # a trading card printing, priced by market sources
    PAGE = "page"  # a tracked product page (a shop or marketplace listing)


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """One observation of an item's price: from a source's quote or a listing's reading."""

    item_id: int
    source: str
    market: str
    kind: str
    price: Money
    observed_at: datetime


@dataclass(slots=True)
class MarketItem:
    """Something with a market price: a card printing in one finish, or a product page.

    Cards are keyed by (source, source_id, finish); a page item by its product."""

    id: int | None
    kind: ItemKind
    name: str
    source: str | None = None
    source_id: str | None = None
    finish: str | None = None
    product_id: int | None = None
    game: str | None = None
    set_name: str | None = None
    number: str | None = None
    image: str | None = None
    url: str | None = None
    next_refresh_at: datetime | None = None
    refreshed_at: datetime | None = None
    # The market price holdings are valued at: the newest observation of the item's first
    # market (a source's own order: Scryfall's TCGplayer price before Cardmarket's).
    price: MarketPrice | None = None

    @property
    def label(self) -> str:
        where = self.set_name or ""
        if self.number:
            where += f" #{self.number}"
        finish = f", {self.finish}" if self.finish and self.finish not in ("normal", "any") else ""
        return f"{self.name} ({where.strip()}{finish})" if where.strip() else f"{self.name}{finish}"


@dataclass(slots=True)
class Holding:
    """Units of one item a chat's owner holds: quantity, what one cost, alerts and an ask."""

    id: int | None
    owner: str
    address: ChatAddress
    item_id: int
    quantity: int
    created_at: datetime
    unit_cost: Money | None = None
    condition: str | None = None
    alert_percent: Decimal | None = None
    alert_armed: bool = True
    last_alert_at: datetime | None = None
    ask: Money | None = None  # the owner's own listing price, for repricing alerts
    ask_platform: str | None = None
    ask_armed: bool = True
    active: bool = True


@dataclass(frozen=True, slots=True)
class MarketStats:
    """An item's market in one currency: the newest price, and the 30-day mean and number of
    observations over every source and listing."""

    currency: str
    current: MarketPrice | None
    mean_30d: Decimal | None = None
    observations_30d: int = 0

    @property
    def deviation(self) -> Decimal | None:
        """The current price's distance from the 30-day mean in percent (signed)."""
        if self.current is None or not self.mean_30d:
            return None
        change = (self.current.price.amount - self.mean_30d) / self.mean_30d * 100
        return change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Valued:
    """One holding at market: its price (maybe stale), value, cost and profit or loss."""

    holding: Holding
    item: MarketItem
    price: MarketPrice | None
    stale: bool
    value: Money | None
    cost: Money | None
    profit: Money | None
    profit_percent: Decimal | None


@dataclass(frozen=True, slots=True)
class Totals:
    """A portfolio's sums per currency, and the grand total in one currency at `rates`."""

    value: dict[str, Decimal] = field(default_factory=dict)
    cost: dict[str, Decimal] = field(default_factory=dict)
    grand_value: Money | None = None
    grand_cost: Money | None = None
    rates: RateTable | None = None
    unconverted: tuple[str, ...] = ()  # currencies the rates do not know


def value_holding(
    holding: Holding,
    item: MarketItem,
    price: MarketPrice | None,
    *,
    now: datetime,
    stale_after: timedelta,
) -> Valued:
    """The holding at `price` (the item's last known price, however old): value = quantity x
    price; profit against quantity x unit cost, in the same currency only."""
    stale = price is not None and now - price.observed_at > stale_after
    value = cost = profit = None
    percent = None
    if price is not None:
        value = _money(price.price.amount * holding.quantity, price.price.currency)
    if holding.unit_cost is not None:
        cost = _money(holding.unit_cost.amount * holding.quantity, holding.unit_cost.currency)
    if value is not None and cost is not None and value.currency == cost.currency:
        profit = Money(value.amount - cost.amount, value.currency)
        if cost.amount > 0:
            percent = (profit.amount / cost.amount * 100).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP
            )
    return Valued(holding, item, price, stale, value, cost, profit, percent)


def totals(valued: Sequence[Valued], currency: str, rates: RateTable | None) -> Totals:
    """Sums per currency, then a grand total in `currency` at `rates` (none without them)."""
    value: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    for line in valued:
        if line.value is not None:
            value[line.value.currency] = value.get(line.value.currency, Decimal(0)) + (
                line.value.amount
            )
        if line.cost is not None:
            cost[line.cost.currency] = cost.get(line.cost.currency, Decimal(0)) + line.cost.amount
    if rates is None:
        return Totals(value, cost)
    grand_value, missing_value = _converted(value, currency, rates)
    grand_cost, missing_cost = _converted(cost, currency, rates)
    unconverted = tuple(sorted(set(missing_value) | set(missing_cost)))
    return Totals(value, cost, grand_value, grand_cost, rates, unconverted)


def _converted(
    sums: dict[str, Decimal], currency: str, rates: RateTable
) -> tuple[Money | None, list[str]]:
    total = Decimal(0)
    missing: list[str] = []
    for code, amount in sums.items():
        converted = rates.convert(Money(amount, code), currency)
        if converted is None:
            missing.append(code)
        else:
            total += converted.amount
    if not sums:
        return None, missing
    return _money(total, currency), missing


def _money(amount: Decimal, currency: str) -> Money:
    return Money(amount, currency).quantized()


def to_minor(money: Money) -> int:
    """The amount in the currency's minor units, as an exact integer (SQL sums it)."""
    return int((money.amount / minor_unit(money.currency)).to_integral_value(ROUND_HALF_UP))
