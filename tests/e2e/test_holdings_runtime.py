"""Holdings end to end through the real Runtime: SQLite, the real market source adapters
pointed at the loopback market API (tests/fakes/market_api.py), a fake clock, and the
console or the fake Telegram server as the chat.

The story: add a card by name and pick its printing, see the portfolio at market price, ask
for market-move alerts; the market moves over a month of refreshes and the alert arrives
once; /card puts the markets side by side. And a source that fails during a refresh, and a
holding followed on StockX only at a reference StockX knows."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import text

from adapters.console.chat import ConsoleChat
from adapters.console.notifier import ConsoleNotifier
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from core.portfolio import MarketItem
from core.refreshing import RefreshReport
from tests.fakes.clock import FakeClock
from tests.fakes.market_api import STOCKX_API_KEY, STOCKX_TOKEN, Fault, MarketApi
from tests.fakes.telegram_server import FakeTelegram, SentMessage

# The day after the date of the ECB fixture's rates (2026-12-04: 1 EUR = 1.1642 USD).
START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
CARD = "Lightning Bolt"  # four printings in the Scryfall fixture
# Lightning Bolt, Strixhaven Mystical Archive #42: TCGplayer $3.89, Cardmarket €3.20.
STA = "77c6fa74-5543-42ac-9ead-0e890b188e99"
TOKEN = "123456:TEST-TOKEN"
ALICE = 111
# A size StockX's catalogue knows (tests/fixtures/sources/stockx): lowest ask $238, bid $205.
SNEAKER = "b0a4d3f8-6f1e-4c2d-9a7b-2e5c8d1f3a64:c1e2f3a4-5b6c-4d7e-8f90-a1b2c3d4e5f6"


@pytest.fixture
async def market_api() -> AsyncIterator[MarketApi]:
    async with MarketApi() as api:
        yield api


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN, bot_username="PricebotTestBot") as server:
        yield server


def market_settings(tmp_path: Path, api: MarketApi, **overrides: Any) -> Settings:
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'holdings.db'}",
        scryfall_api=api.url("scryfall"),
        pokemon_api=api.url("tcgdex"),
        ygoprodeck_api=api.url("ygoprodeck"),
        fx_api=api.ecb_url,
        # A source that hangs is given up on quickly (15 s by default).
        market_timeout=0.5,
        **overrides,
    )


@dataclass
class World:
    """The running Runtime, its clock and the market API, with helpers to look inside."""

    runtime: Runtime
    clock: FakeClock
    api: MarketApi

    async def refresh_after(self, **elapsed: float) -> RefreshReport:
        """Time passes, then the held items that are due are priced."""
        self.clock.advance(**elapsed)
        report = await self.runtime.refresh_once()
        assert report is not None
        return report

    async def rows(self, sql: str) -> list[Any]:
        async with self.runtime.engine.connect() as connection:
            return list(await connection.execute(text(sql)))

    async def outbox(self) -> list[Any]:
        return await self.rows("SELECT dedupe_key, status FROM outbox ORDER BY id")

    async def observations(self) -> list[tuple[str, str, str]]:
        """Every stored price: (market, amount, currency), oldest first."""
        rows = await self.rows("SELECT market, amount, currency FROM market_prices ORDER BY id")
        return [(row.market, row.amount, row.currency) for row in rows]

    async def item(self, item_id: int = 1) -> MarketItem:
        async with self.runtime.uow_factory() as uow:
            return (await uow.items.get_many([item_id]))[item_id]


class Front(Protocol):
    """A chat as its user sees it."""

    async def say(self, line: str) -> str:
        """Sends `line`; returns the bot's answer."""
        ...

    async def press(self, number: int) -> str:
        """Presses button `number` (from 1) of the last answer; returns the bot's answer."""
        ...

    def alerts(self) -> list[str]:
        """What the bot sent to the chat on its own so far, oldest first."""
        ...


