"""The Dispatcher against in-memory fakes: replies, nothing saved on bad input, owner scoping."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import Blocked
from core.model import (
    Availability,
    ChatAddress,
    ChatContext,
    ChatKind,
    Observation,
    ProductStatus,
    RuleKind,
    UserRef,
)
from core.service import Dispatcher, ServiceConfig
from tests.fakes.clock import FakeClock
from tests.fakes.memory import MemoryUnitOfWorkFactory
from tests.fakes.web import FakeExtractor, FakeFetcher

KETTLE = "https://shop.example/kettle"
LAMP = "https://shop.example/lamp"

ALICE = ChatContext(UserRef("telegram", "1", "alice"), ChatAddress("telegram", "1"))
BOB = ChatContext(UserRef("telegram", "2", "bob"), ChatAddress("telegram", "2"))
GROUP_ALICE = ChatContext(
    UserRef("telegram", "1", "alice"), ChatAddress("telegram", "-100", "7"), ChatKind.GROUP
)


@pytest.fixture
def world():
    fetcher, extractor = FakeFetcher(), FakeExtractor()
    for url, price, currency, stock, title in [
        (KETTLE, "49.90", "EUR", Availability.IN_STOCK, "Glass Kettle"),
        (LAMP, "89.99", "USD", Availability.OUT_OF_STOCK, "Arc Lamp"),
    ]:
        fetcher.pages[url] = b"<html></html>"
        extractor.observations[url] = Observation(
            Decimal(price), currency, stock, title=title, method="fake"
        )
    uow = MemoryUnitOfWorkFactory()
    dispatcher = Dispatcher(
        uow, fetcher, extractor, FakeClock(), ServiceConfig(max_watches_per_user=3, page_size=2)
    )
    return dispatcher, uow, fetcher, extractor


async def count_watches(uow, ctx: ChatContext) -> int:
    async with uow() as unit:
        return await unit.watches.count_owned(ctx.user.key)


async def test_track_replies_with_product_price_stock_and_rule(world):
    dispatcher, uow, *_ = world
    reply = await dispatcher.handle_text(ALICE, f"/track {KETTLE} 45")
    assert not reply.is_error
    assert "Glass Kettle" in reply.text
    assert "€49.90" in reply.text
    assert "in stock" in reply.text
    assert "€45.00 or less" in reply.text
    async with uow() as unit:
        [watch] = await unit.watches.list_owned(ALICE.user.key)
        assert watch.rule.kind is RuleKind.TARGET
        assert watch.rule.target.amount == Decimal("45")
        assert watch.rule.target.currency == "EUR"
        assert watch.baseline_price == Decimal("49.90")
        product = await unit.products.get_by_url(KETTLE)
        assert product is not None and product.price == Decimal("49.90")
        assert (await unit.price_points.latest(product.id)).price == Decimal("49.90")


async def test_track_strips_tracking_parameters(world):
    dispatcher, _, fetcher, _ = world
    reply = await dispatcher.handle_text(ALICE, f"/track {KETTLE}?utm_source=mail#reviews")
    assert not reply.is_error, reply.text
    assert fetcher.fetches == [KETTLE]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/track not-a-link", "not a web address"),
        ("/track ftp://shop.example/x", "not a web address"),
        (f"/track {KETTLE} -5", "negative price"),
        (f"/track {KETTLE} $40", "priced in EUR"),
        ("/track https://shop.example/no-price", "could not find a price"),
        ("/track https://shop.example/blocked", "blocked"),
    ],
)
async def test_bad_track_says_why_and_saves_nothing(world, text, says):
    dispatcher, uow, fetcher, _ = world
    fetcher.pages["https://shop.example/no-price"] = b"<html>nothing</html>"
    fetcher.pages["https://shop.example/blocked"] = Blocked()
    reply = await dispatcher.handle_text(ALICE, text)
    assert reply.is_error
    assert says in reply.text
    assert await count_watches(uow, ALICE) == 0
    async with uow() as unit:
        assert await unit.products.get_by_url("https://shop.example/no-price") is None
        assert await unit.products.get_by_url(KETTLE) is None


async def test_watch_ids_are_scoped_to_their_owner(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    async with uow() as unit:
        [alices] = await unit.watches.list_owned(ALICE.user.key)
    wid = alices.id

    listing = await dispatcher.handle_text(BOB, "/watches")
    assert "Glass Kettle" not in listing.text
    for attempt in (f"/untrack {wid}", f"/target {wid} 10", f"/history {wid}"):
        reply = await dispatcher.handle_text(BOB, attempt)
        assert reply.is_error and f"no watch #{wid}" in reply.text
    for action in (f"stop:{wid}", f"snooze:{wid}", f"chart:{wid}"):
        reply = await dispatcher.handle_action(BOB, action)
        assert reply.is_error
    await dispatcher.handle_text(BOB, "/untrack all")

    async with uow() as unit:
        still = await unit.watches.get_owned(ALICE.user.key, wid)
        assert still is not None and still.active and still.snoozed_until is None
        assert still.rule.kind is RuleKind.ANY_DROP
    assert "Glass Kettle" in (await dispatcher.handle_text(ALICE, "/watches")).text


async def test_untrack_target_and_buttons_for_the_owner(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    await dispatcher.handle_text(ALICE, f"/track {LAMP} stock")
    async with uow() as unit:
        kettle, lamp = await unit.watches.list_owned(ALICE.user.key)

    reply = await dispatcher.handle_text(ALICE, f"/target {kettle.id} -15%")
    assert "drops 15% or more" in reply.text
    reply = await dispatcher.handle_action(ALICE, f"snooze:{kettle.id}")
    assert "Snoozed" in reply.text
    reply = await dispatcher.handle_action(ALICE, f"stop:{lamp.id}")
    assert "Stopped tracking" in reply.text
    assert await count_watches(uow, ALICE) == 1
    reply = await dispatcher.handle_text(ALICE, "/untrack all")
    assert "Stopped tracking 1" in reply.text
    assert await count_watches(uow, ALICE) == 0


async def test_same_product_twice_updates_instead_of_duplicating(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    reply = await dispatcher.handle_text(ALICE, f"/track {KETTLE} 40")
    assert "Updated your watch" in reply.text
    assert await count_watches(uow, ALICE) == 1
    # The same person tracking it in a group gets a separate watch that replies there.
    await dispatcher.handle_text(GROUP_ALICE, f"/track {KETTLE}")
    assert await count_watches(uow, ALICE) == 2


async def test_watch_limit(world):
    dispatcher, uow, fetcher, extractor = world
    for n in range(3):
        url = f"https://shop.example/item{n}"
        fetcher.pages[url] = b"x"
        extractor.observations[url] = Observation(Decimal("5"), "EUR", title=f"Item {n}")
        assert not (await dispatcher.handle_text(ALICE, f"/track {url}")).is_error
    reply = await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    assert reply.is_error and "/untrack" in reply.text
    assert await count_watches(uow, ALICE) == 3


async def test_watches_paginates_with_buttons(world):
    dispatcher, _, fetcher, extractor = world
    for n in range(3):
        url = f"https://shop.example/item{n}"
        fetcher.pages[url] = b"x"
        extractor.observations[url] = Observation(Decimal("5"), "EUR", title=f"Item {n}")
        await dispatcher.handle_text(ALICE, f"/track {url}")
    first = await dispatcher.handle_text(ALICE, "/watches")
    assert "page 1 of 2" in first.text and "Item 0" in first.text and "Item 2" not in first.text
    assert [b.action for b in first.buttons] == ["page:watches:2"]
    second = await dispatcher.handle_action(ALICE, "page:watches:2")
    assert "Item 2" in second.text
    assert [b.action for b in second.buttons] == ["page:watches:1"]


async def test_bare_link_offer_is_only_for_its_sender(world):
    dispatcher, uow, *_ = world
    offer = await dispatcher.handle_text(ALICE, KETTLE)
    [button] = offer.buttons
    assert button.action.startswith("track:") and len(button.action.encode()) <= 64
    stolen = await dispatcher.handle_action(BOB, button.action)
    assert stolen.is_error
    taken = await dispatcher.handle_action(ALICE, button.action)
    assert "Now tracking" in taken.text
    assert await count_watches(uow, ALICE) == 1
    assert (await dispatcher.handle_action(ALICE, button.action)).is_error  # used once


async def test_group_chatter_gets_no_answer(world):
    dispatcher, *_ = world
    assert await dispatcher.handle_text(GROUP_ALICE, "good morning") is None
    assert await dispatcher.handle_text(GROUP_ALICE, KETTLE) is None


async def test_help_lists_every_command(world):
    dispatcher, *_ = world
    text = (await dispatcher.handle_text(ALICE, "/help")).text
    for name in ("/track", "/watches", "/untrack", "/target", "/history", "/settings", "/start"):
        assert name in text
    assert "/track" in (await dispatcher.handle_text(ALICE, "/start")).text


async def test_forged_or_unknown_actions_are_refused(world):
    dispatcher, *_ = world
    for action in ("stop:abc", "stop:", "delete:1", "page:watches:x", "track:nope"):
        reply = await dispatcher.handle_action(ALICE, action)
        assert reply is not None
    assert (await dispatcher.handle_action(ALICE, "delete:1")).is_error
    assert (await dispatcher.handle_action(ALICE, "stop:abc")).is_error


async def test_a_product_read_moments_ago_is_not_fetched_again(world):
    dispatcher, uow, fetcher, _ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    reply = await dispatcher.handle_text(BOB, f"/track {KETTLE} 45")
    assert "Now tracking" in reply.text and "€49.90" in reply.text
    assert fetcher.fetches == [KETTLE]
    async with uow() as unit:
        [bobs] = await unit.watches.list_owned(BOB.user.key)
        assert bobs.rule.target.currency == "EUR"


async def test_a_sold_out_page_without_price_can_be_watched_for_restock(world):
    dispatcher, uow, fetcher, extractor = world
    url = "https://shop.example/sold-out"
    fetcher.pages[url] = b"x"
    extractor.observations[url] = Observation(
        None, None, Availability.OUT_OF_STOCK, title="Rare Sneaker"
    )
    refused = await dispatcher.handle_text(ALICE, f"/track {url} 100")
    assert refused.is_error and "/track <link> stock" in refused.text
    assert await count_watches(uow, ALICE) == 0
    reply = await dispatcher.handle_text(ALICE, f"/track {url} stock")
    assert not reply.is_error, reply.text
    assert "Rare Sneaker" in reply.text and "out of stock" in reply.text
    assert await count_watches(uow, ALICE) == 1


async def test_watches_shows_stale_and_broken_pages_plainly(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    await dispatcher.handle_text(ALICE, f"/track {LAMP}")
    async with uow() as unit:
        kettle = await unit.products.get_by_url(KETTLE)
        lamp = await unit.products.get_by_url(LAMP)
        kettle.status = ProductStatus.STALE
        lamp.status, lamp.status_reason = ProductStatus.BROKEN, "the shop blocked the request"
        await unit.products.update(kettle)
        await unit.products.update(lamp)
        await unit.commit()
    listing = (await dispatcher.handle_text(ALICE, "/watches")).text
    kettle_part, lamp_part = listing.split("Arc Lamp")
    assert "stale" in kettle_part
    assert "cannot be read any more: the shop blocked the request" in lamp_part


async def test_a_flood_of_commands_gets_wait_a_minute_not_work(world):
    _, uow, fetcher, extractor = world
    clock = FakeClock()
    dispatcher = Dispatcher(
        uow, fetcher, extractor, clock, ServiceConfig(max_watches_per_user=3, page_size=2)
    )
    for n in range(12):
        url = f"https://shop.example/flood{n}"
        fetcher.pages[url] = b"x"
        extractor.observations[url] = Observation(Decimal("5"), "EUR", title=f"Flood {n}")
    replies = [
        await dispatcher.handle_text(BOB, f"/track https://shop.example/flood{n}")
        for n in range(12)
    ]
    refused = [r for r in replies if "Wait a minute" in r.text]
    # Ten /track reads a minute; the watch limit (3 here) answers the rest of the first ten.
    assert len(refused) == 2 and all(r.is_error for r in refused)
    assert len(fetcher.fetches) == 3
    # Other commands too, at thirty a minute; someone else is not affected.
    replies = [await dispatcher.handle_text(BOB, "/watches") for _ in range(30)]
    assert "too fast" in replies[-1].text and replies[-1].is_error
    assert not (await dispatcher.handle_text(ALICE, "/watches")).is_error
    clock.advance(minutes=1)
    assert not (await dispatcher.handle_text(BOB, "/watches")).is_error
