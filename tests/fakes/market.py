"""Fake market sources and exchange rates: printings, quotes and rates the test sets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from core.market import (
    CardPrinting,
    ExchangeRates,
    MarketplaceData,
    MarketplaceSource,
    MarketQuote,
    MarketSource,
    RateTable,
    SourceError,
)
from core.money import Money


class FakeCardSource(MarketSource):
    """Answers searches by lower-cased name and quotes by source id; `failing` makes every
    call raise it. Counts the quote requests (one per call, like a batch endpoint)."""

    def __init__(self, name: str, game: str = "mtg") -> None:
        self.name = name
        self.game = game
        self.printings: dict[str, list[CardPrinting]] = {}
        self.prices: dict[str, list[MarketQuote]] = {}
        self.failing: SourceError | None = None
        self.quote_calls: list[list[str]] = []

    def add(self, printing: CardPrinting, *quotes: MarketQuote) -> None:
        self.printings.setdefault(printing.name.lower(), []).append(printing)
        self.prices[printing.source_id] = list(quotes)

    async def search(self, query: str, limit: int = 10) -> list[CardPrinting]:
        if self.failing is not None:
            raise self.failing
        return self.printings.get(query.strip().lower(), [])[:limit]

    async def quotes(self, source_ids: Sequence[str]) -> dict[str, list[MarketQuote]]:
        self.quote_calls.append(list(source_ids))
        if self.failing is not None:
            raise self.failing
        return {sid: self.prices[sid] for sid in source_ids if sid in self.prices}


class FakeRates(ExchangeRates):
    def __init__(self, rates: dict[str, str], day: date = date(2026, 1, 5)) -> None:
        self.table = RateTable("EUR", day, {k: Decimal(v) for k, v in rates.items()}, "ECB")
        self.failing: SourceError | None = None

    async def latest(self) -> RateTable:
        if self.failing is not None:
            raise self.failing
        return self.table


class FakeMarketplace(MarketplaceSource):
    """A marketplace API: the market of each item reference, as the test sets it; `failing`
    makes every call raise it."""

    def __init__(self, platform: str = "stockx") -> None:
        self.platform = platform
        self.markets: dict[str, tuple[str, str | None, str]] = {}  # ref -> (ask, bid, currency)
        self.asked: list[tuple[str, str]] = []
        self.failing: SourceError | None = None

    async def market(self, item_ref: str, currency: str) -> MarketplaceData | None:
        self.asked.append((item_ref, currency))
        if self.failing is not None:
            raise self.failing
        if item_ref not in self.markets:
            return None
        ask, bid, code = self.markets[item_ref]
        return MarketplaceData(
            self.platform,
            item_ref,
            Money(Decimal(ask), code),
            Money(Decimal(bid), code) if bid else None,
            None,
            None,
            None,
            datetime(2026, 1, 5, tzinfo=UTC),
            currency=code,
        )
