"""Holdings against fakes: add by name and pick a printing, the portfolio, removing, alerts
on market moves and on an ask above the market, /card and /sell; bad values save nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from core.alerts import AlertPolicy
from core.chat.call import ChatConfig, Market, Services
from core.chat.catalog import build_registry
from core.chat.dispatcher import Dispatcher
from core.holding_alerts import HoldingAlerts
from core.market import CardPrinting, MarketplaceData, MarketQuote, SourceError
from core.model import Availability, ChatAddress, ChatContext, Observation, UserRef
from core.money import Money
from core.portfolio import Holding, ItemKind, MarketItem, MarketPrice
from core.reading import PageReader
from core.refreshing import MarketRefresher
from tests.fakes.clock import FakeClock
from tests.fakes.market import FakeCardSource, FakeMarketplace, FakeRates
from tests.fakes.memory import MemoryUnitOfWorkFactory
from tests.fakes.web import FakeExtractor, FakeFetcher

ANN = ChatContext(UserRef("telegram", "1", "ann"), ChatAddress("telegram", "1"))
BOB = ChatContext(UserRef("telegram", "2", "bob"), ChatAddress("telegram", "2"))
LOTUS_ALPHA = CardPrinting(
    "scryfall",
    "lea-232",
    "mtg",
    "Black Lotus",
    "Limited Edition Alpha",
    "lea",
    "232",
    finishes=("nonfoil",),
    url="https://scryfall.com/card/lea/232",
)
LOTUS_BETA = CardPrinting(
    "scryfall",
    "leb-233",
    "mtg",
    "Black Lotus",
    "Limited Edition Beta",
    "leb",
    "233",
    finishes=("nonfoil",),
)
PIKACHU = CardPrinting("tcgdex", "base1-58", "pokemon", "Pikachu", "Base Set", "base1", "58")
SNEAKER = "https://stockx.com/air-jordan-1-chicago"


def quote(
    source_id: str,
    amount: str,
    currency: str = "USD",
    market: str = "tcgplayer",
    finish: str = "normal",
    source: str = "scryfall",
    kind: str = "market",
) -> MarketQuote:
    return MarketQuote(
        source, market, source_id, finish, kind, Money(Decimal(amount), currency), NOW
    )


NOW = FakeClock().now()


@pytest.fixture
def world():
    clock = FakeClock()
    uow = MemoryUnitOfWorkFactory()
    scryfall, tcgdex = FakeCardSource("scryfall"), FakeCardSource("tcgdex", "pokemon")
    scryfall.add(
        LOTUS_ALPHA,
        quote("lea-232", "12000.00"),
        quote("lea-232", "11000.00", "EUR", "cardmarket", kind="trend"),
    )
    scryfall.add(LOTUS_BETA, quote("leb-233", "9000.00"))
    tcgdex.add(
        PIKACHU, quote("base1-58", "20.00", "EUR", "cardmarket", source="tcgdex", kind="trend")
    )
    sources = {"scryfall": scryfall, "tcgdex": tcgdex}
    policy = AlertPolicy(cooldown=timedelta(0))
    fetcher, extractor = FakeFetcher(), FakeExtractor()
    fetcher.pages[SNEAKER] = b"<html></html>"
    extractor.observations[SNEAKER] = Observation(
        Decimal("300"), "USD", Availability.IN_STOCK, title="Air Jordan 1 Chicago", method="fake"
    )
    stockx = FakeMarketplace()
    refresher = MarketRefresher(
        uow,
        sources,
        clock,
        HoldingAlerts(policy),
        marketplaces={"stockx": stockx},
    )
    market = Market(
        sources,
        refresher,
        FakeRates({"USD": "1.25"}),
        marketplaces={"stockx": stockx},
        fees={"stockx": Decimal("0.12")},
        currency="EUR",
    )
    services = Services(
        uow=uow,
        reader=PageReader(fetcher, extractor, clock),
        clock=clock,
        config=ChatConfig(alert_policy=policy),
        registry=build_registry(),
        market=market,
    )
    dispatcher = Dispatcher(services.registry, services)
    return dispatcher, uow, clock, scryfall, refresher


async def holdings_of(uow, address=ANN.address):
    async with uow() as unit:
        return await unit.holdings.list_in_chat(address)


async def test_a_name_with_several_printings_offers_a_button_each_then_adds_the_pick(world):
    dispatcher, uow, _, scryfall, _ = world
    offer = await dispatcher.handle_text(ANN, "/holdings add Black Lotus 2 @10000")
    assert "Which 'Black Lotus' do you hold?" in offer.text
    assert "Limited Edition Alpha" in offer.text and "Limited Edition Beta" in offer.text
    assert [b.action.split()[:2] for b in offer.buttons] == [["holdings", "pick"]] * 2
    assert await holdings_of(uow) == []  # nothing saved before the pick
    stolen = await dispatcher.handle_action(BOB, offer.buttons[0].action)
    assert stolen.is_error

    added = await dispatcher.handle_action(ANN, offer.buttons[0].action)
    assert "Added #1: 2 × Black Lotus" in added.text and "$12,000.00" in added.text
    [held] = await holdings_of(uow)
    assert held.quantity == 2 and held.unit_cost == Money(Decimal("10000"), "USD")
    assert scryfall.quote_calls == [["lea-232"]]  # priced at once, one request
    assert (await dispatcher.handle_action(ANN, offer.buttons[0].action)).is_error  # used once


async def test_one_printing_is_added_at_once_with_its_finish_and_condition(world):
    dispatcher, uow, *_ = world
    added = await dispatcher.handle_text(ANN, "/holdings add Pikachu 3 @€15 nm")
    assert "Added #1: 3 × Pikachu" in added.text and "€20.00" in added.text
    [held] = await holdings_of(uow)
    assert (held.quantity, held.condition) == (3, "NM")
    assert held.unit_cost == Money(Decimal("15"), "EUR")


async def test_the_portfolio_values_each_line_and_totals_with_the_rate_date(world):
    dispatcher, _, clock, *_ = world
    offer = await dispatcher.handle_text(ANN, "/holdings add Black Lotus 2 @10000")
    await dispatcher.handle_action(ANN, offer.buttons[0].action)
    await dispatcher.handle_text(ANN, "/holdings add Pikachu 3 @€15")
    clock.advance(hours=3)
    listing = (await dispatcher.handle_text(ANN, "/holdings")).text
    assert "#1 2 × Black Lotus (Limited Edition Alpha #232)" in listing
    assert "$12,000.00 each (scryfall/tcgplayer, 3 h ago) = $24,000.00" in listing
    assert "cost $20,000.00; +$4,000.00 (+20.0%)" in listing
    assert (
        "€20.00 each (tcgdex/cardmarket, 3 h ago) = €60.00; cost €45.00; +€15.00 (+33.3%)"
        in listing
    )
    assert "In USD: value $24,000.00, cost $20,000.00" in listing
    # 24,000 USD / 1.25 = 19,200 EUR, plus 60 EUR.
    assert (
        "Total in EUR: €19,260.00, cost €16,045.00, +€3,215.00 (at ECB rates of 2026-01-05)"
        in listing
    )
    in_usd = (await dispatcher.handle_text(ANN, "/holdings usd")).text
    assert "Total in USD: $24,075.00" in in_usd


async def test_a_failing_source_keeps_the_last_price_and_marks_it_stale(world):
    dispatcher, uow, clock, scryfall, refresher = world
    offer = await dispatcher.handle_text(ANN, "/holdings add Black Lotus")
    await dispatcher.handle_action(ANN, offer.buttons[0].action)
    scryfall.failing = SourceError("scryfall", "timeout")
    clock.advance(days=3)
    report = await refresher.run_once()
    assert report.failures == {"scryfall:timeout": 1}
    listing = (await dispatcher.handle_text(ANN, "/holdings")).text
    assert "$12,000.00 each (scryfall/tcgplayer, 3 days ago) ⚠ stale" in listing
    assert "= $12,000.00" in listing  # carried, never a false drop to nothing
    async with uow() as unit:
        [item] = (await unit.items.get_many([1])).values()
    assert item.next_refresh_at == clock.now() + timedelta(hours=1)


async def test_bad_values_get_a_clear_reply_and_nothing_is_saved(world):
    dispatcher, uow, *_ = world
    for text, says in [
        ("/holdings add Black Lotus 0", "not a quantity"),
        ("/holdings add Black Lotus 2 @-5", "negative price"),
        ("/holdings add Black Lotus 2 @abc", "not a price"),
        ("/holdings add Unknown Card", "found no card named 'Unknown Card'"),
        ("/holdings add", "is missing"),
        ("/holdings remove 9", "no holding #9 in this chat"),
        ("/holdings alert 150%", "from 1% to 99%"),
    ]:
        reply = await dispatcher.handle_text(ANN, text)
        assert reply.is_error and says in reply.text, (text, reply.text)
    assert await holdings_of(uow) == []


async def test_holdings_belong_to_their_chat(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ANN, "/holdings add Pikachu")
    assert "No holdings in this chat yet" in (await dispatcher.handle_text(BOB, "/holdings")).text
    assert (await dispatcher.handle_text(BOB, "/holdings remove 1")).is_error
    assert (await dispatcher.handle_text(BOB, "/sell 1")).is_error
    assert len(await holdings_of(uow)) == 1
    assert "Removed holding #1" in (await dispatcher.handle_text(ANN, "/holdings remove 1")).text
    assert await holdings_of(uow) == []


async def test_a_market_move_alerts_once_then_rearms(world):
    dispatcher, uow, clock, _scryfall, refresher = world
    await dispatcher.handle_text(ANN, "/holdings add Pikachu 2")
    assert "moves 15% or more" in (await dispatcher.handle_text(ANN, "/holdings alert 15%")).text
    tcgdex = world[0]._services.market.sources["tcgdex"]
    for amount in ("20.00", "21.00", "19.00", "20.00"):  # a steady market: no alert
        tcgdex.prices["base1-58"] = [
            quote("base1-58", amount, "EUR", "cardmarket", source="tcgdex", kind="trend")
        ]
        clock.advance(days=1)
        assert (await refresher.run_once()).alerts == 0
    tcgdex.prices["base1-58"] = [
        quote("base1-58", "30.00", "EUR", "cardmarket", source="tcgdex", kind="trend")
    ]
    clock.advance(days=1)
    assert (await refresher.run_once()).alerts == 1
    [alert] = [m for m in uow.store.outbox.values()]
    text = " ".join(alert.payload["blocks"])
    assert "Market move: Pikachu" in text and "€30.00 vs 30-day average €21.67 (+38.4%)" in text
    assert alert.address == ANN.address
    clock.advance(days=1)
    assert (await refresher.run_once()).alerts == 0  # still up: one alert per move
    tcgdex.prices["base1-58"] = [
        quote("base1-58", "22.00", "EUR", "cardmarket", source="tcgdex", kind="trend")
    ]
    clock.advance(days=1)
    await refresher.run_once()  # back near the average: re-armed
    [held] = await holdings_of(uow)
    assert held.alert_armed


async def test_a_held_marketplace_page_feeds_sell_and_an_ask_above_it_alerts(world):
    dispatcher, uow, clock, _, _refresher = world
    added = await dispatcher.handle_text(ANN, f"/holdings add {SNEAKER} @250")
    assert "Added #1: 1 × Air Jordan 1 Chicago" in added.text and "$300.00" in added.text
    ranking = await dispatcher.handle_text(ANN, "/sell 1")
    assert "1. stockx: lowest ask $300.00, fee 12.0% -> you net $264.00 each" in ranking.text
    assert (await dispatcher.handle_text(ANN, "/holdings ask 1 stockx 350")).text.startswith(
        "Noted: #1 is listed on stockx at $350.00"
    )
    async with uow() as unit:
        [item] = (await unit.items.get_many([1])).values()
        clock.advance(hours=2)
        await unit.marketplaces.put(
            1,
            MarketplaceData(
                "stockx",
                SNEAKER,
                Money(Decimal("310"), "USD"),
                None,
                None,
                None,
                None,
                clock.now(),
            ),
        )
        await unit.commit()
    async with uow() as unit:
        alerts = await HoldingAlerts().evaluate(unit, item, clock.now())
        await unit.commit()
    assert alerts == 1
    [alert] = uow.store.outbox.values()
    assert "Reprice your ask" in alert.payload["blocks"][0]
    assert "the lowest ask there is now $310.00 (12.9% below yours)" in alert.payload["blocks"][1]


async def test_card_shows_every_source_side_by_side(world):
    dispatcher, *_ = world
    world[0]._services.market.sources["tcgdex"].add(
        CardPrinting("tcgdex", "x-1", "pokemon", "Black Lotus", "Fan Set"),
        quote("x-1", "1.00", "EUR", "cardmarket", source="tcgdex", kind="trend"),
    )
    reply = await dispatcher.handle_text(ANN, "/card Black Lotus")
    assert reply.text.startswith("Prices for 'Black Lotus':")
    assert (
        "scryfall:\nBlack Lotus · Limited Edition Alpha (LEA) #232: "
        "tcgplayer normal $12,000.00; cardmarket normal €11,000.00" in reply.text
    )
    assert "tcgdex:\nBlack Lotus · Fan Set: cardmarket normal €1.00" in reply.text


async def test_holdings_and_card_answer_when_a_source_fails(world):
    dispatcher, _, _, scryfall, _ = world
    scryfall.failing = SourceError("scryfall", "unavailable")
    reply = await dispatcher.handle_text(ANN, "/card Black Lotus")
    assert reply.is_error and "tcgdex know no card named 'Black Lotus'" in reply.text
    assert "Not answering just now: scryfall did not answer properly just now" in reply.text
    scryfall.failing = SourceError("scryfall", "rate_limited")
    world[0]._services.market.sources["tcgdex"].failing = SourceError("tcgdex", "timeout")
    both = await dispatcher.handle_text(ANN, "/card Black Lotus")
    assert both.text.startswith("No card source answered just now")
    world[0]._services.market.sources["tcgdex"].failing = None
    assert (
        "Added #1: 1 × Pikachu" in (await dispatcher.handle_text(ANN, "/holdings add Pikachu")).text
    )


async def test_a_holding_followed_on_a_marketplace_api_is_ranked_and_repriced(world):
    dispatcher, uow, clock, _, refresher = world
    stockx = dispatcher._services.market.marketplaces["stockx"]
    stockx.markets["p-1:v-10"] = ("21.00", "18.00", "EUR")
    await dispatcher.handle_text(ANN, "/holdings add Pikachu")
    refused = await dispatcher.handle_text(ANN, "/holdings market 1 goat abc")
    assert (
        refused.is_error
        and "no goat API" in refused.text
        and "/holdings add <link>" in refused.text
    )
    ranking = await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-1:v-10")
    assert "1. stockx: lowest ask €21.00, fee 12.0% -> you net €18.48 each" in ranking.text
    assert stockx.asked == [("p-1:v-10", "EUR")]  # in the item's own currency
    await dispatcher.handle_text(ANN, "/holdings ask 1 stockx 25")
    stockx.markets["p-1:v-10"] = ("22.00", None, "EUR")
    clock.advance(days=1)
    report = await refresher.run_once()
    assert report.alerts == 1
    [alert] = uow.store.outbox.values()
    assert (
        "Your ask on stockx: €25.00; the lowest ask there is now €22.00"
        in alert.payload["blocks"][1]
    )


async def test_the_portfolio_chart_does_not_dip_when_a_source_fails(world):
    dispatcher, uow, clock, scryfall, refresher = world
    offer = await dispatcher.handle_text(ANN, "/holdings add Black Lotus 2")
    await dispatcher.handle_action(ANN, offer.buttons[0].action)
    await dispatcher.handle_text(ANN, "/holdings add Pikachu 3")
    clock.advance(days=1)
    await refresher.run_once()
    scryfall.failing = SourceError("scryfall", "timeout")  # Magic prices missing from now
    for _ in range(2):
        clock.advance(days=1)
        await refresher.run_once()
    async with uow() as unit:
        days = await unit.holdings.snapshots(ANN.address, clock.now() - timedelta(days=10))
    usd = [value for _, code, value in days if code == "USD"]
    assert usd == [Decimal("24000.00")] * 3  # carried on the failing days: no dip
    chart = await dispatcher.handle_text(ANN, "/holdings chart")
    assert chart.text.startswith("Portfolio value in USD (3 days):")
    assert "now $24,000.00, lowest $24,000.00" in chart.text and "Also held in EUR" in chart.text


async def test_a_page_read_moments_ago_is_not_fetched_again_to_add_it(world):
    dispatcher, _, clock, *_ = world
    fetcher = dispatcher._services.reader._fetcher
    await dispatcher.handle_text(ANN, f"/holdings add {SNEAKER}")
    assert fetcher.fetches == [SNEAKER]
    clock.advance(minutes=2)
    added = await dispatcher.handle_text(BOB, f"/holdings add {SNEAKER} @280")
    assert "Added #2: 1 × Air Jordan 1 Chicago" in added.text and "$300.00" in added.text
    assert fetcher.fetches == [SNEAKER]  # the product read two minutes ago is used as it is
    clock.advance(hours=1)
    await dispatcher.handle_text(BOB, f"/holdings add {SNEAKER}")
    assert fetcher.fetches == [SNEAKER, SNEAKER]  # an old reading is not


async def test_choices_offered_before_the_chat_reached_its_limit_are_refused_after(world):
    dispatcher, uow, *_ = world
    services = dispatcher._services
    small = replace(services.market, max_holdings_per_chat=1)
    dispatcher = Dispatcher(services.registry, replace(services, market=small))
    offer = await dispatcher.handle_text(ANN, "/holdings add Black Lotus")
    assert "Which 'Black Lotus' do you hold?" in offer.text
    assert "Added #1" in (await dispatcher.handle_text(ANN, "/holdings add Pikachu")).text
    late = await dispatcher.handle_action(ANN, offer.buttons[0].action)
    assert late.is_error and "already holds 1 items, the most allowed" in late.text
    assert "/holdings remove <holding>" in late.text
    again = await dispatcher.handle_text(ANN, "/holdings add Pikachu")
    assert again.is_error and "the most allowed" in again.text
    assert [h.item_id for h in await holdings_of(uow)] == [1]
    assert "Added" in (await dispatcher.handle_text(BOB, "/holdings add Pikachu")).text


async def test_one_evaluation_keeps_both_a_market_move_alert_and_a_rearmed_ask():
    """A deviation alert and a re-armed ask in the same evaluation: both changes are kept
    (writing the second from the holding as it was read would undo the first)."""
    uow, now = MemoryUnitOfWorkFactory(), NOW
    async with uow() as unit:
        item = await unit.items.get_or_add(MarketItem(None, ItemKind.CARD, "Pikachu", "tcgdex"))
        for days, amount in ((3, "20.00"), (2, "20.00"), (1, "20.00"), (0, "30.00")):
            seen = MarketPrice(
                item.id or 0,
                "tcgdex",
                "cardmarket",
                "trend",
                Money(Decimal(amount), "EUR"),
                now - timedelta(days=days),
            )
            await unit.market_prices.add(seen)
        item.price = seen
        held = await unit.holdings.add(
            Holding(
                None,
                ANN.user.key,
                ANN.address,
                item.id or 0,
                1,
                now - timedelta(days=5),
                alert_percent=Decimal(15),
                ask=Money(Decimal("25.00"), "EUR"),
                ask_platform="stockx",
                ask_armed=False,
            )
        )
        lowest = Money(Decimal("25.00"), "EUR")
        market = MarketplaceData("stockx", "p-1", lowest, None, None, None, None, now)
        await unit.marketplaces.put(item.id or 0, market)
        await unit.commit()
    async with uow() as unit:
        assert await HoldingAlerts().evaluate(unit, item, now) == 1
        await unit.commit()
    [stored] = await holdings_of(uow)
    assert stored.id == held.id
    assert (stored.alert_armed, stored.last_alert_at) == (False, now)  # the move alerted
    assert stored.ask_armed  # the ask is no longer above the market: re-armed


async def test_a_marketplace_reference_is_checked_before_anything_is_stored(world):
    dispatcher, uow, *_ = world
    stockx = dispatcher._services.market.marketplaces["stockx"]
    await dispatcher.handle_text(ANN, "/holdings add Pikachu")
    unknown = await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-9:v-9")
    assert unknown.is_error and "stockx knows no item 'p-9:v-9'" in unknown.text
    assert "productId:variantId" in unknown.text
    stockx.markets["p-1:v-10"] = ("21.00", "18.00", "EUR")
    stockx.failing = SourceError("stockx", "timeout")
    down = await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-1:v-10")
    assert down.is_error and "Try again in a few minutes" in down.text
    async with uow() as unit:
        assert await unit.marketplaces.for_item(1) == []  # nothing unchecked was stored


async def test_an_item_followed_for_other_holders_keeps_its_marketplace_reference(world):
    dispatcher, uow, *_ = world
    stockx = dispatcher._services.market.marketplaces["stockx"]
    stockx.markets["p-1:v-10"] = ("21.00", "18.00", "EUR")
    stockx.markets["p-2:v-20"] = ("5.00", None, "EUR")
    await dispatcher.handle_text(ANN, "/holdings add Pikachu")
    await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-2:v-20")
    # Nobody else holds the item yet: its only holder may point it elsewhere.
    ranking = await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-1:v-10")
    assert "1. stockx: lowest ask €21.00" in ranking.text
    await dispatcher.handle_text(BOB, "/holdings add Pikachu")  # the same item, shared
    taken = await dispatcher.handle_text(BOB, "/holdings market 2 stockx p-2:v-20")
    assert taken.is_error and "followed on stockx as 'p-1:v-10'" in taken.text
    assert "/sell 2" in taken.text and "operator" in taken.text
    assert (await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-2:v-20")).is_error
    same = await dispatcher.handle_text(BOB, "/holdings market 2 stockx p-1:v-10")
    assert "1. stockx: lowest ask €21.00" in same.text  # the same reference is fine
    async with uow() as unit:
        [row] = await unit.marketplaces.for_item(1)
    assert row.item_ref == "p-1:v-10"
    assert "lowest ask €21.00" in (await dispatcher.handle_text(ANN, "/sell 1")).text


async def test_sell_applies_the_seller_fee_configured_when_it_runs(world):
    dispatcher, *_ = world
    stockx = dispatcher._services.market.marketplaces["stockx"]
    stockx.markets["p-1:v-10"] = ("21.00", "18.00", "EUR")
    await dispatcher.handle_text(ANN, "/holdings add Pikachu")
    await dispatcher.handle_text(ANN, "/holdings market 1 stockx p-1:v-10")
    await dispatcher.handle_text(ANN, f"/holdings add {SNEAKER}")  # a held StockX page
    services = dispatcher._services
    # The operator lowers StockX's fee: rows stored before follow it at once.
    changed = replace(services.market, fees={"stockx": Decimal("0.10")})
    dispatcher = Dispatcher(services.registry, replace(services, market=changed))
    followed = await dispatcher.handle_text(ANN, "/sell 1")
    assert "1. stockx: lowest ask €21.00, fee 10.0% -> you net €18.90 each" in followed.text
    listed = await dispatcher.handle_text(ANN, "/sell 2")
    assert "1. stockx: lowest ask $300.00, fee 10.0% -> you net $270.00 each" in listed.text
