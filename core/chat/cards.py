"""/card: a card's price from every source that knows it; /sell: where a holding nets most."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

from core.chat import params
from core.chat.call import Call
from core.chat.common import ensure_owner_or_admin
from core.chat.holdings import holding_in_chat, holding_param, market_of
from core.chat.holdings_add import PER_SOURCE
from core.chat.registry import CommandFamily, Param
from core.errors import PermissionDenied, UsageError
from core.market import CardPrinting, MarketplaceData, MarketQuote, MarketSource, SourceError
from core.money import Money
from core.portfolio import Holding
from core.ports import UnitOfWork
from core.reply import Button, Reply

commands = CommandFamily("cards")

PRINTINGS_SHOWN = 2


@commands.command(params=(Param("name", "The card's name", rest=True),))
async def card(call: Call, name: str) -> Reply:
    """A trading card's price from every market source that knows it, side by side.

    /card <name>, e.g. /card Black Lotus. Shows the best-matching printings at each source
    (Scryfall for Magic, TCGdex for Pokémon, YGOPRODeck for Yu-Gi-Oh!) with each market's
    price: TCGplayer, Cardmarket and others.
    """
    market = market_of(call)
    names = list(market.sources)
    answers = await asyncio.gather(
        *(_priced(market.sources[n], name) for n in names), return_exceptions=True
    )
    blocks: list[str] = []
    failed: list[SourceError] = []
    for source, answer in zip(names, answers, strict=True):
        if isinstance(answer, SourceError):
            failed.append(answer)
            continue
        if isinstance(answer, BaseException):
            raise answer
        printings, quotes = answer
        if printings:
            blocks.append(_source_block(source, printings, quotes))
    silent = "; ".join(error.user_message for error in failed)
    if not blocks and len(failed) == len(names):
        raise UsageError(f"No card source answered just now: {silent}")
    if not blocks:
        answered = ", ".join(sorted(set(names) - {error.source for error in failed}))
        raise UsageError(
            f"{answered} know no card named '{name}'; check the spelling. Not answering just "
            f"now: {silent}"
            if failed
            else f"No source knows a card named '{name}'. Check the spelling."
        )
    if failed:
        blocks.append(f"Not answering just now: {silent}")
    return Reply.say(f"Prices for '{name}':", *blocks)


@commands.command(params=(holding_param(),))
async def sell(call: Call, holding: int) -> Reply:
    """Where selling a holding nets the most: marketplaces ranked by proceeds after fees.

    /sell <holding>. For each marketplace that lists the item: the lowest ask, what selling
    at it brings after the platform's fee, sales in 30 days and volatility where known.
    """
    fees = market_of(call).fees  # the operator's setting now, whenever the ask was read
    async with call.uow() as uow:
        found = await holding_in_chat(uow, call, holding)
        markets = await uow.marketplaces.for_item(found.item_id)
        item = (await uow.items.get_many([found.item_id]))[found.item_id]
    ranked: list[tuple[MarketplaceData, Decimal, Money]] = []
    for data in markets:
        fee = fees.get(data.platform, Decimal(0))
        net = data.net_proceeds(fee)
        if net is not None:
            ranked.append((data, fee, net))
    ranked.sort(key=lambda found: found[2].amount, reverse=True)
    if not ranked:
        return Reply.say(
            f"No marketplace lists {item.label} yet.",
            "Add its StockX, GOAT or eBay page with /holdings add <link> to compare them, "
            "and record your own listing with /holdings ask.",
        )
    lines = []
    for rank, (data, fee, net) in enumerate(ranked, start=1):
        assert data.lowest_ask is not None
        extra = []
        if data.sales_30d is not None:
            extra.append(f"{data.sales_30d} sales in 30 days")
        if data.volatility is not None:
            extra.append(f"volatility {data.volatility * 100:.0f}%")
        detail = f" ({', '.join(extra)})" if extra else ""
        lines.append(
            f"{rank}. {data.platform}: lowest ask {data.lowest_ask.format()}, fee "
            f"{fee * 100:.1f}% -> you net {net.format()} each{detail}"
        )
    buttons = tuple(
        Button(d.platform, url=d.item_ref) for d, *_ in ranked if d.item_ref.startswith("http")
    )
    return Reply.say(f"Selling #{holding} {item.label}:", "\n".join(lines), buttons=buttons[:5])


@commands.command(
    "holdings market",
    params=(
        holding_param(),
        Param("platform", "A marketplace with an API, e.g. stockx", params.platform_name),
        Param("reference", "The marketplace's id of the item, e.g. productId:variantId"),
    ),
)
async def holdings_market(call: Call, holding: int, platform: str, reference: str) -> Reply:
    """Follow a holding's market on a marketplace's API: lowest ask and highest bid.

    /holdings market <holding> stockx <productId:variantId> (the ids of the product and the
    size in StockX's catalogue). /sell then ranks it, and /holdings ask compares your own ask
    with its lowest ask. A marketplace without an API is followed by adding its page with
    /holdings add <link>. Everyone who holds the same item shares its market there, so an
    item already followed for others keeps its reference.
    """
    market = market_of(call)
    api = market.marketplaces.get(platform)
    if api is None:
        configured = ", ".join(sorted(market.marketplaces)) or "none is configured"
        raise UsageError(
            f"I have no {platform} API to ask ({configured}). Add the item's {platform} page "
            "with /holdings add <link> instead."
        )
    async with call.uow() as uow:
        found = await holding_in_chat(uow, call, holding)
        await ensure_owner_or_admin(call, found.owner, f"#{holding}")
        item = (await uow.items.get_many([found.item_id]))[found.item_id]
        await _may_follow(call, uow, found, platform, reference)
    currency = item.price.price.currency if item.price else market.currency
    try:
        data = await api.market(reference, currency)
    except ValueError:
        raise UsageError(
            f"{platform} gives no market data in {currency}, the currency #{holding} is priced "
            f"in. Add its {platform} page with /holdings add <link> instead."
        ) from None
    if data is None:
        raise UsageError(
            f"{platform} knows no item '{reference}'. Check the ids (productId:variantId, the "
            f"product and its size in {platform}'s catalogue) and send the command again."
        )
    async with call.uow() as uow:
        await _may_follow(call, uow, found, platform, reference)  # nobody took it meanwhile
        await uow.marketplaces.put(item.id or 0, replace(data, currency=data.currency or currency))
        await uow.commit()
    return await sell(call, holding)


async def _may_follow(
    call: Call, uow: UnitOfWork, held: Holding, platform: str, reference: str
) -> None:
    """An item's market on a platform is one row shared by everyone who holds the item: it
    is pointed elsewhere only when no one else holds the item (or by a bot operator)."""
    known = [m for m in await uow.marketplaces.for_item(held.item_id) if m.platform == platform]
    if not known or known[0].item_ref == reference or call.owner in call.config.bot_admins:
        return
    holders = (await uow.holdings.for_items([held.item_id]))[held.item_id]
    if all(h.owner == held.owner for h in holders):
        return
    raise PermissionDenied(
        f"Others hold this item too, and it is followed on {platform} as '{known[0].item_ref}' "
        f"for all of them, so I kept that. /sell {held.id} shows its market there; if it is the "
        "wrong item, ask this bot's operator to change it."
    )


async def _priced(
    source: MarketSource, name: str
) -> tuple[list[CardPrinting], dict[str, list[MarketQuote]]]:
    printings = (await source.search(name, PER_SOURCE))[:PRINTINGS_SHOWN]
    quotes = await source.quotes([p.source_id for p in printings]) if printings else {}
    return printings, quotes


def _source_block(
    source: str, printings: list[CardPrinting], quotes: dict[str, list[MarketQuote]]
) -> str:
    lines = [f"{source}:"]
    for printing in printings:
        prices = [
            f"{q.market} {q.finish} {q.price.format()}"
            for q in quotes.get(printing.source_id, [])
            if q.kind in ("market", "trend", "average")
        ]
        lines.append(f"{printing.label}: " + ("; ".join(prices[:6]) or "no price"))
    return "\n".join(lines)
