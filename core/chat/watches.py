"""/watches, /untrack, /target and /snooze: a chat's list of watches and changes to them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from core.alert_text import reason_text
from core.chat import params
from core.chat.call import Call
from core.chat.common import (
    describe_product,
    ensure_may_change,
    resolve_rule,
    watch_in_chat,
    watch_param,
)
from core.chat.registry import CommandFamily, Param
from core.errors import NotFoundForUser
from core.model import Product, ProductStatus, Watch
from core.money import Money
from core.recording import baseline_watch
from core.reply import Button, Reply
from core.text import clean_text

commands = CommandFamily("watches")

DEFAULT_SNOOZE_HOURS = 24


@commands.command(
    params=(Param("page", "Page of the list", params.page_number, False, 1, kind="integer"),),
    actions=("page",),
    aliases=("list",),
)
async def watches(call: Call, page: int) -> Reply:
    """List what this chat tracks, with prices, rules and problems.

    /watches [page]. In a private chat these are your watches; in a group, the group's.
    """
    size = call.config.page_size
    async with call.uow() as uow:
        found = await uow.watches.list_in_chat(call.ctx.address)
        if not found:
            return Reply.say("Nothing is tracked in this chat yet. Send /track <link> to start.")
        pages = (len(found) + size - 1) // size
        page = min(max(page, 1), pages)
        shown = found[(page - 1) * size : page * size]
        products = await uow.products.get_many([watch.product_id for watch in shown])
    lines = [_watch_line(call, watch, products.get(watch.product_id)) for watch in shown]
    buttons: list[Button] = []
    if page > 1:
        buttons.append(Button("‹ Previous", action=f"watches {page - 1}"))
    if page < pages:
        buttons.append(Button("Next ›", action=f"watches {page + 1}"))
    header = f"Tracked in this chat ({len(found)})" + (
        f", page {page} of {pages}" if pages > 1 else ""
    )
    return Reply.say(header + ":", *lines, buttons=tuple(buttons))


@commands.command(
    params=(Param("watch", "A watch id, or all", params.watch_id_or_all, autocomplete="watch_id"),),
    actions=("stop",),
)
async def untrack(call: Call, watch: int | None) -> Reply:
    """Stop tracking: /untrack <watch>, or /untrack all for every watch you made here."""
    async with call.uow() as uow:
        if watch is None:
            mine = [w for w in await uow.watches.list_in_chat(call.ctx.address) if _mine(call, w)]
            for found in mine:
                await uow.watches.update(replace(found, active=False))
            await uow.commit()
            return Reply.say(f"Stopped tracking {len(mine)} products.")
        found = await watch_in_chat(uow, call, watch)
        await ensure_may_change(call, found)
        await uow.watches.update(replace(found, active=False))
        await uow.commit()
    return Reply.say(f"Stopped tracking #{watch}. No more alerts for it.")


@commands.command(
    params=(
        watch_param(),
        Param("target", "A price (25, €19.99) or a drop (-10%)", params.price_or_drop, rest=True),
    )
)
async def target(call: Call, watch: int, target: params.TargetSpec) -> Reply:
    """Change a watch's rule: /target <watch> <price | -N%>, e.g. /target 3 19.99 or -15%."""
    async with call.uow() as uow:
        found = await watch_in_chat(uow, call, watch)
        await ensure_may_change(call, found)
        product = await uow.products.get(found.product_id)
        if product is None:
            raise NotFoundForUser("That product is gone. Send /watches to see this chat's ids.")
        rule = resolve_rule(target, product.currency)
        await uow.watches.update(baseline_watch(replace(found, rule=rule), product))
        await uow.commit()
    return Reply.say(f"Changed #{watch}. Was: {found.rule.describe()}.\nNow: {rule.describe()}.")


@commands.command(
    params=(
        watch_param(),
        Param(
            "hours",
            "Hours of quiet (1-720), or off",
            params.snooze_hours,
            required=False,
            default=DEFAULT_SNOOZE_HOURS,
        ),
    ),
    actions=("snooze",),
)
async def snooze(call: Call, watch: int, hours: int) -> Reply:
    """Silence a watch's alerts for a while: /snooze <watch> [hours], 24 by default; off ends it."""
    now = call.services.clock.now()
    until = now + timedelta(hours=hours) if hours else None
    async with call.uow() as uow:
        found = await watch_in_chat(uow, call, watch)
        await ensure_may_change(call, found)
        await uow.watches.update(replace(found, snoozed_until=until))
        await uow.commit()
    if until is None:
        return Reply.say(f"#{watch} alerts again.")
    return Reply.say(f"Snoozed #{watch} until {until:%Y-%m-%d %H:%M} UTC.")


@commands.completer("watch_id")
async def complete_watch_ids(call: Call, typed: str) -> list[tuple[str, str]]:
    """This chat's watch ids whose id or title contains what was typed."""
    async with call.uow() as uow:
        found = await uow.watches.list_in_chat(call.ctx.address)
        products = await uow.products.get_many([watch.product_id for watch in found])
    wanted = typed.strip().lstrip("#").lower()
    choices = []
    for watch in found:
        product = products.get(watch.product_id)
        title = clean_text(product.title if product else None, 80) or f"watch {watch.id}"
        label = f"#{watch.id} {title}"
        if not wanted or wanted in label.lower():
            choices.append((label[:100], str(watch.id)))
    return choices


def _mine(call: Call, watch: Watch) -> bool:
    return watch.owner == call.owner


def _watch_line(call: Call, watch: Watch, product: Product | None) -> str:
    if product is None:
        return f"#{watch.id} (product gone)"
    line = f"#{watch.id} {describe_product(product)}\n{watch.rule.describe()}"
    if product.low_30d is not None and product.currency:
        line += f"; lowest in 30 days {Money(product.low_30d, product.currency).format()}"
    if product.css_selector:
        line += f"\nprice read at {product.css_selector}"
    if product.status is ProductStatus.BROKEN:
        line += f"\n⚠ cannot be read any more: {reason_text(product.status_reason)}"
    elif product.status is ProductStatus.STALE:
        line += "\n⚠ stale: not read successfully for a while"
    if watch.snoozed_until and watch.snoozed_until > call.services.clock.now():
        line += f"\nsnoozed until {watch.snoozed_until:%Y-%m-%d %H:%M} UTC"
    return line
