"""The chat commands against in-memory fakes: replies, nothing saved on bad input, chat scoping."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from core.chat.call import ChatConfig, Services
from core.chat.catalog import build_registry
from core.chat.dispatcher import APOLOGY, Dispatcher
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
from core.reading import PageReader
from tests.fakes.clock import FakeClock
from tests.fakes.memory import MemoryUnitOfWorkFactory
from tests.fakes.web import FakeExtractor, FakeFetcher

KETTLE = "https://shop.example/kettle"
LAMP = "https://shop.example/lamp"

ALICE = ChatContext(UserRef("telegram", "1", "alice"), ChatAddress("telegram", "1"))
BOB = ChatContext(UserRef("telegram", "2", "bob"), ChatAddress("telegram", "2"))
GROUP = ChatAddress("telegram", "-100", "7")
GROUP_ALICE = ChatContext(UserRef("telegram", "1", "alice"), GROUP, ChatKind.GROUP)
GROUP_BOB = ChatContext(UserRef("telegram", "2", "bob"), GROUP, ChatKind.GROUP)


async def is_admin() -> bool:
    return True


GROUP_ADMIN = ChatContext(UserRef("telegram", "3", "carol"), GROUP, ChatKind.GROUP, is_admin)


def make_dispatcher(uow, fetcher, extractor, clock=None, **config) -> Dispatcher:
    clock = clock or FakeClock()
    services = Services(
        uow=uow,
        reader=PageReader(fetcher, extractor, clock),
        clock=clock,
        config=ChatConfig(**{"max_watches_per_user": 3, "page_size": 2, **config}),
        registry=build_registry(),
    )
    return Dispatcher(services.registry, services)


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
    return make_dispatcher(uow, fetcher, extractor), uow, fetcher, extractor


async def watches_in(uow, address: ChatAddress):
    async with uow() as unit:
        return await unit.watches.list_in_chat(address)


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
    [watch] = await watches_in(uow, ALICE.address)
    assert watch.rule.kind is RuleKind.TARGET
    assert watch.rule.target.amount == Decimal("45")
    assert watch.rule.target.currency == "EUR"
    assert watch.baseline_price == Decimal("49.90")
    async with uow() as unit:
        product = await unit.products.get_by_url(KETTLE)
        assert product is not None and product.price == Decimal("49.90")
        assert (await unit.price_points.latest(product.id)).price == Decimal("49.90")


async def test_track_strips_tracking_parameters_and_takes_links_without_a_scheme(world):
    dispatcher, _, fetcher, _ = world
    reply = await dispatcher.handle_text(ALICE, f"/track {KETTLE}?utm_source=mail#reviews")
    assert not reply.is_error, reply.text
    reply = await dispatcher.handle_text(BOB, "/track shop.example/lamp stock")
    assert not reply.is_error, reply.text
    assert fetcher.fetches == [KETTLE, LAMP]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/track not-a-link", "not a web address"),
        ("/track ftp://shop.example/x", "not a web address"),
        (f"/track {KETTLE} -5", "negative price"),
        (f"/track {KETTLE} $40", "priced in EUR"),
        (f"/track {KETTLE} abc", "'abc' is not a price"),
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


async def test_watch_ids_of_one_chat_do_nothing_in_another(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE} 45")
    [alices] = await watches_in(uow, ALICE.address)
    wid = alices.id

    listing = await dispatcher.handle_text(BOB, "/watches")
    assert "Glass Kettle" not in listing.text
    for attempt in (f"/untrack {wid}", f"/target {wid} 10", f"/history {wid}", f"/snooze {wid}"):
        reply = await dispatcher.handle_text(BOB, attempt)
        assert reply.is_error and f"no watch #{wid} in this chat" in reply.text
    for action in (f"untrack {wid}", f"snooze {wid}", f"history {wid}", f"stop:{wid}"):
        reply = await dispatcher.handle_action(BOB, action)
        assert reply.is_error
    await dispatcher.handle_text(BOB, "/untrack all")
    [still] = await watches_in(uow, ALICE.address)
    assert still.active and still.snoozed_until is None and still.rule.kind is RuleKind.TARGET


async def test_a_groups_list_shows_the_groups_watches_never_a_members_private_ones(world):
    """Privacy: /watches in a group used to list the sender's private-chat watches to all."""
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")  # Alice's private watch
    await dispatcher.handle_text(GROUP_BOB, f"/track {LAMP} stock")  # the group's watch
    [private] = await watches_in(uow, ALICE.address)

    in_group = (await dispatcher.handle_text(GROUP_ALICE, "/watches")).text
    assert "Arc Lamp" in in_group and "Glass Kettle" not in in_group
    in_private = (await dispatcher.handle_text(ALICE, "/watches")).text
    assert "Glass Kettle" in in_private and "Arc Lamp" not in in_private
    # Alice's private id does nothing in the group, even for her.
    reply = await dispatcher.handle_text(GROUP_ALICE, f"/untrack {private.id}")
    assert reply.is_error
    assert len(await watches_in(uow, ALICE.address)) == 1


