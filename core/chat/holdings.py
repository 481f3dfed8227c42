"""/holdings: the portfolio at market price, and removing, alerting and asking on holdings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.chat import params
from core.chat.call import Call, Market
from core.chat.common import ensure_owner_or_admin
from core.chat.portfolio_view import portfolio_blocks
from core.chat.registry import CommandFamily, Param
from core.errors import NotFoundForUser, UsageError
from core.market import RateTable, SourceError
from core.model import Availability, PricePoint
from core.money import Money
from core.portfolio import Holding, MarketItem, Valued, totals, value_holding
from core.ports import UnitOfWork
from core.reply import Button, Reply
from core.text import clean_text

commands = CommandFamily("holdings")

PAGE_SIZE = 15
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def holding_param(description: str = "The holding's id, as /holdings shows it") -> Param:
    return Param("holding", description, params.watch_id, kind="integer", autocomplete="holding_id")


def market_of(call: Call) -> Market:
    market = call.services.market
    if market is None:
        raise UsageError("Holdings are not available on this bot.")
    return market


async def holding_in_chat(uow: UnitOfWork, call: Call, holding_id: int) -> Holding:
    holding = await uow.holdings.get_in_chat(call.ctx.address, holding_id)
    if holding is None:
        raise NotFoundForUser(
            f"There is no holding #{holding_id} in this chat. Send /holdings to see its ids."
        )
    return holding


@commands.command(
    "holdings list",
    params=(
        Param("currency", "Currency of the grand total, e.g. EUR", params.currency, False, None),
        Param("page", "Page of the list", params.page_number, False, 1, kind="integer"),
    ),
    aliases=("holdings",),
)
async def holdings_list(call: Call, currency: str | None, page: int) -> Reply:
    """Your portfolio at market price: value, cost and profit or loss, with totals.

    /holdings [currency] [page]. Each line: the item, its quantity, the market price with
    its source and age (marked stale when the source has not answered for a while), the
    value, what it cost you and the profit or loss. Totals per currency, then a grand total
    in one currency at the day's reference exchange rates.
    """
    market = market_of(call)
    shown_in = currency or market.currency
    now = call.services.clock.now()
    async with call.uow() as uow:
        held = await uow.holdings.list_in_chat(call.ctx.address)
        if not held:
            return Reply.say(
                "No holdings in this chat yet. Add one with /holdings add <card name | link> "
                "[quantity] [@cost]."
            )
        items = await uow.items.get_many(list({h.item_id for h in held}))
    rates = await _rates(market)
    valued = [_valued(h, items[h.item_id], market, rates, now) for h in held]
    pages = (len(valued) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 1), pages)
    shown = valued[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    summed = totals(valued, shown_in, rates)
    buttons: list[Button] = []
    if page > 1:
        buttons.append(Button("‹ Previous", action=f"holdings list {shown_in} {page - 1}"))
    if page < pages:
        buttons.append(Button("Next ›", action=f"holdings list {shown_in} {page + 1}"))
    blocks = portfolio_blocks(shown, len(valued), summed, shown_in, now, page, pages)
    return Reply.say(*blocks, buttons=tuple(buttons))


@commands.command(
    "holdings chart",
    params=(
        Param(
            "period",
            "How far back: 7d, 30d, 90d, 1y or all",
            params.period,
            required=False,
            default=30,
            choices=params.PERIOD_CHOICES,
        ),
    ),
)
async def holdings_chart(call: Call, period: int | None) -> Reply:
    """Your portfolio's value over time, a day at a time: /holdings chart [30d|90d|1y|all].

    Each day's value uses the market prices known that day; when a source does not answer,
    its last price is carried, so the line does not dip for it.
    """
    now = call.services.clock.now()
    since = now - timedelta(days=period) if period else EPOCH
    async with call.uow() as uow:
        days = await uow.holdings.snapshots(call.ctx.address, since)
    by_currency: dict[str, list[PricePoint]] = {}
    for day, code, value in days:
        point = PricePoint(None, 0, day, value, code, Availability.IN_STOCK)
        by_currency.setdefault(code, []).append(point)
    if not by_currency:
        return Reply.say("No portfolio history yet: it is recorded once a day from now on.")
    # The currency most of the portfolio is in (by its latest day's value).
    main = max(by_currency, key=lambda code: by_currency[code][-1].price or 0)
    points = by_currency[main]
    charts = call.services.charts
    chart = (
        charts.render(points, title="Portfolio value", currency=main, until=now) if charts else None
    )
    lows = min(p.price or Decimal(0) for p in points)
    highs = max(p.price or Decimal(0) for p in points)
    others = sorted(set(by_currency) - {main})
    note = f"\nAlso held in {', '.join(others)} (not on this chart)." if others else ""
    return Reply(
        (
            f"Portfolio value in {main} ({len(points)} days):",
            f"now {Money(points[-1].price or Decimal(0), main).format()}, lowest "
            f"{Money(lows, main).format()}, highest {Money(highs, main).format()}{note}",
        ),
        image_png=chart,
    )


@commands.command("holdings remove", params=(holding_param(),))
async def holdings_remove(call: Call, holding: int) -> Reply:
    """Remove a holding: /holdings remove <holding>."""
    async with call.uow() as uow:
        found = await holding_in_chat(uow, call, holding)
        await ensure_owner_or_admin(call, found.owner, f"#{holding}")
        await uow.holdings.update(replace(found, active=False))
        await uow.commit()
    return Reply.say(f"Removed holding #{holding}.")


@commands.command(
    "holdings alert",
    params=(Param("percent", "A move like 15% (either way), or off", params.percent_or_off),),
)
async def holdings_alert(call: Call, percent: Decimal | None) -> Reply:
    """Alert me when an item I hold moves N% or more from its 30-day average, either way.

    /holdings alert 15% (applies to every holding you have in this chat), /holdings alert off.
    """
    async with call.uow() as uow:
        mine = [
            h for h in await uow.holdings.list_in_chat(call.ctx.address) if h.owner == call.owner
        ]
        for holding in mine:
            await uow.holdings.update(replace(holding, alert_percent=percent, alert_armed=True))
        await uow.commit()
    if percent is None:
        return Reply.say(f"Market move alerts are off for your {len(mine)} holdings here.")
    return Reply.say(
        f"I will tell you when any of your {len(mine)} holdings here moves {percent}% or more "
        "from its 30-day average market price, either way."
    )


@commands.command(
    "holdings ask",
    params=(
        holding_param(),
        Param("platform", "Where you listed it, e.g. stockx", params.platform_name),
        Param("price", "Your asking price, or off", params.price_or_off, rest=True),
    ),
)
async def holdings_ask(
    call: Call, holding: int, platform: str, price: params.TargetSpec | None
) -> Reply:
    """Record your own listing: I tell you when your ask sits above the market's lowest ask.

    /holdings ask <holding> <platform> <price>, e.g. /holdings ask 3 stockx 250;
    /holdings ask <holding> <platform> off forgets it. The alert fires when your ask is
    your /holdings alert percentage (5% by default) above the lowest ask on that platform.
    """
    async with call.uow() as uow:
        found = await holding_in_chat(uow, call, holding)
        await ensure_owner_or_admin(call, found.owner, f"#{holding}")
        if price is None:
            await uow.holdings.update(replace(found, ask=None, ask_platform=None))
            await uow.commit()
            return Reply.say(f"Forgot your ask for #{holding}.")
        currency = price.currencies[0] if price.currencies else await _item_currency(uow, found)
        if currency is None:
            raise UsageError("Give the currency with the price, like $250 or 250 EUR.")
        assert price.amount is not None
        ask = Money(price.amount, currency)
        await uow.holdings.update(replace(found, ask=ask, ask_platform=platform, ask_armed=True))
        await uow.commit()
    return Reply.say(f"Noted: #{holding} is listed on {platform} at {ask.format()}.")


@commands.completer("holding_id")
async def complete_holding_ids(call: Call, typed: str) -> list[tuple[str, str]]:
    """This chat's holding ids whose id or name contains what was typed."""
    async with call.uow() as uow:
        held = await uow.holdings.list_in_chat(call.ctx.address)
        items = await uow.items.get_many(list({h.item_id for h in held}))
    wanted = typed.strip().lstrip("#").lower()
    choices = []
    for holding in held:
        item = items.get(holding.item_id)
        label = f"#{holding.id} {clean_text(item.label if item else '', 80) or 'holding'}"
        if not wanted or wanted in label.lower():
            choices.append((label[:100], str(holding.id)))
    return choices


async def _rates(market: Market) -> RateTable | None:
    if market.rates is None:
        return None
    try:
        return await market.rates.latest()
    except SourceError:
        return None  # totals per currency still show; the grand total says why it is missing


def _valued(
    holding: Holding, item: MarketItem, market: Market, rates: RateTable | None, now: datetime
) -> Valued:
    """The holding at its item's market price, in the price's currency, or in its cost's
    when the day's rates can convert (so profit or loss compares like with like)."""
    price = item.price
    cost = holding.unit_cost
    if price is not None and cost is not None and cost.currency != price.price.currency and rates:
        converted = rates.convert(price.price, cost.currency)
        if converted is not None:
            price = replace(price, price=converted)
    return value_holding(holding, item, price, now=now, stale_after=market.stale_after)


async def _item_currency(uow: UnitOfWork, holding: Holding) -> str | None:
    item = (await uow.items.get_many([holding.item_id])).get(holding.item_id)
    if item is not None and item.price is not None:
        return item.price.price.currency
    return holding.unit_cost.currency if holding.unit_cost else None