class ConsoleFront:
    def __init__(self, runtime: Runtime, alerts: io.StringIO) -> None:
        self._chat = ConsoleChat(runtime.dispatcher, io.StringIO(), io.StringIO())
        self._alerts = alerts

    async def say(self, line: str) -> str:
        return await self._chat.say(line)

    async def press(self, number: int) -> str:
        return await self._chat.say(str(number))  # typed, as the console's user does

    def alerts(self) -> list[str]:
        return self._alerts.getvalue().split("🔔 ")[1:]


class TelegramFront:
    """A private chat with the bot on the fake Telegram server."""

    def __init__(self, telegram: FakeTelegram, user_id: int) -> None:
        self._telegram = telegram
        self._user = user_id
        self._last: SentMessage | None = None
        self._answers: set[int] = set()  # message ids of the bot's answers to the user

    async def say(self, line: str) -> str:
        before = len(self._telegram.sent(self._user))
        self._telegram.push_message(self._user, self._user, line)
        await self._telegram.wait_until(lambda: len(self._telegram.sent(self._user)) > before)
        self._last = self._telegram.sent(self._user)[before]
        self._answers.add(self._last.message_id)
        return self._last.text

    async def press(self, number: int) -> str:
        assert self._last is not None
        button = self._last.buttons[number - 1]
        before = len(self._telegram.edits)
        self._telegram.push_callback(
            self._user, self._user, self._last.message_id, button["callback_data"]
        )
        await self._telegram.wait_until(lambda: len(self._telegram.edits) > before)
        edit = self._telegram.edits[before]
        assert edit.message_id == self._last.message_id  # the pressed message shows the answer
        return edit.text or ""

    def alerts(self) -> list[str]:
        sent = self._telegram.sent(self._user)
        return [m.text for m in sent if m.message_id not in self._answers]


@asynccontextmanager
async def on_the_console(
    tmp_path: Path, api: MarketApi, **overrides: Any
) -> AsyncIterator[tuple[World, Front]]:
    clock = FakeClock(START)
    alerts = io.StringIO()
    settings = market_settings(tmp_path, api, **overrides)
    notifiers = {"console": ConsoleNotifier(alerts)}
    async with Runtime(settings, clock=clock, notifiers=notifiers) as runtime:
        yield World(runtime, clock, api), ConsoleFront(runtime, alerts)


@asynccontextmanager
async def on_telegram(
    tmp_path: Path, api: MarketApi, telegram: FakeTelegram
) -> AsyncIterator[tuple[World, Front]]:
    clock = FakeClock(START)
    settings = market_settings(
        tmp_path, api, telegram_token=TOKEN, telegram_base_url=telegram.base_url
    )
    async with Runtime(settings, clock=clock, fronts={"telegram"}) as runtime:
        yield World(runtime, clock, api), TelegramFront(telegram, ALICE)


async def add_two_bolts(front: Front, world: World) -> None:
    """/holdings add by name: a choice of printings, nothing saved until one is picked."""
    offer = await front.say(f"/holdings add {CARD} 2 @3.00")
    assert offer.startswith(f"Which '{CARD}' do you hold?")
    for printing in (
        "1. Lightning Bolt · Secret Lair Drop (SLD) #1790 (scryfall)",
        "2. Lightning Bolt · Strixhaven Mystical Archive (STA) #42 (scryfall)",
        "3. Lightning Bolt · Masters 25 (A25) #141 (scryfall)",
        "4. Lightning Bolt · Limited Edition Alpha (LEA) #161 (scryfall)",
    ):
        assert printing in offer
    assert await world.rows("SELECT id FROM holdings") == []

    added = await front.press(2)
    assert added.startswith("Added #1: 2 × Lightning Bolt (Strixhaven Mystical Archive #42)")
    assert "market $3.89 (tcgplayer), cost $3.00 each" in added


