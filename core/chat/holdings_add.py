"""/holdings add: a card by name (the holder picks the printing) or a product page by link."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal

from core.chat import params
from core.chat.call import Call, Market
from core.chat.common import describe_product, page_observation
from core.chat.holdings import market_of
from core.chat.registry import CommandFamily, Param
from core.errors import LimitReached, UsageError
from core.market import CardPrinting, SourceError
from core.model import Product, RuleKind
from core.money import Money
from core.portfolio import Holding, ItemKind, MarketItem
from core.ports import UnitOfWork
from core.recording import record_observation
from core.reply import Button, Reply
from core.urls import looks_like_url

commands = CommandFamily("holdings-add")

CHOICES_LIFETIME = timedelta(days=2)
MAX_CHOICES = 8
PER_SOURCE = 4
# Words at the end of /holdings add that say the finish or the condition, not the name.
FINISHES = frozenset(
    "foil nonfoil non-foil normal etched holo holofoil reverse reverse-holofoil 1st-edition "
    "unlimited".split()
)
CONDITIONS = frozenset("nm lp mp hp dmg mint near-mint used new ds vnds".split())


@dataclass(frozen=True, slots=True)
class Wanted:
    """What /holdings add asked for, before the item is known."""

    what: str
    quantity: int = 1
    cost: params.TargetSpec | None = None
    finish: str | None = None
    condition: str | None = None


def wanted(text: str) -> Wanted:
    """'black lotus 2 @150 foil' -> name, quantity, unit cost, finish or condition: the
    optional parts are read from the end, the rest is the name or the link."""
    words = text.split()
    finish = condition = None
    cost = None
    quantity = 1
    if words and words[-1].lower() in FINISHES | CONDITIONS:
        last = words.pop().lower()
        finish, condition = (last, None) if last in FINISHES else (None, last.upper())
    if words and words[-1].startswith("@"):
        spec = params.price_target(words.pop()[1:])
        cost = spec
    if len(words) > 1 and re.fullmatch(r"x?\d{1,7}x?", words[-1].lower()):
        quantity = params.quantity(words.pop())
    if not words:
        raise UsageError("Say what you hold: a card's name or a product link.")
    return Wanted(" ".join(words), quantity, cost, finish, condition)


@commands.command(
    "holdings add",
    params=(
        Param(
            "item", "A card name or a product link, then [qty] [@cost] [finish]", wanted, rest=True
        ),
    ),
    reads_page=True,
)
async def holdings_add(call: Call, item: Wanted) -> Reply:
    """Add to your portfolio: a card by name, or a product by its link.

    /holdings add <card name | link> [quantity] [@unit cost] [finish or condition], e.g.
    /holdings add Black Lotus 2 @150 foil, or /holdings add https://shop.example/item @80.
    A name that matches several printings gets a button for each; pick yours.
    """
    market = market_of(call)
    async with call.uow() as uow:
        await _within_limit(call, uow)
    if looks_like_url(item.what):
        return await _add_page(call, item)
    printings = await _search(market, item.what)
    if not printings:
        names = ", ".join(sorted(market.sources)) or "no card source"
        raise UsageError(
            f"I found no card named '{item.what}' ({names}). Check the spelling, or add a "
            "product page by its link."
        )
    if len(printings) == 1:
        return await _add_card(call, item, printings[0])
    return await _offer_choices(call, item, printings[:MAX_CHOICES])


@commands.command(
    "holdings pick",
    params=(
        Param("token", "The choice's code"),
        Param("choice", "Which one", params.page_number, kind="integer"),
    ),
    hidden=True,
)
async def holdings_pick(call: Call, token: str, choice: int) -> Reply:
    """Pick one of the printings a card name matched."""
    since = call.services.clock.now() - CHOICES_LIFETIME
    async with call.uow() as uow:
        payload = await uow.offers.take(token, call.owner, call.ctx.address, since)
        await uow.commit()
    if payload is None:
        raise UsageError("That choice has expired. Send /holdings add again.")
    stored = json.loads(payload)
    printings = [
        CardPrinting(**{**p, "finishes": tuple(p["finishes"])}) for p in stored["printings"]
    ]
    if not 0 < choice <= len(printings):
        raise UsageError("That choice has expired. Send /holdings add again.")
    cost = stored["cost"]
    spec = None
    if cost is not None:
        spec = params.TargetSpec(
            RuleKind.TARGET, Decimal(cost["amount"]), tuple(cost["currencies"])
        )
    item = Wanted(stored["what"], stored["quantity"], spec, stored["finish"], stored["condition"])
    return await _add_card(call, item, printings[choice - 1])


async def _within_limit(call: Call, uow: UnitOfWork) -> None:
    """Checked before a search and again when saving: a choice offered before the chat
    reached its limit is refused after."""
    limit = market_of(call).max_holdings_per_chat
    if await uow.holdings.count_in_chat(call.ctx.address) >= limit:
        raise LimitReached(
            f"This chat already holds {limit} items, the most allowed. Remove one with "
            "/holdings remove <holding> first."
        )


async def _search(market: Market, name: str) -> list[CardPrinting]:
    """Printings from every card source, each source's best first; a failing source is
    skipped (the others still answer)."""
    names = list(market.sources)
    answers = await asyncio.gather(
        *(market.sources[n].search(name, PER_SOURCE) for n in names), return_exceptions=True
    )
    found: list[CardPrinting] = []
    for answer in answers:
        if isinstance(answer, SourceError):
            continue
        if isinstance(answer, BaseException):
            raise answer
        found.extend(answer)
    return found


async def _offer_choices(call: Call, item: Wanted, printings: list[CardPrinting]) -> Reply:
    token = secrets.token_urlsafe(9)
    cost = None
    if item.cost is not None:
        cost = {"amount": str(item.cost.amount), "currencies": list(item.cost.currencies)}
    payload = {
        "what": item.what,
        "quantity": item.quantity,
        "cost": cost,
        "finish": item.finish,
        "condition": item.condition,
        "printings": [asdict(p) for p in printings],
    }
    async with call.uow() as uow:
        await uow.offers.put(
            token, call.owner, call.ctx.address, json.dumps(payload), call.services.clock.now()
        )
        await uow.commit()
    lines = [f"{n}. {p.label} ({p.source})" for n, p in enumerate(printings, start=1)]
    buttons = tuple(
        Button(
            f"{n}. {p.set_code or p.set_name or p.source}"[:40], action=f"holdings pick {token} {n}"
        )
        for n, p in enumerate(printings, start=1)
    )
    return Reply.say(f"Which '{item.what}' do you hold?", "\n".join(lines), buttons=buttons)


async def _add_card(call: Call, item: Wanted, printing: CardPrinting) -> Reply:
    market = market_of(call)
    finish = _finish(item.finish, printing.finishes)
    async with call.uow() as uow:
        stored = await uow.items.get_or_add(
            MarketItem(
                None,
                ItemKind.CARD,
                printing.name,
                printing.source,
                printing.source_id,
                finish,
                game=printing.game,
                set_name=printing.set_name,
                number=printing.number,
                image=printing.image,
                url=printing.url,
            )
        )
        await uow.commit()
    if stored.refreshed_at is None:
        await market.refresher.refresh([stored])  # priced now, not at the next refresh
    return await _save(call, item, stored)


async def _add_page(call: Call, item: Wanted) -> Reply:
    url = params.link(item.what)
    async with call.uow() as uow:
        known = await uow.products.get_by_url(url)
    observation = await page_observation(call, url, None, known, restock_ok=False)
    now = call.services.clock.now()
    async with call.uow() as uow:
        product = await uow.products.get_or_add(
            Product(None, url, next_check_at=now + call.config.check_interval)
        )
        if observation is not None:
            await record_observation(uow, product, observation, now, call.config.alert_policy)
        stored = await uow.items.get_or_add(
            MarketItem(
                None,
                ItemKind.PAGE,
                product.title or url,
                product_id=product.id,
                image=product.image,
                url=url,
            )
        )
        await uow.commit()
    await market_of(call).refresher.refresh([stored])
    reply = await _save(call, item, stored)
    return Reply((*reply.blocks, describe_product(product)), reply.buttons, link=url)


async def _save(call: Call, item: Wanted, stored: MarketItem) -> Reply:
    now = call.services.clock.now()
    async with call.uow() as uow:
        await _within_limit(call, uow)
        current = (await uow.items.get_many([stored.id or 0]))[stored.id or 0]
        latest = current.price
        cost = _cost(item, latest.price.currency if latest else market_of(call).currency)
        holding = await uow.holdings.add(
            Holding(
                None,
                call.owner,
                call.ctx.address,
                stored.id or 0,
                item.quantity,
                now,
                unit_cost=cost,
                condition=item.condition,
            )
        )
        await uow.commit()
    price = f"market {latest.price.format()} ({latest.market})" if latest else "no market price yet"
    cost_text = f", cost {cost.format()} each" if cost else ""
    return Reply.say(
        f"Added #{holding.id}: {item.quantity} × {stored.label}",
        f"{price}{cost_text}. Send /holdings to see your portfolio.",
    )


def _cost(item: Wanted, currency: str) -> Money | None:
    if item.cost is None or item.cost.amount is None:
        return None
    code = item.cost.currencies[0] if item.cost.currencies else currency
    return Money(item.cost.amount, code)


# Finish names as holders and sources write them -> as quotes name them.
_SAME_FINISH = {
    "nonfoil": "normal",
    "non-foil": "normal",
    "holo": "holofoil",
    "reverse": "reverse-holofoil",
}


def _finish(asked: str | None, offered: tuple[str, ...]) -> str:
    """The finish the holder named when the printing has it, else its first (plain) one,
    named as the sources' quotes name it."""
    finishes = [_SAME_FINISH.get(finish, finish) for finish in offered]
    if asked:
        wanted = _SAME_FINISH.get(asked, asked)
        for finish in finishes:
            if finish == wanted or finish.startswith(wanted):
                return finish
    return finishes[0] if finishes else "normal"
