"""/track, the "Track it" offer for a bare link, and /selector: commands that read a page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from core.chat import params
from core.chat.call import Call
from core.chat.common import (
    describe_product,
    ensure_may_change,
    page_observation,
    resolve_rule,
    watch_in_chat,
    watch_param,
)
from core.chat.registry import CommandFamily, Param
from core.errors import LimitReached, UsageError
from core.model import ChatKind, Observation, Product, Rule, RuleKind, Watch
from core.ports import UnitOfWork
from core.recording import baseline_watch, record_observation
from core.reply import Button, Reply
from core.urls import looks_like_url

commands = CommandFamily("track")

OFFER_LIFETIME = timedelta(days=2)
_LINK = Param("link", "The product page's link", convert=params.link)
_TARGET = Param(
    "target",
    "A price (25, €19.99), a drop (-10%), stock, or avg -15%; empty for any drop",
    convert=params.target,
    required=False,
    default=params.NO_TARGET,
    rest=True,
)


@commands.command(params=(_LINK, _TARGET), reads_page=True)
async def track(call: Call, link: str, target: params.TargetSpec) -> Reply:
    """Track a product page; I tell you here when its price drops.

    /track <link> [target]. The target is a price (25, 25.99, €25, 25,99 €), a drop like
    -10%, 'stock' to hear when a sold-out product is back, or a deviation from the 30-day
    average price: avg -15% (15 % or more below it), avg +15% (above), avg ±15% (either
    way). Without one you hear about any drop. I read the page at once and say what I found.
    Tracking a link this chat already tracks shows that watch, and changes its rule only
    when you give a new one.
    """
    existing, product = await _existing(call, link)
    if existing is not None and target.given:
        await ensure_may_change(call, existing)
    restock = (target.kind if target.given or existing is None else existing.rule.kind) is (
        RuleKind.RESTOCK
    )
    selector = product.css_selector if product is not None else None
    observation = await page_observation(call, link, selector, product, restock_ok=restock)
    currency = observation.currency if observation is not None else product and product.currency
    rule = resolve_rule(target, currency) if target.given or existing is None else None
    saved = await _save(call, link, selector, observation, existing, rule)
    return _confirmation(saved, existing, rule)


@commands.command(
    "link",
    params=(Param("text", "A product link", rest=True),),
    chats=frozenset({ChatKind.PRIVATE}),
    hidden=True,
)
async def link_offer(call: Call, text: str) -> Reply:
    """A message that is only a product link: offer to track it with one tap."""
    if not looks_like_url(text):
        return Reply.say("Send me a product link, or /help to see what I can do.")
    url = params.link(text)
    token = secrets.token_urlsafe(9)
    now = call.services.clock.now()
    async with call.uow() as uow:
        await uow.offers.put(token, call.owner, call.ctx.address, url, now)
        await uow.commit()
    return Reply.say(
        "Do you want me to track this product?",
        url,
        buttons=(Button("Track it", action=f"offer {token}"),),
    )


@commands.command(
    params=(Param("token", "The offer's code"),), reads_page=True, hidden=True, actions=("track",)
)
async def offer(call: Call, token: str) -> Reply:
    """Accept a "Track it" offer: track its link for any price drop."""
    since = call.services.clock.now() - OFFER_LIFETIME
    async with call.uow() as uow:
        url = await uow.offers.take(token, call.owner, call.ctx.address, since)
        await uow.commit()
    if url is None:
        raise UsageError("That offer has expired. Send /track <link> instead.")
    return await track(call, url, params.NO_TARGET)


@commands.command(
    params=(
        watch_param(),
        Param("selector", "A CSS selector for the price, or off", params.css_selector, rest=True),
    ),
    reads_page=True,
)
async def selector(call: Call, watch: int, selector: str | None) -> Reply:
    """Read a watch's price at a CSS selector you choose, when I pick the wrong price.

    /selector <watch> <css>, for example /selector 3 .price-now; /selector <watch> off reads
    the page by itself again. I try the selector on the live page at once. It changes how
    this watch reads the page, never what other people tracking the same page see.
    """
    async with call.uow() as uow:
        found = await watch_in_chat(uow, call, watch)
        product = await uow.products.get(found.product_id)
        await uow.commit()
    await ensure_may_change(call, found)
    assert product is not None
    if selector == product.css_selector:
        shown = f"at {selector}" if selector else "by itself"
        return Reply.say(f"#{watch} already reads its price {shown}.")
    observation = None
    if selector is not None:
        observation = await _selector_reading(call, product.url, selector)
    moved = await _move(call, found, product.url, selector, observation)
    how = f"at {selector}" if selector else "from the page by itself"
    return Reply.say(f"#{watch} now reads its price {how}:", describe_product(moved))


@dataclass(frozen=True, slots=True)
class _Saved:
    watch: Watch
    product: Product


async def _existing(call: Call, url: str) -> tuple[Watch | None, Product | None]:
    """This chat's watch of the page, and the product it (or a new watch) reads."""
    async with call.uow() as uow:
        await uow.users.ensure(call.owner, call.ctx.user.display_name)
        await uow.chats.touch(call.ctx.address, str(call.ctx.chat_kind))
        existing = await uow.watches.find_in_chat(call.ctx.address, url)
        if existing is None:
            await _within_limits(call, uow)
            product = await uow.products.get_by_url(url)
        else:
            product = await uow.products.get(existing.product_id)
        await uow.commit()
    return existing, product


