"""What several command families share: finding a chat's watch, rights, rules, descriptions."""

from __future__ import annotations

from datetime import timedelta

from core.chat.call import Call
from core.chat.params import TargetSpec, watch_id
from core.chat.registry import Param
from core.errors import NotFoundForUser, PermissionDenied, SoldOutNoPrice, UsageError
from core.model import (
    DEVIATION_RULES,
    Availability,
    Observation,
    Product,
    ProductStatus,
    Rule,
    RuleKind,
    Watch,
)
from core.money import Money
from core.ports import UnitOfWork
from core.text import clean_text

FRESH_FOR = timedelta(minutes=10)
TITLE_IN_LISTS = 120


def watch_param(description: str = "The watch's id, as /watches shows it") -> Param:
    return Param("watch", description, convert=watch_id, kind="integer", autocomplete="watch_id")


async def watch_in_chat(uow: UnitOfWork, call: Call, watch_id: int) -> Watch:
    """The watch with this id in the caller's chat; ids of other chats do not exist here."""
    watch = await uow.watches.get_in_chat(call.ctx.address, watch_id)
    if watch is None:
        raise NotFoundForUser(
            f"There is no watch #{watch_id} in this chat. Send /watches to see this chat's ids."
        )
    return watch


async def ensure_may_change(call: Call, watch: Watch) -> None:
    """In a group, a watch is changed by the one who made it or by the group's admins."""
    await ensure_owner_or_admin(call, watch.owner, f"#{watch.id}")


async def ensure_owner_or_admin(call: Call, owner: str, what: str) -> None:
    if owner == call.owner or await call.ctx.administers_chat():
        return
    raise PermissionDenied(
        f"{what} was set up by someone else in this chat; only they or a chat admin can change it."
    )


def resolve_rule(spec: TargetSpec, currency: str | None) -> Rule:
    """Turns a parsed target into a Rule in the product's currency, or explains the mismatch."""
    if spec.kind is RuleKind.TARGET:
        assert spec.amount is not None
        if currency is None:
            raise UsageError(
                "I could not tell this shop's currency, so I cannot compare a price target. "
                "Track it without a target, or with a drop like -10%."
            )
        if spec.currencies and currency not in spec.currencies:
            raise UsageError(
                f"Your target is in {spec.currencies[0]} but this product is priced in "
                f"{currency}. Give the target in {currency}, or leave the currency out."
            )
        return Rule(RuleKind.TARGET, target=Money(spec.amount, currency))
    if spec.kind is RuleKind.DROP_PERCENT or spec.kind in DEVIATION_RULES:
        return Rule(spec.kind, percent=spec.percent)
    return Rule(spec.kind)


def in_stock_text(availability: Availability) -> str:
    return {
        Availability.IN_STOCK: "in stock",
        Availability.OUT_OF_STOCK: "out of stock",
    }.get(availability, "stock unknown")


def describe_product(product: Product) -> str:
    """Title (or link), then price and stock."""
    price = product.money.format() if product.money else "no price shown"
    title = clean_text(product.title, TITLE_IN_LISTS) or product.url
    return f"{title}\n{price}, {in_stock_text(product.availability)}"


def fresh(call: Call, product: Product | None) -> bool:
    """A product read moments ago (by the scheduler or another user's /track) is not fetched
    again: a page tracked by a thousand users costs one fetch, not a thousand."""
    if product is None or product.price is None or product.last_success_at is None:
        return False
    if product.status is not ProductStatus.OK:
        return False
    window = min(call.config.check_interval, FRESH_FOR)
    return call.services.clock.now() - product.last_success_at < window


async def page_observation(
    call: Call, url: str, selector: str | None, product: Product | None, *, restock_ok: bool
) -> Observation | None:
    """A reading of the page now; None when the product was read moments ago (see fresh)."""
    if fresh(call, product):
        return None
    timeout = call.config.read_timeout.total_seconds()
    read = await call.services.reader.read(url, selector=selector, within=timeout)
    observation = read.observation
    assert observation is not None  # nothing was known, so the page was read in full
    if observation.price is None and not restock_ok:
        raise SoldOutNoPrice()
    return observation
