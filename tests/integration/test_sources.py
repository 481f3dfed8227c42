"""Market sources over real HTTP against the loopback fake of their APIs (fakes/market_api)."""

from __future__ import annotations

import asyncio
import itertools
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from adapters.sources import (
    DEFAULT_SELLER_FEES,
    EcbRates,
    ScryfallSource,
    StockXMarket,
    TcgdexSource,
    YgoprodeckSource,
    build_stockx_market,
)
from adapters.sources.http import USER_AGENT, SourceHttp
from adapters.sources.limits import RateLimit
from adapters.sources.scryfall import ACCEPT, COLLECTION_BATCH
from adapters.sources.scryfall import DEFAULT_LIMITS as SCRYFALL_LIMITS
from adapters.sources.ygoprodeck import DEFAULT_LIMITS as YGOPRODECK_LIMITS
from adapters.web.politeness import parse_retry_after
from bot.market import seller_fees
from bot.settings import SettingsError, load_settings
from core.market import MarketQuote, SourceError, SourceRateLimited
from core.money import Money
from tests.fakes.clock import FakeClock
from tests.fakes.market_api import STOCKX_API_KEY, STOCKX_TOKEN, Fault, MarketApi

# Tests pace the fake fast; the real paces are checked on their own below.
FAST = RateLimit.per_second(1000)

BOLT_A25 = "e3285e6b-3e79-4d7c-bf96-d920f973b80d"
BOLT_LEA = "5f0e0a9c-2c3b-4b37-9c7c-2d6b3f7a1e61"
BOLT_STA = "77c6fa74-5543-42ac-9ead-0e890b188e99"
BOLT_SLD = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
SNEAKER = "b0a4d3f8-6f1e-4c2d-9a7b-2e5c8d1f3a64:c1e2f3a4-5b6c-4d7e-8f90-a1b2c3d4e5f6"
SNEAKER_NO_ASKS = "b0a4d3f8-6f1e-4c2d-9a7b-2e5c8d1f3a64:d7c6b5a4-3e2f-4a1b-9c8d-7e6f5a4b3c2d"


@pytest.fixture
async def api() -> AsyncIterator[MarketApi]:
    async with MarketApi() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))


Source = ScryfallSource | TcgdexSource | YgoprodeckSource | EcbRates | StockXMarket


def build(kind: str, api: MarketApi, clock: FakeClock, timeout: float = 2.0) -> Source:
    """One source of `kind` against the fake, paced fast."""
    if kind == "scryfall":
        return ScryfallSource(
            api.url("scryfall"), clock=clock, timeout=timeout, limits={"cards": FAST}
        )
    if kind == "tcgdex":
        return TcgdexSource(api.url("tcgdex"), clock=clock, timeout=timeout, limits={"api": FAST})
    if kind == "ygoprodeck":
        return YgoprodeckSource(
            api.url("ygoprodeck"), clock=clock, timeout=timeout, limits={"api": FAST}
        )
    if kind == "ecb":
        return EcbRates(api.ecb_url, clock=clock, timeout=timeout, limits={"file": FAST})
    return StockXMarket(
        STOCKX_API_KEY,
        STOCKX_TOKEN,
        api.url("stockx"),
        clock=clock,
        timeout=timeout,
        limits={"api": FAST},
    )


@dataclass(frozen=True)
class Call:
    """One priced lookup per source, for the tests every source must pass."""

    route: str
    run: Callable[[Any], Awaitable[object]]


CALLS: dict[str, Call] = {
    "scryfall": Call("scryfall.collection", lambda s: s.quotes([BOLT_A25])),
    "tcgdex": Call("tcgdex.card", lambda s: s.quotes(["base1-4"])),
    "ygoprodeck": Call("ygoprodeck.cardinfo", lambda s: s.quotes(["46986414:LOB-EN005"])),
    "ecb": Call("ecb.daily", lambda s: s.latest()),
    "stockx": Call("stockx.market", lambda s: s.market(SNEAKER, "USD")),
}


@pytest.fixture
async def scryfall(api: MarketApi, clock: FakeClock) -> AsyncIterator[ScryfallSource]:
    source = build("scryfall", api, clock)
    yield source
    await source.aclose()