async def holdings_story(front: Front, world: World) -> None:
    await add_two_bolts(front, world)
    listing = await front.say("/holdings")
    assert "#1 2 × Lightning Bolt (Strixhaven Mystical Archive #42)" in listing
    assert (
        "$3.89 each (scryfall/tcgplayer, 0 min ago) = $7.78; cost $6.00; +$1.78 (+29.7%)" in listing
    )
    assert "In USD: value $7.78, cost $6.00" in listing
    # At 1.1642 USD to the euro: $7.78 is €6.68 and $6.00 is €5.15.
    assert "Total in EUR: €6.68, cost €5.15, +€1.53 (at ecb rates of 2026-12-04)" in listing

    armed = await front.say("/holdings alert 10%")
    assert "your 1 holdings here moves 10% or more from its 30-day average" in armed

    # Three weeks of a steady market, refreshed whenever the day's cache has run out...
    for _ in range(2):
        report = await world.refresh_after(days=10)
        assert (report.items, report.prices, report.alerts, report.failures) == (1, 2, 0, {})
    # ... then TCGplayer's price jumps.
    world.api.set_scryfall_prices(STA, usd="5.25")
    report = await world.refresh_after(days=9)
    assert (report.items, report.alerts) == (1, 1)
    [queued] = await world.outbox()
    assert queued.dedupe_key.startswith("holding:1:deviation:") and queued.status == "pending"
    assert front.alerts() == []  # written to the outbox; delivery sends it

    assert (await world.runtime.deliver_once()).sent == 1
    [alert] = front.alerts()
    assert alert.startswith("Market move: Lightning Bolt (Strixhaven Mystical Archive #42)")
    # The dollar prices of the 30 days: 3.89 three times, then 5.25. Their mean is
    # 16.92 / 4 = 4.23, and 5.25 is (5.25 - 4.23) / 4.23 = 24.1 % above it.
    assert "$5.25 vs 30-day average $4.23 (+24.1%)" in alert
    assert "You hold 2, now worth $10.50." in alert

    # Still up the next day: the same move does not alert again, nothing is sent twice.
    report = await world.refresh_after(days=1)
    assert (report.items, report.alerts) == (1, 0)
    assert (await world.runtime.deliver_once()).sent == 0
    assert len(front.alerts()) == 1
    assert [row.status for row in await world.outbox()] == ["sent"]
    dollars = [amount for market, amount, _ in await world.observations() if market == "tcgplayer"]
    assert dollars == ["3.89", "3.89", "3.89", "5.25", "5.25"]

    listing = await front.say("/holdings")
    assert "$5.25 each (scryfall/tcgplayer, 0 min ago) = $10.50; cost $6.00" in listing

    card = await front.say(f"/card {CARD}")
    assert card.startswith(f"Prices for '{CARD}':")
    assert "Lightning Bolt · Secret Lair Drop (SLD) #1790: no price" in card
    assert (
        "Lightning Bolt · Strixhaven Mystical Archive (STA) #42: tcgplayer normal $5.25; "
        "tcgplayer foil $6.50; tcgplayer etched $7.25; cardmarket normal €3.20; "
        "cardmarket foil €5.80"
    ) in card
    # Every source was asked; only Scryfall knows the card (and says nothing is wrong).
    assert any(r.query.get("name") == CARD for r in world.api.seen("tcgdex.cards"))
    assert world.api.seen("ygoprodeck.cardinfo")
    assert "Not answering" not in card


async def test_holdings_on_the_console(tmp_path: Path, market_api: MarketApi) -> None:
    async with on_the_console(tmp_path, market_api) as (world, front):
        await holdings_story(front, world)


async def test_holdings_on_telegram(
    tmp_path: Path, market_api: MarketApi, telegram: FakeTelegram
) -> None:
    async with on_telegram(tmp_path, market_api, telegram) as (world, front):
        await holdings_story(front, world)
        # The pick was a real button press: answered (no error shown) and edited in place.
        [answer] = telegram.answered_callbacks
        assert not answer.show_alert and answer.text is None
        [alert] = [m for m in telegram.sent(ALICE) if m.text.startswith("Market move")]
        assert [b["text"] for b in alert.buttons] == ["Open"]


