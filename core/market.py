"""Market data from outside sources (card prices, marketplaces, exchange rates): the records
and the small ports core uses; the adapters live in adapters/sources."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.errors import PricebotError
from core.money import Money, minor_unit


class SourceError(PricebotError):
    """A market source could not answer; `reason` says why (timeout, rate_limited,
    malformed, unavailable, unauthorized, rejected). Nothing from a failed answer is ever
    stored."""

    reason = "source"

    def __init__(self, source: str, reason: str, user_message: str | None = None) -> None:
        self.source = source
        self.reason = reason
        super().__init__(
            user_message
            or f"{source} did not answer properly just now ({reason}). Try again in a few minutes."
        )


class SourceRateLimited(SourceError):
    """The source asked us to wait `retry_after` seconds (429 with Retry-After)."""

    def __init__(self, source: str, retry_after: float | None) -> None:
        self.retry_after = retry_after
        super().__init__(
            source,
            "rate_limited",
            f"{source} asked me to slow down. Try again in a minute.",
        )


@dataclass(frozen=True, slots=True)
class CardPrinting:
    """One printing of a trading card as a source knows it (a set, a number, finishes).

    `source_id` is what `MarketSource.quotes` takes: Scryfall's card id, TCGdex's card id,
    YGOPRODeck's card id plus set code ("46986414:LOB-005")."""

    source: str
    source_id: str
    game: str  # "mtg", "pokemon", "yugioh"
    name: str
    set_name: str | None = None
    set_code: str | None = None
    number: str | None = None
    rarity: str | None = None
    finishes: tuple[str, ...] = ()
    image: str | None = None
    url: str | None = None  # the card's page on the source

    @property
    def label(self) -> str:
        """'Black Lotus · Limited Edition Alpha (LEA) #232'."""
        where = self.set_name or ""
        if self.set_code:
            where += f" ({self.set_code.upper()})"
        if self.number:
            where += f" #{self.number}"
        return f"{self.name} · {where.strip()}" if where.strip() else self.name


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """One price a market gives for one printing and finish, as of a time."""

    source: str  # who told us: "scryfall", "tcgdex", "ygoprodeck", "stockx"
    market: str  # whose price it is: "tcgplayer", "cardmarket", "cardhoarder", "ebay"...
    item_id: str  # the printing's source_id
    # "normal", "foil", "etched", "holofoil", "reverse-holofoil", "1st-edition", a rarity,
    # "mtgo" (the digital card), or "any" when the price is for the card whatever its finish.
    finish: str
    # "market", "low", "mid", "high", "trend", "average", "average-7d", "direct-low", "ask",
    # "bid", "last-sale"...
    kind: str
    price: Money
    as_of: datetime


@dataclass(frozen=True, slots=True)
class MarketplaceData:
    """A marketplace's market for one item (StockX / GOAT / Alias style), in one currency.
    `volatility` is a fraction in 0..1; `currency` is the one its amounts are in (and the one
    an API is asked for). The seller fee is not market data but the operator's setting: it is
    applied when proceeds are worked out (`net_proceeds`), so a changed setting counts at once."""

    platform: str
    item_ref: str  # the marketplace's product (and variant / size) id, or the page's URL
    lowest_ask: Money | None
    highest_bid: Money | None
    last_sale: Money | None
    sales_30d: int | None
    volatility: Decimal | None
    as_of: datetime
    currency: str = ""

    @property
    def amounts_currency(self) -> str:
        found = {m.currency for m in (self.lowest_ask, self.highest_bid, self.last_sale) if m}
        return next(iter(found), self.currency or "USD")

    def __post_init__(self) -> None:
        _fraction("volatility", self.volatility)

    def net_proceeds(self, fee: Decimal) -> Money | None:
        """What selling at the lowest ask brings after the platform's `fee` (a fraction)."""
        _fraction("fee", fee)
        if self.lowest_ask is None:
            return None
        net = self.lowest_ask.amount * (Decimal(1) - fee)
        unit = minor_unit(self.lowest_ask.currency)
        return Money(net.quantize(unit, rounding=ROUND_HALF_UP), self.lowest_ask.currency)


def _fraction(name: str, value: Decimal | None) -> None:
    if value is not None and not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"{name} must be within 0..1, not {value}")


@dataclass(frozen=True, slots=True)
class RateTable:
    """Reference exchange rates of one day: 1 `base` = rates[code] units of code."""

    base: str
    day: date
    rates: dict[str, Decimal] = field(default_factory=dict)
    source: str = ""

    def rate(self, currency: str) -> Decimal | None:
        return Decimal(1) if currency == self.base else self.rates.get(currency)

    def convert(self, money: Money, to: str) -> Money | None:
        """`money` in currency `to` at this day's rates (None when either is unknown)."""
        if money.currency == to:
            return money
        source, target = self.rate(money.currency), self.rate(to)
        if source is None or target is None or source == 0:
            return None
        amount = (money.amount / source * target).quantize(minor_unit(to), rounding=ROUND_HALF_UP)
        return Money(amount, to)


class MarketSource(abc.ABC):
    """A card price source. Implementations respect the source's rate limits with one
    limiter per process, cache answers for `refresh`, and raise SourceError (never a bare
    exception) when the source fails; a card they do not know is an empty answer."""

    name: str
    game: str
    refresh: timedelta = timedelta(days=1)

    @abc.abstractmethod
    async def search(self, query: str, limit: int = 10) -> list[CardPrinting]:
        """Printings whose name matches `query` (fuzzy), most likely first."""

    @abc.abstractmethod
    async def quotes(self, source_ids: Sequence[str]) -> dict[str, list[MarketQuote]]:
        """Current quotes of each printing, in as few requests as the source allows; ids it
        does not know are missing from the answer."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MarketplaceSource(abc.ABC):
    """A sneaker/collectible marketplace's market data for items the operator maps to it."""

    platform: str

    @abc.abstractmethod
    async def market(self, item_ref: str, currency: str) -> MarketplaceData | None:
        """The item's market now, or None when the marketplace does not know it."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class ExchangeRates(abc.ABC):
    """A published daily reference-rate feed."""

    @abc.abstractmethod
    async def latest(self) -> RateTable:
        """Today's (or the latest published) rates; cached for a day."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
