"""Benchmark holdings: /holdings over a 5,000-item portfolio, and pricing 5,000 cards cold.

(a) /holdings: a SQLite file with 5,000 Scryfall card items in one chat, each with a current
    price (USD or EUR) and three observations, a unit cost on most (some in the other
    currency, so they are converted), and the ECB rates in the day's cache (the real EcbRates
    against the loopback market API, read once before timing). Timed: the Dispatcher's real
    path, `dispatcher.handle_text(ctx, "/holdings")`, from the command line to the Reply:
    loading the holdings and items, valuing each, totals and the first page of lines.
    Reports the median and p95 over --runs (after one warm-up run); target: under 200 ms.
    --profile prints where one run's time goes (cProfile).

(b) Pricing 5,000 held Scryfall cards with a cold cache: the real ScryfallSource against
    tests/fakes/market_api.py serving 5,000 generated cards on /cards/collection, through
    MarketRefresher.run_once(). Counts the collection requests (5,000 / 75 per request:
    67 at best) and reports the wall time, in three set-ups:
    - one_pass_unpaced: one run_once over all 5,000 without Scryfall's pace: pricebot's own
      cost (the fake server's work, in the same process, included);
    - one_pass_paced: the same at Scryfall's pace (2 requests a second, the default);
    - production: the refresher and sources as bot/market.py builds them (a batch of 1,000
      items per run_once, Scryfall's pace), run_once repeated until nothing is due.

Run from the project root:
    .venv/bin/python benchmarks/bench_holdings.py [--items 5000] [--runs 20]
        [--refresh-runs 3] [--paced-runs 1] [--skip-paced] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import json
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from adapters.console.chat import console_context  # noqa: E402
from adapters.sources import ScryfallSource  # noqa: E402
from adapters.sources.limits import RateLimit  # noqa: E402
from adapters.storage.engine import make_engine  # noqa: E402
from adapters.storage.migrate import upgrade_to_head  # noqa: E402
from adapters.storage.tables import market_items  # noqa: E402
from adapters.storage.uow import SqlUnitOfWorkFactory  # noqa: E402
from bot.market import build_market  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from core.alerts import AlertPolicy  # noqa: E402
from core.holding_alerts import HoldingAlerts  # noqa: E402
from core.money import Money  # noqa: E402
from core.portfolio import Holding, ItemKind, MarketItem, MarketPrice  # noqa: E402
from core.ports import SystemClock  # noqa: E402
from core.refreshing import MarketRefresher, RefreshConfig  # noqa: E402
from tests.fakes.market_api import MarketApi  # noqa: E402

CONTEXT = console_context()
TARGET_MS = 200.0
# Scryfall's fixture card that the generated ones copy (Masters 25 Lightning Bolt).
TEMPLATE_CARD = "e3285e6b-3e79-4d7c-bf96-d920f973b80d"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def card_id(index: int) -> str:
    """A Scryfall-shaped id (a UUID) for the generated card `index`."""
    return f"00000000-0000-4000-8000-{index:012d}"


def settings_for(database: str, api: MarketApi) -> Settings:
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        scryfall_api=api.url("scryfall"),
        pokemon_api=api.url("tcgdex"),
        ygoprodeck_api=api.url("ygoprodeck"),
        fx_api=api.ecb_url,
        # The benchmark sends /holdings as fast as it can, from one user.
        commands_per_minute=1_000_000,
        log_level="WARNING",
    )


async def in_one_unit_of_work(database: str, work: Callable[[Any], Awaitable[None]]) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    factory = SqlUnitOfWorkFactory(engine)
    try:
        async with factory() as uow:
            await work(uow)
            await uow.commit()
    finally:
        await factory.aclose()
        await engine.dispose()


# ----- (a) /holdings over a priced portfolio ---------------------------------------------


async def seed_priced_portfolio(database: str, items: int, now: datetime) -> None:
    """`items` card items held in the console chat, each priced (its newest of three
    observations), most with a unit cost; a third priced in EUR, the rest in USD."""
    rng = random.Random(items)

    async def work(uow: Any) -> None:
        for index in range(items):
            currency, market = ("EUR", "cardmarket") if index % 3 == 0 else ("USD", "tcgplayer")
            item = await uow.items.get_or_add(
                MarketItem(
                    None,
                    ItemKind.CARD,
                    f"Bench Card {index}",
                    "scryfall",
                    card_id(index),
                    "foil" if index % 5 == 0 else "normal",
                    game="mtg",
                    set_name="Benchmark Edition",
                    number=str(index + 1),
                    url=f"https://scryfall.com/card/bench/{index + 1}",
                )
            )
            base = Decimal(rng.randint(25, 250_000)) / 100
            prices = [
                MarketPrice(
                    item.id,
                    "scryfall",
                    market,
                    "market",
                    Money((base * Decimal(factor)).quantize(Decimal("0.01")), currency),
                    now - timedelta(days=days, hours=rng.randint(0, 12)),
                )
                for days, factor in ((20, "0.95"), (10, "1.02"), (0, "1"))
            ]
            for price in prices:
                await uow.market_prices.add(price)
            item.price, item.refreshed_at = prices[-1], prices[-1].observed_at
            item.next_refresh_at = now + timedelta(days=1)
            await uow.items.update(item)
            await uow.holdings.add(
                Holding(
                    None,
                    CONTEXT.user.key,
                    CONTEXT.address,
                    item.id,
                    quantity=rng.randint(1, 4),
                    created_at=now - timedelta(days=30),
                    unit_cost=unit_cost(index, base, currency),
                    condition="NM" if index % 4 == 0 else None,
                )
            )

    await in_one_unit_of_work(database, work)


def unit_cost(index: int, price: Decimal, currency: str) -> Money | None:
    """Most holdings know what they cost; one in seven was paid in the other currency."""
    if index % 10 == 9:
        return None
    if index % 7 == 3:
        currency = "USD" if currency == "EUR" else "EUR"
    return Money((price * Decimal("0.8")).quantize(Decimal("0.01")), currency)


async def time_holdings(database: str, runs: int, profile: bool) -> dict[str, Any]:
    async with MarketApi() as api, Runtime(settings_for(database, api)) as runtime:
        runtime.settle()  # as `pricebot run` does once started
        dispatcher = runtime.dispatcher
        started = time.perf_counter()
        first = await dispatcher.handle_text(CONTEXT, "/holdings")  # reads the ECB rates once
        first_ms = (time.perf_counter() - started) * 1000
        assert first is not None and "Holdings in this chat (" in first.text, first
        assert "Total in EUR" in first.text, first.text
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            reply = await dispatcher.handle_text(CONTEXT, "/holdings")
            timings.append((time.perf_counter() - started) * 1000)
            assert reply is not None and not reply.is_error
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await dispatcher.handle_text(CONTEXT, "/holdings")
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
            stats.print_stats(40)
            stats.sort_stats("tottime").print_stats(25)
        assert len(api.seen("ecb.daily")) == 1  # every timed run used the day's rates
    print(f"first /holdings (rates read, caches cold): {first_ms:.1f} ms", file=sys.stderr)
    print(first.text.splitlines()[0], "...", first.text.splitlines()[-1], file=sys.stderr)
    return {
        "runs": runs,
        "first_ms": round(first_ms, 1),
        "median_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "min_ms": round(min(timings), 1),
        "target_ms": TARGET_MS,
    }


# ----- (b) pricing 5,000 cards with a cold cache ------------------------------------------


async def seed_unpriced_cards(database: str, items: int, now: datetime) -> None:
    """`items` Scryfall card items, never priced (due now), each held once."""

    async def work(uow: Any) -> None:
        for index in range(items):
            item = await uow.items.get_or_add(
                MarketItem(
                    None, ItemKind.CARD, f"Bench Card {index}", "scryfall", card_id(index), "normal"
                )
            )
            await uow.holdings.add(
                Holding(None, CONTEXT.user.key, CONTEXT.address, item.id, 1, created_at=now)
            )

    await in_one_unit_of_work(database, work)


def serve_generated_cards(api: MarketApi, items: int) -> None:
    """The fake Scryfall knows `items` more cards, copies of a fixture card with own prices."""
    rng = random.Random(items)
    template = next(c for c in api.data.scryfall_cards if c["id"] == TEMPLATE_CARD)
    for index in range(items):
        card = copy.deepcopy(template)
        card["id"] = card_id(index)
        card["name"] = f"Bench Card {index}"
        usd = rng.randint(25, 250_000)
        card["prices"] = {
            "usd": f"{usd / 100:.2f}",
            "usd_foil": f"{usd * 3 / 100:.2f}",
            "usd_etched": None,
            "eur": f"{usd * 86 / 10_000:.2f}",
            "eur_foil": None,
            "tix": "0.02",
        }
        api.data.scryfall_cards.append(card)


async def priced_count(database: str) -> int:
    engine = make_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.connect() as connection:
            query = select(func.count()).where(market_items.c.price_amount.is_not(None))
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def price_cold(database: str, items: int, setup: str) -> dict[str, Any]:
    """Prices every held card once, from an empty cache, in one of the set-ups the module
    docstring names; returns requests, wall time and prices written."""
    async with MarketApi() as api:
        serve_generated_cards(api, items)
        engine = make_engine(f"sqlite+aiosqlite:///{database}")
        factory = SqlUnitOfWorkFactory(engine)
        clock = SystemClock()
        if setup == "production":
            settings = settings_for(database, api)
            market = build_market(settings, factory, clock, AlertPolicy())
            refresher, closing = market.refresher, list(market.sources.values())
        else:
            limits = {"cards": RateLimit.per_second(10_000)} if setup.endswith("unpaced") else {}
            source = ScryfallSource(api.url("scryfall"), clock=clock, limits=limits)
            config = RefreshConfig(batch=items)
            refresher = MarketRefresher(
                factory, {"scryfall": source}, clock, HoldingAlerts(), config
            )
            closing = [source]
        try:
            started = time.perf_counter()
            passes, prices = 0, 0
            while True:
                report = await refresher.run_once()
                if not report.items:
                    break
                passes += 1
                prices += report.prices
                if report.failures:
                    raise SystemExit(f"refresh failed: {report.failures}")
            wall = time.perf_counter() - started
        finally:
            for source in closing:
                await source.aclose()
            await factory.aclose()
            await engine.dispose()
        requests = len(api.seen("scryfall.collection"))
    return {
        "setup": setup,
        "run_once_calls": passes,
        "collection_requests": requests,
        "wall_s": round(wall, 2),
        "prices_written": prices,
        "items_priced": await priced_count(database),
    }


def cold_pricing_runs(template: Path, items: int, setup: str, runs: int) -> dict[str, Any]:
    results = []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            database = str(Path(tmp) / "cold.db")
            shutil.copyfile(template, database)  # never priced, every item due
            result = asyncio.run(price_cold(database, items, setup))
        print(f"{setup} run {run}: {json.dumps(result)}", file=sys.stderr)
        results.append(result)
    return {
        "setup": setup,
        "runs": runs,
        "collection_requests": max(r["collection_requests"] for r in results),
        "run_once_calls": results[0]["run_once_calls"],
        "median_wall_s": round(statistics.median(r["wall_s"] for r in results), 2),
        "items_priced": min(r["items_priced"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20, help="timed /holdings runs")
    parser.add_argument("--refresh-runs", type=int, default=3, help="unpaced cold pricings")
    parser.add_argument("--paced-runs", type=int, default=1, help="cold pricings at the pace")
    parser.add_argument("--skip-paced", action="store_true", help="no paced pricing (~70 s)")
    parser.add_argument("--profile", action="store_true", help="cProfile one /holdings run")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: last)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        priced = str(Path(tmp) / "portfolio.db")
        upgrade_to_head(f"sqlite+aiosqlite:///{priced}")
        asyncio.run(seed_priced_portfolio(priced, args.items, now))
        holdings = asyncio.run(time_holdings(priced, args.runs, args.profile))
        print(f"/holdings: {json.dumps(holdings)}", file=sys.stderr)

        unpriced = Path(tmp) / "unpriced.db"
        upgrade_to_head(f"sqlite+aiosqlite:///{unpriced}")
        asyncio.run(seed_unpriced_cards(str(unpriced), args.items, now))
        pricing = [cold_pricing_runs(unpriced, args.items, "one_pass_unpaced", args.refresh_runs)]
        if not args.skip_paced:
            for setup in ("one_pass_paced", "production"):
                pricing.append(cold_pricing_runs(unpriced, args.items, setup, args.paced_runs))
    print(
        json.dumps(
            {"items": args.items, "holdings_command": holdings, "cold_pricing": pricing},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
