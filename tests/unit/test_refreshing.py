"""The market refresher against fakes: what a refresh reads per batch, not per item."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.holding_alerts import HoldingAlerts
from core.market import CardPrinting, MarketplaceData, MarketQuote
from core.model import ChatAddress
from core.money import Money
from core.portfolio import Holding, ItemKind, MarketItem
from core.refreshing import MarketRefresher, RefreshConfig, _host
from tests.fakes.clock import FakeClock
from tests.fakes.market import FakeCardSource, FakeMarketplace
from tests.fakes.memory import (
    MemoryHoldingRepository,
    MemoryMarketplaceRepository,
    MemoryUnitOfWorkFactory,
)

CHATS = [ChatAddress("telegram", str(n)) for n in range(1, 4)]


async def held_cards(uow: MemoryUnitOfWorkFactory, clock: FakeClock, count: int) -> FakeCardSource:
    """`count` cards, each held in every chat with an ask on stockx and followed there."""
    source = FakeCardSource("tcgdex", "pokemon")
    async with uow() as unit:
        for n in range(count):
            ref = f"base1-{n}"
            price = Money(Decimal("20.00"), "EUR")
            source.add(
                CardPrinting("tcgdex", ref, "pokemon", f"Card {n}", "Base Set"),
                MarketQuote("tcgdex", "cardmarket", ref, "normal", "trend", price, clock.now()),
            )
            item = await unit.items.get_or_add(
                MarketItem(None, ItemKind.CARD, f"Card {n}", "tcgdex", ref, "normal")
            )
            for address in CHATS:
                await unit.holdings.add(
                    Holding(
                        None,
                        f"telegram:{address.chat_id}",
                        address,
                        item.id or 0,
                        1,
                        clock.now(),
                        alert_percent=Decimal(15),
                        ask=Money(Decimal("25.00"), "EUR"),
                        ask_platform="stockx",
                    )
                )
            followed = MarketplaceData(
                "stockx", f"p-{n}", None, None, None, None, None, clock.now()
            )
            await unit.marketplaces.put(item.id or 0, followed)
        await unit.commit()
    return source


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Calls of the holdings' and marketplaces' item reads, whichever method is used."""
    calls: dict[str, int] = {"holdings": 0, "marketplaces": 0}

    def counting(kind: str, method: Any) -> Any:
        async def call(self: Any, *args: Any) -> Any:
            calls[kind] += 1
            return await method(self, *args)

        return call

    for kind, repository in (
        ("holdings", MemoryHoldingRepository),
        ("marketplaces", MemoryMarketplaceRepository),
    ):
        for name in ("for_item", "for_items"):
            method = repository.__dict__.get(name)
            if method is not None:
                monkeypatch.setattr(repository, name, counting(kind, method))
    return calls


async def test_a_refresh_reads_holdings_and_marketplaces_per_batch_not_per_item(
    counted: dict[str, int],
) -> None:
    clock, uow = FakeClock(), MemoryUnitOfWorkFactory()
    source = await held_cards(uow, clock, 6)
    stockx = FakeMarketplace()
    stockx.markets.update({f"p-{n}": ("21.00", None, "EUR") for n in range(6)})
    refresher = MarketRefresher(
        uow, {"tcgdex": source}, clock, HoldingAlerts(), marketplaces={"stockx": stockx}
    )
    counted.update(holdings=0, marketplaces=0)

    report = await refresher.run_once()

    assert (report.items, report.prices, report.failures) == (6, 6, {})
    assert report.alerts == 18  # every ask ($25) sits 19 % above the lowest (21): repriced
    # Six items held in three chats: a few reads for the whole batch, none per item.
    assert counted["marketplaces"] <= 3, counted
    assert counted["holdings"] <= 3, counted
    clock.advance(days=1)
    assert (await refresher.run_once()).alerts == 0  # disarmed until the ask comes back


async def test_a_refresh_evaluates_an_item_once_with_its_new_asks(
    counted: dict[str, int],
) -> None:
    clock, uow = FakeClock(), MemoryUnitOfWorkFactory()
    source = await held_cards(uow, clock, 1)
    stockx = FakeMarketplace()
    stockx.markets["p-0"] = ("24.50", None, "EUR")  # 2 % below the asks: no alert
    refresher = MarketRefresher(
        uow, {"tcgdex": source}, clock, HoldingAlerts(), marketplaces={"stockx": stockx}
    )
    assert (await refresher.run_once()).alerts == 0
    stockx.markets["p-0"] = ("20.00", None, "EUR")
    clock.advance(days=1)
    assert (await refresher.run_once()).alerts == 3  # one per chat's holding, not repeated


async def test_a_chat_is_snapshotted_once_a_day_and_not_from_a_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock, uow = FakeClock(), MemoryUnitOfWorkFactory()
    source = await held_cards(uow, clock, 2)
    hourly = RefreshConfig(card_refresh=timedelta(hours=1))
    refresher = MarketRefresher(uow, {"tcgdex": source}, clock, HoldingAlerts(), hourly)
    async with uow() as unit:
        items = list((await unit.items.get_many([1, 2])).values())
    listed: list[ChatAddress] = []
    list_in_chat = MemoryHoldingRepository.list_in_chat

    async def listing(self: MemoryHoldingRepository, address: ChatAddress) -> list[Holding]:
        listed.append(address)
        return await list_in_chat(self, address)

    monkeypatch.setattr(MemoryHoldingRepository, "list_in_chat", listing)

    await refresher.refresh(items)  # a command pricing items now: no snapshot
    assert uow.store.snapshots == {} and listed == []
    clock.advance(hours=1)
    await refresher.run_once()
    assert sorted(a.chat_id for a in listed) == [
        "1",
        "2",
        "3",
    ]  # 10:00: each chat's first snapshot of the day
    for n in range(2):
        source.prices[f"base1-{n}"] = [
            MarketQuote(
                "tcgdex",
                "cardmarket",
                f"base1-{n}",
                "normal",
                "trend",
                Money(Decimal("30.00"), "EUR"),
                clock.now(),
            )
        ]
    clock.advance(hours=2)
    assert (await refresher.run_once()).prices == 2  # repriced at 12:00, not snapshotted
    assert len(listed) == 3
    clock.advance(days=1)
    await refresher.run_once()
    async with uow() as unit:
        days = await unit.holdings.snapshots(CHATS[0], clock.now() - timedelta(days=7))
    today = clock.now().replace(hour=0)
    assert days == [
        (today - timedelta(days=1), "EUR", Decimal("40.00")),  # two cards at 20.00
        (today, "EUR", Decimal("60.00")),
    ]


@pytest.mark.parametrize(
    ("url", "platform"),
    [
        ("https://www.Shop.example/p/1", "shop.example"),
        ("https://seller@shop.example:8443/p/1", "shop.example"),
        ("https://[::1", "page"),
    ],
)
def test_a_held_pages_market_is_named_after_its_shop(url: str, platform: str) -> None:
    assert _host(url) == platform