@pytest.fixture
async def tcgdex(api: MarketApi, clock: FakeClock) -> AsyncIterator[TcgdexSource]:
    source = build("tcgdex", api, clock)
    yield source
    await source.aclose()


@pytest.fixture
async def ygoprodeck(api: MarketApi, clock: FakeClock) -> AsyncIterator[YgoprodeckSource]:
    source = build("ygoprodeck", api, clock)
    yield source
    await source.aclose()


@pytest.fixture
async def ecb(api: MarketApi, clock: FakeClock) -> AsyncIterator[EcbRates]:
    source = build("ecb", api, clock)
    yield source
    await source.aclose()


@pytest.fixture
async def stockx(api: MarketApi, clock: FakeClock) -> AsyncIterator[StockXMarket]:
    source = build("stockx", api, clock)
    yield source
    await source.aclose()


def table(quotes: list[MarketQuote]) -> set[tuple[str, str, str, str, str]]:
    """(market, finish, kind, amount as written, currency) of each quote: exact Decimals."""
    return {(q.market, q.finish, q.kind, str(q.price.amount), q.price.currency) for q in quotes}


# ----- Scryfall ---------------------------------------------------------------------------


async def test_scryfall_search_gives_every_printing_of_the_best_match(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    printings = await scryfall.search("lightnin bolt")

    assert [p.set_code for p in printings] == ["sld", "sta", "a25", "lea"]  # newest first
    assert {p.name for p in printings} == {"Lightning Bolt"}
    a25 = printings[2]
    assert a25.source_id == BOLT_A25
    assert a25.label == "Lightning Bolt · Masters 25 (A25) #141"
    assert a25.finishes == ("nonfoil", "foil")
    assert a25.game == "mtg"
    assert a25.image is not None and "/normal/front/" in a25.image
    assert a25.url is not None and a25.url.startswith("https://scryfall.com/card/a25/141/")
    # The fuzzy lookup, then the card's own prints link followed against our base URL.
    assert [r.route for r in api.requests] == ["scryfall.named", "scryfall.search"]
    assert api.requests[0].query["fuzzy"] == "lightnin bolt"
    assert api.requests[1].query["q"] == "oracleid:4457ed35-7c10-48c8-9776-456485fdf070"
    assert api.requests[1].query["unique"] == "prints"


async def test_scryfall_ambiguous_name_lists_the_printings_of_every_match(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    printings = await scryfall.search("lightning", limit=20)

    assert {p.name for p in printings} == {"Lightning Bolt", "Lightning Helix"}
    assert len(printings) == 5
    assert api.seen("scryfall.search")[0].query == {"q": "lightning", "unique": "prints"}


async def test_scryfall_search_keeps_search_syntax_out_and_finds_double_faced_images(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    [delver] = await scryfall.search("Delver")
    assert delver.name == "Delver of Secrets // Insectile Aberration"
    assert delver.image is not None and "/normal/front/" in delver.image

    assert await scryfall.search("t:goblin (nothing)") == []
    assert api.seen("scryfall.search")[-1].query["q"] == "t goblin nothing"


async def test_scryfall_quotes_map_each_price_exactly(scryfall: ScryfallSource) -> None:
    quotes = await scryfall.quotes([BOLT_A25, BOLT_LEA, BOLT_STA, BOLT_SLD])

    assert table(quotes[BOLT_A25]) == {
        ("tcgplayer", "normal", "market", "2.15", "USD"),
        ("tcgplayer", "foil", "market", "5.49", "USD"),
        ("cardmarket", "normal", "market", "1.90", "EUR"),
        ("cardmarket", "foil", "market", "4.10", "EUR"),
    }  # usd_etched is null: no quote, not zero; tix is no currency and stays out
    assert table(quotes[BOLT_LEA]) == {
        ("tcgplayer", "normal", "market", "649.00", "USD"),
        ("cardmarket", "normal", "market", "520.00", "EUR"),
    }
    assert ("tcgplayer", "etched", "market", "7.25", "USD") in table(quotes[BOLT_STA])
    # "0.00", "1000000000000.00", "12.345" and "N/A" are no prices: known card, no quote.
    assert quotes[BOLT_SLD] == []
    quote = quotes[BOLT_A25][0]
    assert (quote.source, quote.item_id, quote.as_of) == (
        "scryfall",
        BOLT_A25,
        datetime(2026, 12, 5, 9, 0, tzinfo=UTC),
    )


async def test_scryfall_tix_becomes_usd_only_at_the_operators_rate(
    api: MarketApi, clock: FakeClock
) -> None:
    source = ScryfallSource(
        api.url("scryfall"), clock=clock, limits={"cards": FAST}, tix_usd=Decimal("1.00")
    )
    try:
        quotes = await source.quotes([BOLT_STA, BOLT_LEA])
    finally:
        await source.aclose()
    assert ("cardhoarder", "mtgo", "market", "0.05", "USD") in table(quotes[BOLT_STA])
    assert {q.market for q in quotes[BOLT_LEA]} == {"tcgplayer", "cardmarket"}  # tix null


async def test_scryfall_unknown_cards_are_missing_not_errors(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    assert await scryfall.quotes(["00000000-0000-4000-8000-000000000000"]) == {}
    api.inject("scryfall.collection", Fault.UNKNOWN)
    assert await scryfall.quotes([BOLT_A25]) == {}
    assert await scryfall.search("Black Lotus") == []


async def test_scryfall_values_5000_cards_in_67_collection_requests(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    known = [BOLT_A25, BOLT_LEA, BOLT_STA, BOLT_SLD]
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(5000 - len(known))] + known

    quotes = await scryfall.quotes(ids)

    batches = api.seen("scryfall.collection")
    assert len(batches) == 67
    sent = [identifier["id"] for batch in batches for identifier in batch.json()["identifiers"]]
    assert sent == ids  # every id once, in order
    assert max(len(batch.json()["identifiers"]) for batch in batches) == COLLECTION_BATCH
    assert set(quotes) == set(known)


async def test_scryfall_names_itself_and_sends_accept_on_every_request(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    await scryfall.search("lightnin bolt")
    await scryfall.search("lightning")
    await scryfall.quotes([BOLT_A25])

    assert len(api.requests) == 5
    for request in api.requests:
        assert request.headers["user-agent"] == USER_AGENT
        assert request.headers["user-agent"].startswith("pricebot/")
        assert request.headers["accept"] == ACCEPT
    assert api.seen("scryfall.collection")[0].headers["content-type"] == "application/json"


async def test_scryfall_keeps_two_requests_a_second_across_every_user(
    api: MarketApi, clock: FakeClock
) -> None:
    # The configured pace: 2 a second on /cards/search, /cards/named and /cards/collection.
    assert SCRYFALL_LIMITS["cards"].requests_per_second == 2
    # Two sources of one base URL (two users, say) share it: four lookups at once go out one
    # every half second, whoever asks.
    first = ScryfallSource(api.url("scryfall"), clock=clock)
    second = ScryfallSource(api.url("scryfall"), clock=clock)
    try:
        await asyncio.gather(
            first.quotes([BOLT_A25]),
            second.quotes([BOLT_LEA]),
            first.search("lightnin bolt"),
        )
    finally:
        await first.aclose()
        await second.aclose()

    times = [request.at for request in api.requests]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The limiter spaces starts by 0.5 s; two sent at once would arrive together. The margin
    # is for a loaded machine, where one request may reach the server late.
    assert min(gaps) >= 0.25, gaps
    assert times[-1] - times[0] >= 1.4


async def test_scryfall_answers_are_kept_for_a_day(
    scryfall: ScryfallSource, api: MarketApi, clock: FakeClock
) -> None:
    first = await scryfall.quotes([BOLT_A25, "00000000-0000-4000-8000-000000000001"])
    await scryfall.search("lightnin bolt")
    clock.advance(hours=23, minutes=59)
    assert await scryfall.quotes([BOLT_A25, "00000000-0000-4000-8000-000000000001"]) == first
    await scryfall.search("lightnin bolt")
    assert len(api.requests) == 3

    clock.advance(minutes=2)
    await scryfall.quotes([BOLT_A25])
    assert len(api.seen("scryfall.collection")) == 2


async def test_a_short_retry_after_is_waited_out_once(
    scryfall: ScryfallSource, api: MarketApi
) -> None:
    api.inject("scryfall.collection", Fault.RATE_LIMITED, times=1, retry_after="1")
    started = time.monotonic()

    quotes = await scryfall.quotes([BOLT_A25])

    assert BOLT_A25 in quotes
    first, second = api.seen("scryfall.collection")
    assert second.at - first.at >= 0.9
    assert time.monotonic() - started < 3


# ----- TCGdex -----------------------------------------------------------------------------


async def test_tcgdex_search_ranks_the_exact_name_first(
    tcgdex: TcgdexSource, api: MarketApi
) -> None:
    printings = await tcgdex.search("charizard")

    assert [(p.source_id, p.name, p.set_name, p.number) for p in printings] == [
        ("cel25-4", "Charizard", "Celebrations", "4"),
        ("base1-4", "Charizard", "Base Set", "4"),
        ("sv03.5-006", "Charizard ex", "151", "006"),
    ]
    assert printings[1].image == "https://assets.tcgdex.net/en/base/base1/4/high.webp"
    assert printings[1].set_code == "base1" and printings[1].game == "pokemon"
    assert api.seen("tcgdex.cards")[0].query == {"name": "charizard"}
    assert api.seen("tcgdex.cards")[0].path == "/tcgdex/en/cards"

    await tcgdex.search("furret")
    assert len(api.seen("tcgdex.sets")) == 1  # set names are kept for the day
    assert await tcgdex.search("missingno") == []


async def test_tcgdex_quotes_map_tcgplayer_and_cardmarket(
    tcgdex: TcgdexSource, api: MarketApi
) -> None:
    quotes = await tcgdex.quotes(["base1-4", "sv03.5-006", "cel25-4", "swsh3-136", "nope-1"])

    assert table(quotes["base1-4"]) == {
        ("tcgplayer", "holofoil", "market", "419.53", "USD"),
        ("tcgplayer", "holofoil", "low", "320.00", "USD"),
        ("tcgplayer", "holofoil", "mid", "450.99", "USD"),
        ("tcgplayer", "holofoil", "high", "2999.99", "USD"),
        ("tcgplayer", "1st-edition-holofoil", "market", "9876.50", "USD"),
        ("tcgplayer", "1st-edition-holofoil", "low", "7500.00", "USD"),
        ("tcgplayer", "1st-edition-holofoil", "mid", "11250.00", "USD"),
        ("tcgplayer", "1st-edition-holofoil", "high", "49999.99", "USD"),
        ("cardmarket", "normal", "trend", "395.12", "EUR"),
        ("cardmarket", "normal", "average", "402.50", "EUR"),
        ("cardmarket", "normal", "low", "180.00", "EUR"),
        ("cardmarket", "normal", "average-1d", "350.00", "EUR"),
        ("cardmarket", "normal", "average-7d", "410.20", "EUR"),
        ("cardmarket", "normal", "average-30d", "398.40", "EUR"),
    }  # directLowPrice and every "-holo" price are null: no quotes
    tcgplayer = next(q for q in quotes["base1-4"] if q.market == "tcgplayer")
    assert tcgplayer.as_of == datetime(2026, 12, 4, 20, 7, 54, tzinfo=UTC)
    assert ("cardmarket", "foil", "trend", "7.12", "EUR") in table(quotes["sv03.5-006"])
    # low-holo is 0: no price.
    assert not any(q.kind == "low" and q.finish == "foil" for q in quotes["sv03.5-006"])
    assert quotes["cel25-4"] == []  # known card, no market lists it
    # The "reverse" key of TCGdex's own example is the reverse holofoil.
    assert ("tcgplayer", "reverse-holofoil", "market", "0.23", "USD") in table(quotes["swsh3-136"])
    assert "nope-1" not in quotes
    # No batch endpoint: one request per card.
    assert sorted(r.path for r in api.seen("tcgdex.card")) == [
        "/tcgdex/en/cards/base1-4",
        "/tcgdex/en/cards/cel25-4",
        "/tcgdex/en/cards/nope-1",
        "/tcgdex/en/cards/sv03.5-006",
        "/tcgdex/en/cards/swsh3-136",
    ]


async def test_tcgdex_ids_that_cannot_be_card_ids_are_not_requested(
    tcgdex: TcgdexSource, api: MarketApi
) -> None:
    assert await tcgdex.quotes(["../sets", "", "a/b"]) == {}
    assert api.requests == []


# ----- YGOPRODeck -------------------------------------------------------------------------


async def test_ygoprodeck_search_by_exact_name_lists_its_printings(
    ygoprodeck: YgoprodeckSource, api: MarketApi
) -> None:
    printings = await ygoprodeck.search("Dark Magician")

    assert [p.source_id for p in printings] == [
        "46986414:LOB-EN005",
        "46986414:SDY-006",
        "46986414:LEDD-ENA01",
        "46986414:LDS3-EN082",
    ]
    lds3 = printings[3]
    assert lds3.finishes == ("common", "ultra-rare")  # one code, two rarities
    assert lds3.rarity == "Common / Ultra Rare"
    assert lds3.label == "Dark Magician · Legendary Duelists: Season 3 (LDS3-EN082)"
    assert lds3.image is None  # YGOPRODeck forbids hotlinking its images
    assert lds3.url == "https://ygoprodeck.com/card/dark-magician-4003"
    assert [r.query for r in api.requests] == [{"name": "Dark Magician"}]


async def test_ygoprodeck_falls_back_to_the_fuzzy_name(
    ygoprodeck: YgoprodeckSource, api: MarketApi
) -> None:
    printings = await ygoprodeck.search("dark magi", limit=20)

    assert [r.query for r in api.requests] == [{"name": "dark magi"}, {"fname": "dark magi"}]
    names = list(dict.fromkeys(p.name for p in printings))
    assert names == ["Dark Magician", "Dark Magician Girl", "Toon Dark Magician"]
    assert await ygoprodeck.search("Blue-Eyes Ultimate Dragonfly") == []


async def test_ygoprodeck_quotes_printings_in_one_request(
    ygoprodeck: YgoprodeckSource, api: MarketApi
) -> None:
    quotes = await ygoprodeck.quotes(
        [
            "46986414:LOB-EN005",
            "46986414:LDS3-EN082",
            "38033121:MFC-000",
            "46986414:LEDD-ENA01",
            "46986414:NOPE-EN000",
            "99999999:LOB-EN001",
            "not a printing",
        ]
    )

    card_wide = {
        ("cardmarket", "any", "low", "0.06", "EUR"),
        ("tcgplayer", "any", "low", "0.16", "USD"),
        ("ebay", "any", "low", "0.99", "USD"),
        ("coolstuffinc", "any", "low", "0.39", "USD"),
    }  # amazon_price "0.00" is no price
    assert table(quotes["46986414:LOB-EN005"]) == {
        ("ygoprodeck", "ultra-rare", "market", "72.35", "USD"),
        *card_wide,
    }
    assert table(quotes["46986414:LDS3-EN082"]) == {
        ("ygoprodeck", "common", "market", "1.45", "USD"),
        ("ygoprodeck", "ultra-rare", "market", "6.87", "USD"),
        *card_wide,
    }
    assert ("ygoprodeck", "secret-rare", "market", "389.99", "USD") in table(
        quotes["38033121:MFC-000"]
    )
    assert table(quotes["46986414:LEDD-ENA01"]) == card_wide  # set_price "0"
    assert set(quotes) == {
        "46986414:LOB-EN005",
        "46986414:LDS3-EN082",
        "38033121:MFC-000",
        "46986414:LEDD-ENA01",
    }
    [request] = api.requests
    assert request.query == {"id": "46986414,38033121,99999999"}


async def test_ygoprodeck_asks_one_by_one_when_a_list_matches_nothing(
    ygoprodeck: YgoprodeckSource, api: MarketApi
) -> None:
    assert await ygoprodeck.quotes(["99999999:LOB-EN001", "01861629:DPBC-EN001"]) != {}
    assert [r.query for r in api.requests] == [{"id": "99999999,1861629"}]

    api.inject("ygoprodeck.cardinfo", Fault.UNKNOWN, times=1)
    assert await ygoprodeck.quotes(["38033121:MFC-000", "35191415:MVP1-EN008"]) != {}
    assert [r.query for r in api.requests[1:]] == [
        {"id": "38033121,35191415"},
        {"id": "38033121"},
        {"id": "35191415"},
    ]


async def test_ygoprodeck_stays_well_under_its_limit() -> None:
    assert YGOPRODECK_LIMITS["api"].requests_per_second == 5  # 20 allowed, an hour's block past it


# ----- ECB --------------------------------------------------------------------------------


async def test_ecb_rates_parse_and_convert_exactly(ecb: EcbRates) -> None:
    rates = await ecb.latest()

    assert (rates.base, rates.day, rates.source) == ("EUR", date(2026, 12, 4), "ecb")
    assert len(rates.rates) == 29 and "BGN" not in rates.rates
    assert str(rates.rates["USD"]) == "1.1642" and str(rates.rates["GBP"]) == "0.87410"
    usd = Money(Decimal("100.00"), "USD")
    assert rates.convert(usd, "EUR") == Money(Decimal("85.90"), "EUR")
    assert str(rates.convert(usd, "EUR").amount) == "85.90"  # type: ignore[union-attr]
    assert rates.convert(usd, "JPY") == Money(Decimal("15567"), "JPY")
    assert rates.convert(Money(Decimal("50.00"), "GBP"), "EUR") == Money(Decimal("57.20"), "EUR")
    assert rates.convert(Money(Decimal("10.00"), "EUR"), "ISK") == Money(Decimal("1467"), "ISK")
    assert rates.convert(usd, "XAF") is None  # not published


# ----- StockX -----------------------------------------------------------------------------


async def test_stockx_market_data_maps_and_net_proceeds_take_the_fee(
    stockx: StockXMarket, api: MarketApi
) -> None:
    data = await stockx.market(SNEAKER, "USD")

    assert data is not None
    assert data.platform == "stockx" and data.item_ref == SNEAKER
    assert data.lowest_ask == Money(Decimal("238.00"), "USD")
    assert data.highest_bid == Money(Decimal("205.00"), "USD")
    # Not in the market-data endpoint.
    assert (data.last_sale, data.sales_30d, data.volatility) == (None, None, None)
    assert data.net_proceeds(Decimal("0.12")) == Money(Decimal("209.44"), "USD")
    [request] = api.requests
    assert request.path == (
        "/stockx/catalog/products/b0a4d3f8-6f1e-4c2d-9a7b-2e5c8d1f3a64"
        "/variants/c1e2f3a4-5b6c-4d7e-8f90-a1b2c3d4e5f6/market-data"
    )
    assert request.query == {"currencyCode": "USD"}
    assert request.headers["x-api-key"] == STOCKX_API_KEY
    assert request.headers["authorization"] == f"Bearer {STOCKX_TOKEN}"

    eur = await stockx.market(SNEAKER, "EUR")
    assert eur is not None and eur.net_proceeds(Decimal("0.12")) == Money(Decimal("194.48"), "EUR")


async def test_stockx_without_asks_unknown_items_and_bad_credentials(
    stockx: StockXMarket, api: MarketApi, clock: FakeClock
) -> None:
    no_asks = await stockx.market(SNEAKER_NO_ASKS, "USD")
    assert no_asks is not None
    assert no_asks.lowest_ask is None and no_asks.net_proceeds(Decimal("0.12")) is None
    assert no_asks.highest_bid == Money(Decimal("150.00"), "USD")

    assert await stockx.market("0000:1111", "USD") is None
    assert await stockx.market("not-a-ref", "USD") is None
    with pytest.raises(ValueError):
        await stockx.market(SNEAKER, "SEK")

    stale = StockXMarket(
        STOCKX_API_KEY, "expired", api.url("stockx"), clock=clock, limits={"api": FAST}
    )
    try:
        with pytest.raises(SourceError) as failure:
            await stale.market(SNEAKER, "USD")
    finally:
        await stale.aclose()
    assert failure.value.reason == "unauthorized"


async def test_stockx_is_not_built_without_a_key(api: MarketApi) -> None:
    assert build_stockx_market(None, STOCKX_TOKEN) is None
    assert build_stockx_market(" ", STOCKX_TOKEN) is None
    assert build_stockx_market(STOCKX_API_KEY, None) is None
    built = build_stockx_market(STOCKX_API_KEY, STOCKX_TOKEN, api.url("stockx"))
    assert isinstance(built, StockXMarket)
    try:
        data = await built.market(SNEAKER, "USD")
    finally:
        await built.aclose()
    assert data is not None and data.lowest_ask == Money(Decimal("238.00"), "USD")


def test_seller_fees_have_sources_and_operators_can_override_them() -> None:
    for platform, fee in DEFAULT_SELLER_FEES.items():
        assert Decimal(0) < fee.fraction < Decimal(1), platform
        assert fee.source.startswith("https://"), platform
    defaults = seller_fees(load_settings())
    assert defaults["stockx"] == Decimal("0.12")
    assert defaults["alias"] == Decimal("0.121245")  # 9.5% commission, then 2.9% cash-out
    assert "ebay" not in defaults  # no eBay page with a rate: no guess
    chosen = seller_fees(load_settings(seller_fees="ebay=0.1325, stockx=0.10"))
    assert (chosen["ebay"], chosen["stockx"]) == (Decimal("0.1325"), Decimal("0.10"))
    assert chosen["goat"] == Decimal("0.095")  # the others keep their defaults
    with pytest.raises(SettingsError, match="PRICEBOT_SELLER_FEES"):
        load_settings(seller_fees="stockx=1.5")


# ----- what every source must do ------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CALLS))
async def test_429_becomes_source_rate_limited_and_holds_everyone_back(
    kind: str, api: MarketApi, clock: FakeClock
) -> None:
    call = CALLS[kind]
    api.inject(call.route, Fault.RATE_LIMITED, retry_after="30")
    source = build(kind, api, clock)
    try:
        with pytest.raises(SourceRateLimited) as limited:
            await call.run(source)
        assert limited.value.retry_after == 30
        assert limited.value.reason == "rate_limited"
        # The source asked for 30 s: the next lookup fails at once without asking again.
        with pytest.raises(SourceRateLimited):
            await call.run(source)
    finally:
        await source.aclose()
    assert len(api.seen(call.route)) == 1


@pytest.mark.parametrize("kind", list(CALLS))
async def test_a_hang_becomes_a_timeout_in_bounded_time(
    kind: str, api: MarketApi, clock: FakeClock
) -> None:
    call = CALLS[kind]
    api.inject(call.route, Fault.HANG)
    source = build(kind, api, clock, timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(SourceError) as failure:
            await call.run(source)
    finally:
        await source.aclose()
    assert failure.value.reason == "timeout"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("fault", [Fault.MALFORMED_JSON, Fault.MISSING_FIELDS])
@pytest.mark.parametrize("kind", list(CALLS))
async def test_a_malformed_answer_is_malformed_and_nothing_is_kept(
    kind: str, fault: Fault, api: MarketApi, clock: FakeClock
) -> None:
    call = CALLS[kind]
    api.inject(call.route, fault, times=1)
    source = build(kind, api, clock)
    try:
        with pytest.raises(SourceError) as failure:
            await call.run(source)
        assert failure.value.reason == "malformed"
        assert await call.run(source)  # asked again: the bad answer was not stored
    finally:
        await source.aclose()
    assert len(api.seen(call.route)) == 2


@pytest.mark.parametrize("kind", list(CALLS))
async def test_a_500_is_unavailable(kind: str, api: MarketApi, clock: FakeClock) -> None:
    call = CALLS[kind]
    api.inject(call.route, Fault.SERVER_ERROR, times=1)
    source = build(kind, api, clock)
    try:
        with pytest.raises(SourceError) as failure:
            await call.run(source)
        assert failure.value.reason == "unavailable"
        assert await call.run(source)
    finally:
        await source.aclose()


@pytest.mark.parametrize("kind", ["scryfall", "tcgdex", "ygoprodeck", "stockx"])
async def test_an_unknown_item_is_an_empty_answer(
    kind: str, api: MarketApi, clock: FakeClock
) -> None:
    call = CALLS[kind]
    api.inject(call.route, Fault.UNKNOWN)
    source = build(kind, api, clock)
    try:
        assert not await call.run(source)  # {} or None, never an error
    finally:
        await source.aclose()


@pytest.mark.parametrize(
    ("kind", "name"),
    [("scryfall", "Lightning Bolt"), ("tcgdex", "Charizard"), ("ygoprodeck", "Dark Magician")],
)
async def test_a_card_search_is_kept_whatever_its_case_and_spacing(
    kind: str, name: str, api: MarketApi, clock: FakeClock
) -> None:
    source = build(kind, api, clock)
    try:
        first = await source.search(name, limit=2)
        asked = len(api.requests)
        assert first and asked
        assert await source.search(f"  {name.upper()} ", limit=2) == first
        assert await source.search("   ") == []
        assert len(api.requests) == asked
        assert len(await source.search(name, limit=1)) == 1  # another limit is another answer
        assert len(api.requests) > asked
    finally:
        await source.aclose()


@pytest.mark.parametrize("kind", list(CALLS))
async def test_answers_are_kept_for_a_day(kind: str, api: MarketApi, clock: FakeClock) -> None:
    call = CALLS[kind]
    source = build(kind, api, clock)
    try:
        first = await call.run(source)
        clock.advance(hours=23)
        assert await call.run(source) == first
        assert len(api.seen(call.route)) == 1
        clock.advance(hours=1)
        assert await call.run(source)
        assert len(api.seen(call.route)) == 2
    finally:
        await source.aclose()


async def test_sources_open_no_client_until_their_first_request(
    api: MarketApi, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[httpx.AsyncClient] = []

    class CountedClient(httpx.AsyncClient):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            opened.append(self)

    monkeypatch.setattr(httpx, "AsyncClient", CountedClient)
    # `pricebot check` builds every source and may use none of them.
    idle = [build(kind, api, clock) for kind in CALLS]
    for source in idle:
        await source.aclose()
    assert opened == []

    source = build("scryfall", api, clock)
    try:
        await CALLS["scryfall"].run(source)
        await CALLS["scryfall"].run(source)  # answered from the cache
        await source.search("Lightning Bolt")
    finally:
        await source.aclose()
    assert len(opened) == 1 and opened[0].is_closed


async def test_an_unreachable_source_is_unavailable(clock: FakeClock) -> None:
    async with MarketApi() as server:
        url = server.url("scryfall")  # a port nobody listens on once the server is gone
    source = ScryfallSource(url, clock=clock, limits={"cards": FAST})
    try:
        with pytest.raises(SourceError) as failure:
            await source.quotes([BOLT_A25])
    finally:
        await source.aclose()
    assert failure.value.reason == "unavailable"


async def test_a_gzip_bomb_is_malformed_with_bounded_memory(api: MarketApi) -> None:
    api.inject("scryfall.named", Fault.GZIP_BOMB)
    http = SourceHttp(
        "scryfall", api.url("scryfall"), limits={"cards": FAST}, max_body_bytes=1_000_000
    )
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as failure:
            await http.request("GET", "cards/named", bucket="cards")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await http.aclose()
    assert failure.value.reason == "malformed"
    # 64 MB once inflated; reading stops at the cap instead of inflating a chunk at a time.
    assert peak < 8_000_000


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    date = format_datetime(now, usegmt=True)  # the reply's Date header
    assert parse_retry_after("30", server_date=date) == 30.0
    assert (
        parse_retry_after(
            format_datetime(now + timedelta(seconds=45), usegmt=True), server_date=date
        )
        == 45.0
    )
    assert parse_retry_after("soon", server_date=date) is None
    assert parse_retry_after(None) is None