async def _within_limits(call: Call, uow: UnitOfWork) -> None:
    """A new watch fits the caller's limit and, on a server, the server's."""
    limit = call.config.max_watches_per_user
    if await uow.watches.count_owned(call.owner) >= limit:
        raise LimitReached(
            f"You already track {limit} products, the most allowed. Remove one with "
            "/untrack <watch> first."
        )
    community = call.ctx.community
    if community is None:
        return
    server_limit = call.config.max_watches_per_community
    if await uow.watches.count_in_community(call.ctx.address.platform, community) >= server_limit:
        raise LimitReached(
            f"This server already tracks {server_limit} products, the most allowed. Ask its "
            "members to /untrack some first."
        )


async def _save(
    call: Call,
    url: str,
    selector: str | None,
    observation: Observation | None,
    existing: Watch | None,
    rule: Rule | None,
) -> _Saved:
    now = call.services.clock.now()
    interval = call.config.check_interval
    async with call.uow() as uow:
        product = await uow.products.get_or_add(
            Product(id=None, url=url, css_selector=selector, next_check_at=now + interval)
        )
        if observation is not None:
            skip = frozenset({existing.id}) if existing and existing.id else frozenset()
            await record_observation(
                uow, product, observation, now, call.config.alert_policy, skip_watch_ids=skip
            )
        if existing is None:
            assert rule is not None
            new = Watch(
                None,
                call.owner,
                product.id or 0,
                call.ctx.address,
                rule,
                created_at=now,
                community=call.ctx.community,
            )
            watch = await uow.watches.add(baseline_watch(new, product))
        elif rule is not None and rule != existing.rule:
            watch = baseline_watch(replace(existing, rule=rule), product)
            await uow.watches.update(watch)
        else:
            watch = existing
        await uow.commit()
    return _Saved(watch, product)


def _confirmation(saved: _Saved, existing: Watch | None, rule: Rule | None) -> Reply:
    watch, product = saved.watch, saved.product
    if existing is None:
        blocks = [f"Now tracking #{watch.id}:", describe_product(product)]
        blocks.append(watch.rule.describe().capitalize())
    elif rule is None or rule == existing.rule:
        blocks = [f"This chat already tracks it as #{watch.id}:", describe_product(product)]
        blocks.append(f"Its rule stays: {watch.rule.describe()}.")
    else:
        blocks = [f"Changed the rule of #{watch.id}:", describe_product(product)]
        blocks.append(f"Was: {existing.rule.describe()}.\nNow: {watch.rule.describe()}.")
    if watch.rule.kind is RuleKind.TARGET and not watch.target_armed and watch != existing:
        blocks.append("It is already at or below your target; I will tell you if it drops further.")
    buttons = (Button("Open", url=product.url),)
    return Reply(tuple(blocks), buttons, link=product.url, thumbnail=product.image)


async def _selector_reading(call: Call, url: str, selector: str) -> Observation:
    if not call.services.reader.selector_is_valid(selector):
        raise UsageError(
            f"'{selector}' is not a CSS selector I can use. Try something like .price or "
            "#price span (your browser's inspector shows the price element's class or id)."
        )
    timeout = call.config.read_timeout.total_seconds()
    read = await call.services.reader.read(url, selector=selector, within=timeout)
    observation = read.observation
    if observation is None or observation.method != "selector" or observation.price is None:
        raise UsageError(
            f"'{selector}' matches no price on the page right now, so I kept the watch as it "
            "was. Check the selector in your browser's inspector and try again."
        )
    return observation


async def _move(
    call: Call, watch: Watch, url: str, selector: str | None, observation: Observation | None
) -> Product:
    """Moves the watch to the product that reads `url` with `selector`, re-baselined."""
    now = call.services.clock.now()
    async with call.uow() as uow:
        # Due at once when new and unread (back to the plain page): the next check reads it.
        due = now + call.config.check_interval if observation is not None else now
        product = await uow.products.get_or_add(
            Product(id=None, url=url, css_selector=selector, next_check_at=due)
        )
        if observation is not None:
            await record_observation(
                uow,
                product,
                observation,
                now,
                call.config.alert_policy,
                skip_watch_ids=frozenset({watch.id or 0}),
            )
        await uow.watches.update(
            baseline_watch(replace(watch, product_id=product.id or 0), product)
        )
        await uow.commit()
    return product
