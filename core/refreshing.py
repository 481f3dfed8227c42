"""Holdings at market: refresh the prices of held items from their sources, then alert
holders when an item strays from its 30-day average or their own ask sits above the market."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from core.holding_alerts import HoldingAlerts
from core.market import (
    MarketplaceData,
    MarketplaceSource,
    MarketQuote,
    MarketSource,
    SourceError,
)
from core.model import ChatAddress
from core.money import Money
from core.portfolio import ItemKind, MarketItem, MarketPrice, totals, value_holding
from core.ports import Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

# Marketplace pages by host: a held listing there is that platform's market for the item.
MARKETPLACE_HOSTS = {
    "stockx.com": "stockx",
    "goat.com": "goat",
    "alias.org": "alias",
    "flightclub.com": "flightclub",
    "ebay.com": "ebay",
    "ebay.co.uk": "ebay",
    "ebay.de": "ebay",
}

# Quotes that are a market price (what the item sells for), as opposed to a low, a high
# or a suggested ask: only these feed an item's statistics and valuation.
MARKET_KINDS = frozenset({"market", "trend", "average", "last-sale"})
# A snapshot values every holding at its item's last known price, however old.
_CARRIED = timedelta.max


@dataclass(frozen=True, slots=True)
class RefreshConfig:
    card_refresh: timedelta = timedelta(days=1)  # card sources price once a day
    page_refresh: timedelta = timedelta(hours=1)  # held pages follow their own checks
    retry_after_failure: timedelta = timedelta(hours=1)
    # Items priced per run: all that are due in practice, so each source batches them all at
    # once (Scryfall: 75 a request, 5,000 holdings in 67 requests, not 70 in five runs).
    batch: int = 20_000


@dataclass(slots=True)
class RefreshReport:
    items: int = 0
    prices: int = 0
    alerts: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class MarketRefresher:
    """Runs a refresh: items someone holds whose refresh is due, grouped by source so each
    source answers in as few requests as it allows (Scryfall: 75 cards a request). A source
    that fails leaves the last known prices in place (carried, marked stale by age, never a
    false drop) and is asked again an hour later."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sources: Mapping[str, MarketSource],
        clock: Clock,
        alerts: HoldingAlerts,
        config: RefreshConfig | None = None,
        marketplaces: Mapping[str, MarketplaceSource] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._sources = sources
        self._clock = clock
        self._alerts = alerts
        self._config = config or RefreshConfig()
        self._marketplaces = dict(marketplaces or {})

    async def run_once(self) -> RefreshReport:
        """Refreshes every held item that is due, then takes the day's snapshot of the
        portfolios holding them (a command pricing one new item takes none)."""
        async with self._uow() as uow:
            due = await uow.items.due(self._clock.now(), self._config.batch)
        report = await self.refresh(due)
        if due:
            await self._snapshot([item.id or 0 for item in due])
        return report

    async def refresh(self, due: Sequence[MarketItem]) -> RefreshReport:
        """Prices these items now (a card just added to a portfolio, or the due ones)."""
        report = RefreshReport()
        cards: dict[str, list[MarketItem]] = {}
        pages: list[MarketItem] = []
        for item in due:
            if item.kind is ItemKind.CARD and item.source:
                cards.setdefault(item.source, []).append(item)
            elif item.kind is ItemKind.PAGE:
                pages.append(item)
        # Marketplaces first: the alerts after new prices then compare with their new asks.
        if self._marketplaces:
            await self._refresh_marketplaces(due, report)
        for source, items in cards.items():
            await self._refresh_cards(source, items, report)
        if pages:
            await self._refresh_pages(pages, report)
        return report

    async def _snapshot(self, item_ids: list[int]) -> None:
        """Today's value of each portfolio holding these items, valued as /holdings values
        it, once a day per chat (the first refresh of the day takes it). The items' current
        prices are used: a price a source failed to renew is carried, so the chart never dips."""
        now = self._clock.now()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        async with self._uow() as uow:
            held = await uow.holdings.for_items(item_ids)
            chats = {
                ChatAddress(h.address.platform, h.address.chat_id)
                for found in held.values()
                for h in found
            }
            chats -= await uow.holdings.snapshotted(list(chats), day)
            portfolios = {address: await uow.holdings.list_in_chat(address) for address in chats}
            items = await uow.items.get_many(
                list({h.item_id for found in portfolios.values() for h in found})
            )
            for address, holdings in portfolios.items():
                valued = [
                    value_holding(
                        h, items[h.item_id], items[h.item_id].price, now=now, stale_after=_CARRIED
                    )
                    for h in holdings
                    if h.item_id in items
                ]
                # Sums per currency only: the chart converts nothing.
                await uow.holdings.put_snapshot(address, day, totals(valued, "", None).value)
            await uow.commit()

    async def _refresh_marketplaces(
        self, items: Sequence[MarketItem], report: RefreshReport
    ) -> None:
        """Items followed on a marketplace API (/holdings market): the API's lowest ask and
        highest bid for them, then the holders' repricing alerts."""
        async with self._uow() as uow:
            followed = await uow.marketplaces.for_items([i.id or 0 for i in items])
        answered: list[tuple[MarketItem, MarketplaceData]] = []
        for item in items:
            for known in followed[item.id or 0]:
                source = self._marketplaces.get(known.platform)
                if source is None:
                    continue
                try:
                    data = await source.market(known.item_ref, known.amounts_currency)
                except (SourceError, ValueError) as error:
                    reason = getattr(error, "reason", "rejected")
                    key = f"{known.platform}:{reason}"
                    report.failures[key] = report.failures.get(key, 0) + 1
                    continue
                if data is not None:
                    answered.append((item, data))
        if not answered:
            return
        async with self._uow() as uow:
            for item, data in answered:
                await uow.marketplaces.put(item.id or 0, data)
            changed = [item for item, _ in answered]
            report.alerts += await self._alerts.evaluate_many(uow, changed, self._clock.now())
            await uow.commit()

    async def _refresh_cards(
        self, source_name: str, items: list[MarketItem], report: RefreshReport
    ) -> None:
        source = self._sources.get(source_name)
        if source is None:
            await self._postpone(items, f"{source_name}:unconfigured", report)
            return
        ids = list(dict.fromkeys(item.source_id for item in items if item.source_id))
        try:
            quotes = await source.quotes(ids)
        except SourceError as error:
            log.warning("%s could not price %d cards: %s", source_name, len(ids), error.reason)
            await self._postpone(items, f"{source_name}:{error.reason}", report)
            return
        now = self._clock.now()
        async with self._uow() as uow:
            priced: list[MarketItem] = []
            for item in items:
                matching = _for_finish(quotes.get(item.source_id or "", []), item.finish)
                prices = [_observed(item, quote, now) for quote in matching]
                every = self._config.card_refresh
                priced += await self._record(uow, item, prices, now, every, report)
            report.alerts += await self._alerts.evaluate_many(uow, priced, now)
            await uow.commit()

    async def _refresh_pages(self, items: list[MarketItem], report: RefreshReport) -> None:
        """A held page's price is what its checks read: each new reading becomes an
        observation of the item (the listing's market)."""
        now = self._clock.now()
        async with self._uow() as uow:
            products = await uow.products.get_many([i.product_id for i in items if i.product_id])
            priced: list[MarketItem] = []
            for item in items:
                product = products.get(item.product_id or 0)
                prices: list[MarketPrice] = []
                fresh = product is not None and product.last_success_at is not None
                if fresh and product is not None and product.money is not None:
                    read_at = product.last_success_at or now
                    if item.refreshed_at is None or read_at > item.refreshed_at:
                        host = _host(product.url)
                        prices.append(
                            MarketPrice(item.id or 0, "page", host, "ask", product.money, read_at)
                        )
                        await self._listing(uow, item, host, product.url, product.money, read_at)
                priced += await self._record(
                    uow, item, prices, now, self._config.page_refresh, report
                )
            # After the listings: the repricing alerts compare with their new asks.
            report.alerts += await self._alerts.evaluate_many(uow, priced, now)
            await uow.commit()

    async def _listing(
        self, uow: UnitOfWork, item: MarketItem, host: str, url: str, ask: Money, at: datetime
    ) -> None:
        """A held page on a marketplace is that marketplace's market for the item: its price
        is the lowest ask there (for /sell and repricing alerts)."""
        platform = MARKETPLACE_HOSTS.get(host)
        if platform is None:
            return
        data = MarketplaceData(platform, url, ask, None, None, None, None, at)
        await uow.marketplaces.put(item.id or 0, data)

    async def _record(
        self,
        uow: UnitOfWork,
        item: MarketItem,
        prices: Sequence[MarketPrice],
        now: datetime,
        every: timedelta,
        report: RefreshReport,
    ) -> list[MarketItem]:
        """Stores the prices and the item's next refresh; the item as refreshed when it has
        new prices (its holdings are then evaluated, all the batch's at once)."""
        report.items += 1
        for price in prices:
            await uow.market_prices.add(price)
        report.prices += len(prices)
        refreshed = replace(
            item,
            next_refresh_at=now + every,
            refreshed_at=max((p.observed_at for p in prices), default=item.refreshed_at),
            # The first market a source names is the item's price; without a new one the
            # last is kept (carried, and shown as stale once old), never dropped.
            price=prices[0] if prices else item.price,
        )
        await uow.items.update(refreshed)
        return [refreshed] if prices else []

    async def _postpone(self, items: list[MarketItem], reason: str, report: RefreshReport) -> None:
        report.failures[reason] = report.failures.get(reason, 0) + len(items)
        later = self._clock.now() + self._config.retry_after_failure
        async with self._uow() as uow:
            for item in items:
                await uow.items.update(replace(item, next_refresh_at=later))
            await uow.commit()


def _for_finish(quotes: list[MarketQuote], finish: str | None) -> list[MarketQuote]:
    """The market-price quotes of the item's finish (a quote for "any" finish counts)."""
    wanted = finish or "normal"
    return [
        quote for quote in quotes if quote.kind in MARKET_KINDS and quote.finish in (wanted, "any")
    ]


def _observed(item: MarketItem, quote: MarketQuote, now: datetime) -> MarketPrice:
    return MarketPrice(item.id or 0, quote.source, quote.market, quote.kind, quote.price, now)


def _host(url: str) -> str:
    """The shop a held page is on, as its market's platform name ("shop.example")."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return host.removeprefix("www.")[:32] or "page"