async def test_in_a_group_only_the_maker_or_an_admin_changes_a_watch(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(GROUP_BOB, f"/track {KETTLE} 45")
    [watch] = await watches_in(uow, GROUP)
    refused = await dispatcher.handle_text(GROUP_ALICE, f"/target {watch.id} 40")
    assert refused.is_error and "chat admin" in refused.text
    refused = await dispatcher.handle_text(GROUP_ALICE, f"/track {KETTLE} 30")
    assert refused.is_error
    assert (await dispatcher.handle_text(GROUP_ADMIN, f"/target {watch.id} 40")).is_error is False
    assert not (await dispatcher.handle_text(GROUP_BOB, f"/untrack {watch.id}")).is_error
    assert await watches_in(uow, GROUP) == []


async def test_untrack_target_snooze_and_buttons(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    await dispatcher.handle_text(ALICE, f"/track {LAMP} stock")
    kettle, lamp = await watches_in(uow, ALICE.address)

    reply = await dispatcher.handle_text(ALICE, f"/target {kettle.id} -15%")
    assert "Was: alert on any price drop" in reply.text and "drops 15% or more" in reply.text
    reply = await dispatcher.handle_action(ALICE, f"snooze {kettle.id}")
    assert "Snoozed" in reply.text
    reply = await dispatcher.handle_text(ALICE, f"/snooze {kettle.id} 3")
    assert "Snoozed" in reply.text and "12:00 UTC" in reply.text  # 09:00 + 3 h
    reply = await dispatcher.handle_text(ALICE, f"/snooze {kettle.id} off")
    assert "alerts again" in reply.text
    reply = await dispatcher.handle_action(ALICE, f"stop:{lamp.id}")  # an older message's button
    assert "Stopped tracking" in reply.text
    assert await count_watches(uow, ALICE) == 1
    reply = await dispatcher.handle_text(ALICE, "/untrack all")
    assert "Stopped tracking 1" in reply.text
    assert await count_watches(uow, ALICE) == 0


async def test_tracking_a_tracked_link_again_keeps_its_rule_or_says_what_changed(world):
    dispatcher, uow, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE} 25.99")
    again = await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    assert "already tracks it as #1" in again.text and "€25.99 or less" in again.text
    [watch] = await watches_in(uow, ALICE.address)
    assert watch.rule.kind is RuleKind.TARGET and watch.rule.target.amount == Decimal("25.99")

    changed = await dispatcher.handle_text(ALICE, f"/track {KETTLE} -10%")
    assert "Was: alert when the price is €25.99 or less" in changed.text
    assert "Now: alert when the price drops 10% or more" in changed.text
    assert await count_watches(uow, ALICE) == 1
    # The same person in a group gets the group's own watch, which replies there.
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
    assert [b.action for b in first.buttons] == ["watches 2"]
    second = await dispatcher.handle_action(ALICE, "watches 2")
    assert "Item 2" in second.text
    assert [b.action for b in second.buttons] == ["watches 1"]
    assert "Item 2" in (await dispatcher.handle_action(ALICE, "page:watches:2")).text


async def test_bare_link_offer_is_only_for_its_sender_and_lives_in_the_database(world):
    dispatcher, uow, fetcher, extractor = world
    offer = await dispatcher.handle_text(ALICE, "shop.example/kettle")
    [button] = offer.buttons
    assert button.action.startswith("offer ") and len(button.action.encode()) <= 64
    assert len(uow.store.offers) == 1
    stolen = await dispatcher.handle_action(BOB, button.action)
    assert stolen.is_error
    # Another process (a replica, or after a restart) sees the same offer.
    other = make_dispatcher(uow, fetcher, extractor)
    taken = await other.handle_action(ALICE, button.action)
    assert "Now tracking" in taken.text
    assert await count_watches(uow, ALICE) == 1
    assert (await dispatcher.handle_action(ALICE, button.action)).is_error  # used once


async def test_group_chatter_and_other_bots_commands_get_no_answer(world):
    dispatcher, *_ = world
    assert await dispatcher.handle_text(GROUP_ALICE, "good morning") is None
    assert await dispatcher.handle_text(GROUP_ALICE, KETTLE) is None
    assert await dispatcher.handle_text(GROUP_ALICE, "/frobnicate") is None
    addressed = await dispatcher.handle_text(
        GROUP_ALICE, "/frobnicate@PricebotTestBot", addressed=True
    )
    assert addressed.is_error and "/help" in addressed.text
    private = await dispatcher.handle_text(ALICE, "/frobnicate")
    assert private.is_error and "/help" in private.text


async def test_help_lists_every_command_from_the_registry(world):
    dispatcher, *_ = world
    text = (await dispatcher.handle_text(ALICE, "/help")).text
    for spec in dispatcher.registry.visible(ChatKind.PRIVATE):
        assert spec.usage in text and spec.summary in text
    assert "/offer" not in text and "/link" not in text  # hidden
    detail = (await dispatcher.handle_text(ALICE, "/help selector")).text
    assert "/selector <watch> <selector>" in detail and "never what other people" in detail
    assert "/track" in (await dispatcher.handle_text(ALICE, "/start")).text


async def test_forged_or_unknown_actions_are_refused(world):
    dispatcher, *_ = world
    for action in ("stop:abc", "stop:", "delete:1", "page:watches:x", "track:nope", "rm -rf"):
        reply = await dispatcher.handle_action(ALICE, action)
        assert reply is not None and reply.is_error, action


async def test_a_product_read_moments_ago_is_not_fetched_again(world):
    dispatcher, uow, fetcher, _ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    reply = await dispatcher.handle_text(BOB, f"/track {KETTLE} 45")
    assert "Now tracking" in reply.text and "€49.90" in reply.text
    assert fetcher.fetches == [KETTLE]
    [bobs] = await watches_in(uow, BOB.address)
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
        lamp.status, lamp.status_reason = ProductStatus.BROKEN, "blocked"
        await unit.products.update(kettle)
        await unit.products.update(lamp)
        await unit.commit()
    listing = (await dispatcher.handle_text(ALICE, "/watches")).text
    kettle_part, lamp_part = listing.split("Arc Lamp")
    assert "stale" in kettle_part
    assert "cannot be read any more: the shop blocks my requests" in lamp_part


async def test_selector_is_tried_on_the_live_page_and_changes_only_that_watch(world):
    dispatcher, uow, _fetcher, extractor = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    await dispatcher.handle_text(BOB, f"/track {KETTLE}")
    [alices] = await watches_in(uow, ALICE.address)

    # The fake reads the same observation whatever the selector, so it is not "selector".
    refused = await dispatcher.handle_text(ALICE, f"/selector {alices.id} .price-now")
    assert refused.is_error and "matches no price" in refused.text
    assert (await dispatcher.handle_text(ALICE, f"/selector {alices.id} ][")).is_error
    extractor.observations[KETTLE] = replace(
        extractor.observations[KETTLE], price=Decimal("44.90"), method="selector"
    )
    reply = await dispatcher.handle_text(ALICE, f"/selector {alices.id} .price-now")
    assert not reply.is_error, reply.text
    assert "at .price-now" in reply.text and "€44.90" in reply.text

    [moved] = await watches_in(uow, ALICE.address)
    [bobs] = await watches_in(uow, BOB.address)
    async with uow() as unit:
        alice_product = await unit.products.get(moved.product_id)
        bob_product = await unit.products.get(bobs.product_id)
    assert alice_product.css_selector == ".price-now" and alice_product.price == Decimal("44.90")
    assert bob_product.css_selector is None and bob_product.price == Decimal("49.90")
    assert moved.baseline_price == Decimal("44.90")
    assert "price read at .price-now" in (await dispatcher.handle_text(ALICE, "/watches")).text

    back = await dispatcher.handle_text(ALICE, f"/selector {alices.id} off")
    assert "by itself" in back.text
    [returned] = await watches_in(uow, ALICE.address)
    assert returned.product_id == bobs.product_id


@pytest.mark.parametrize(
    ("text", "says", "not_says"),
    [
        ("/target 1 1e10", "'1e10' is not a price", "/track <link>"),
        ("/target 1 1e10", "Use: /target <watch> <target>", "/track <link>"),
        (f"/track {KETTLE} abc", "'abc'", "'ABC'"),
        ("/history 1 2w", "'2w' is not one of 7d, 30d", "/track"),
    ],
)
async def test_usage_errors_quote_the_input_and_show_their_own_command(world, text, says, not_says):
    dispatcher, *_ = world
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    reply = await dispatcher.handle_text(ALICE, text)
    assert reply.is_error and says in reply.text and not_says not in reply.text


async def test_a_banned_user_is_told_once_then_ignored_links_included(world):
    dispatcher, uow, fetcher, _ = world
    async with uow() as unit:
        await unit.users.set_banned(ALICE.user.key, True)
        await unit.commit()
    first = await dispatcher.handle_text(ALICE, KETTLE)
    assert first.is_error and "banned" in first.text and not first.buttons
    assert (await dispatcher.handle_text(ALICE, f"/track {KETTLE}")).is_error
    assert fetcher.fetches == []
    assert uow.store.offers == {}


async def test_suggestions_are_rationed_and_never_offered_to_a_banned_user(world):
    _, uow, fetcher, extractor = world
    dispatcher = make_dispatcher(uow, fetcher, extractor, commands_per_minute=2)
    await dispatcher.handle_text(ALICE, f"/track {KETTLE}")
    suggested = [await dispatcher.complete(ALICE, "watch_id", "") for _ in range(12)]
    # Two commands a minute leave ten suggestions a minute, apart from the commands' own.
    assert all(len(found) == 1 and "Kettle" in found[0][0] for found in suggested[:10])
    assert suggested[10:] == [[], []]
    await dispatcher.handle_text(BOB, f"/track {LAMP}")
    assert len(await dispatcher.complete(BOB, "watch_id", "")) == 1
    async with uow() as unit:
        await unit.users.set_banned(BOB.user.key, True)
        await unit.commit()
    assert await dispatcher.complete(BOB, "watch_id", "") == []


async def test_a_flood_gets_one_wait_a_minute_then_silence(world):
    _, uow, fetcher, extractor = world
    clock = FakeClock()
    dispatcher = make_dispatcher(uow, fetcher, extractor, clock)
    for n in range(12):
        url = f"https://shop.example/flood{n}"
        fetcher.pages[url] = b"x"
        extractor.observations[url] = Observation(Decimal("5"), "EUR", title=f"Flood {n}")
    replies = [
        await dispatcher.handle_text(BOB, f"/track https://shop.example/flood{n}")
        for n in range(12)
    ]
    # Ten /track reads a minute; the watch limit (3 here) answers the rest of the first ten.
    assert "Wait a minute" in replies[10].text and replies[10].is_error
    assert replies[11] is None
    assert len(fetcher.fetches) == 3
    # Bare links count too; someone else is not affected.
    replies = [await dispatcher.handle_text(BOB, KETTLE) for _ in range(30)]
    assert all(reply is None for reply in replies[-5:])
    assert not (await dispatcher.handle_text(ALICE, "/watches")).is_error
    clock.advance(minutes=1)
    assert not (await dispatcher.handle_text(BOB, "/watches")).is_error


async def test_an_unexpected_error_answers_with_an_apology_and_is_logged(
    world, caplog, monkeypatch
):
    dispatcher, _uow, *_ = world

    async def broken(self, address):  # type: ignore[no-untyped-def]
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    from tests.fakes import memory

    with monkeypatch.context() as patched:
        patched.setattr(memory.MemoryWatchRepository, "list_in_chat", broken)
        reply = await dispatcher.handle_text(ALICE, "/watches")
    assert reply.is_error and reply.text == APOLOGY
    assert "/watches from telegram:1" in caplog.text and "UnicodeEncodeError" in caplog.text
    assert not (await dispatcher.handle_text(ALICE, "/watches")).is_error


async def test_a_bot_admin_command_checks_the_admin_list_every_time(world):
    from core.chat.registry import CommandFamily, Registry
    from core.reply import Reply

    family = CommandFamily("ops")

    @family.command(needs_bot_admin=True)
    async def stats(call) -> Reply:  # type: ignore[no-untyped-def]
        """Operator statistics."""
        return Reply.say("all good")

    _, uow, fetcher, extractor = world
    clock = FakeClock()
    services = Services(
        uow=uow,
        reader=PageReader(fetcher, extractor, clock),
        clock=clock,
        config=ChatConfig(bot_admins=frozenset({"telegram:1"})),
    )
    dispatcher = Dispatcher(Registry([family]), services)
    assert (await dispatcher.handle_text(ALICE, "/stats")).text == "all good"
    refused = await dispatcher.handle_text(BOB, "/stats")
    assert refused.is_error and "operators only" in refused.text


async def test_a_server_has_its_own_watch_limit_across_its_channels(world):
    _, uow, fetcher, extractor = world
    dispatcher = make_dispatcher(uow, fetcher, extractor, max_watches_per_community=2)

    def member(user: str, channel: str) -> ChatContext:
        return ChatContext(
            UserRef("discord", user), ChatAddress("discord", channel), ChatKind.GROUP, None, "g1"
        )

    for n, who in enumerate(("10", "11")):
        url = f"https://shop.example/item{n}"
        fetcher.pages[url] = b"x"
        extractor.observations[url] = Observation(Decimal("5"), "EUR", title=f"Item {n}")
        reply = await dispatcher.handle_text(member(who, f"c{n}"), f"/track {url}")
        assert not reply.is_error, reply.text
    refused = await dispatcher.handle_text(member("12", "c3"), f"/track {KETTLE}")
    assert refused.is_error and "This server already tracks 2 products" in refused.text
    # Another server, or a private chat, is not held by it.
    other = ChatContext(
        UserRef("discord", "12"), ChatAddress("discord", "c9"), ChatKind.GROUP, None, "g2"
    )
    assert not (await dispatcher.handle_text(other, f"/track {KETTLE}")).is_error
    async with uow() as unit:
        assert await unit.watches.count_in_community("discord", "g1") == 2


async def test_track_against_the_30_day_average_in_either_direction(world):
    dispatcher, uow, *_ = world
    reply = await dispatcher.handle_text(ALICE, f"/track {KETTLE} avg -15%")
    assert "15% or more below its 30-day average" in reply.text
    [watch] = await watches_in(uow, ALICE.address)
    assert (watch.rule.kind, watch.rule.percent) == (RuleKind.BELOW_AVERAGE, Decimal("15"))
    changed = await dispatcher.handle_text(ALICE, f"/track {KETTLE} avg ±20%")
    assert "Now: alert when the price is 20% or more away from its 30-day average" in changed.text
    refused = await dispatcher.handle_text(ALICE, f"/track {KETTLE} avg 150%")
    assert refused.is_error and "avg -15%" in refused.text