FAILURE_REASONS = {
    Fault.RATE_LIMITED: "rate_limited",
    Fault.HANG: "timeout",
    Fault.MALFORMED_JSON: "malformed",
}


@pytest.mark.parametrize("fault", list(FAILURE_REASONS), ids=lambda fault: fault.name.lower())
async def test_a_source_failing_during_a_refresh_costs_nothing_but_freshness(
    tmp_path: Path, market_api: MarketApi, fault: Fault
) -> None:
    failure = {f"scryfall:{FAILURE_REASONS[fault]}": 1}
    async with on_the_console(tmp_path, market_api) as (world, front):
        await add_two_bolts(front, world)
        stored = await world.observations()
        priced = await world.item()
        assert priced.price is not None and priced.price.observed_at == START

        # A day later Scryfall says "wait 30 s", hangs, or sends a broken body.
        market_api.inject("scryfall.collection", fault, retry_after="30", hang_seconds=5)
        report = await world.refresh_after(days=1, minutes=1)
        assert (report.items, report.prices, report.failures) == (0, 0, failure)
        card = await front.say(f"/card {CARD}")
        assert "Not answering just now: scryfall" in card and "$" not in card
        # Nothing from the failed answer is kept; the item is asked about again in an hour.
        assert await world.observations() == stored
        after = await world.item()
        assert (after.price, after.refreshed_at) == (priced.price, priced.refreshed_at)
        assert after.next_refresh_at == world.clock.now() + timedelta(hours=1)

        # Days later it still fails: the last price stays, and says how old it is.
        report = await world.refresh_after(days=2)
        assert report.failures == failure
        listing = await front.say("/holdings")
        assert (
            "$3.89 each (scryfall/tcgplayer, 3 days ago) ⚠ stale: the source has not answered "
            "since = $7.78; cost $6.00; +$1.78 (+29.7%)"
        ) in listing
        assert await world.observations() == stored

        if fault is Fault.RATE_LIMITED:
            # Told to wait 30 s, nobody asked Scryfall again meanwhile: not the refresh,
            # not /card (only the add's request and the refused one reached it).
            assert len(market_api.seen("scryfall.collection")) == 2
            assert len(market_api.seen("scryfall.named")) == 1
            return
        # The source recovers: the next refresh prices the card afresh.
        market_api.clear()
        report = await world.refresh_after(hours=1)
        assert (report.items, report.prices, report.failures) == (1, 2, {})
        listing = await front.say("/holdings")
        assert "$3.89 each (scryfall/tcgplayer, 0 min ago) = $7.78" in listing
        assert "stale" not in listing


async def test_a_holding_follows_stockx_only_at_a_reference_stockx_knows(
    tmp_path: Path, market_api: MarketApi
) -> None:
    stockx = {
        "stockx_api": market_api.url("stockx"),
        "stockx_api_key": STOCKX_API_KEY,
        "stockx_token": STOCKX_TOKEN,
    }
    async with on_the_console(tmp_path, market_api, **stockx) as (world, front):
        await add_two_bolts(front, world)
        unknown = await front.say("/holdings market 1 stockx 0000:1111")
        assert "stockx knows no item '0000:1111'" in unknown
        assert await world.rows("SELECT id FROM marketplace_data") == []  # nothing unchecked

        ranking = await front.say(f"/holdings market 1 stockx {SNEAKER}")
        assert "1. stockx: lowest ask $238.00, fee 12.0% -> you net $209.44 each" in ranking
        [row] = await world.rows(
            "SELECT item_ref, currency, lowest_ask, highest_bid FROM marketplace_data"
        )
        assert (row.item_ref, row.currency) == (SNEAKER, "USD")
        assert (float(row.lowest_ask), float(row.highest_bid)) == (238, 205)
        # Asked in the currency the card is priced in, once per reference.
        asked = [r.query for r in market_api.seen("stockx.market")]
        assert asked == [{"currencyCode": "USD"}] * 2
