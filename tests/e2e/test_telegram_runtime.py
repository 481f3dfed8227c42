"""End to end through the real Runtime: PTB polling (or a webhook) against FakeTelegram, a local
shop, SQLite, check and delivery driven by hand on a fake clock."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.demo_shop import DemoShop, ShopItem
from bot.runtime import Runtime, webhook_secret
from bot.settings import load_settings
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.fakes.title_shop import title_shop

TOKEN = "123456:TEST-TOKEN"
BOT_NAME = "PricebotTestBot"
ALICE = 111
BOB = 222
FORUM = -100300
GROUP_CHAT = -100400
TOPIC = 77
ALERT_BUTTONS = ["Open", "Chart", "Snooze 24 h", "Stop tracking"]


@dataclass
class Harness:
    """The running Runtime plus the world around it, with helpers that read like a chat."""

    runtime: Runtime
    clock: FakeClock
    telegram: FakeTelegram

    async def say(
        self,
        chat_id: int,
        user_id: int,
        line: str,
        chat_type: str = "private",
        thread_id: int | None = None,
    ) -> SentMessage:
        """`user_id` writes `line` in a chat; returns the bot's answer there."""
        before = len(self.telegram.sent(chat_id))
        self.telegram.push_message(chat_id, user_id, line, chat_type, message_thread_id=thread_id)
        await self.telegram.wait_until(lambda: len(self.telegram.sent(chat_id)) > before)
        return self.telegram.sent(chat_id)[before]

    def next_interval(self) -> None:
        """Every tracked product is due again (check times have +-10 % jitter)."""
        self.clock.advance(seconds=self.runtime.settings.check_interval * 1.2)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.runtime.engine.connect() as connection:
            return list(await connection.execute(text(sql), params))

    async def watch(self, watch_id: int) -> Any:
        [row] = await self.rows(
            "SELECT active, paused_reason FROM watches WHERE id = :id", id=watch_id
        )
        return row

    async def outbox(self, chat_id: int) -> list[Any]:
        return await self.rows(
            "SELECT id, status, error, attempts FROM outbox WHERE chat_id = :chat ORDER BY id",
            chat=str(chat_id),
        )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(TOKEN, bot_username=BOT_NAME) as server:
        yield server


@asynccontextmanager
async def running(
    tmp_path: Path, telegram: FakeTelegram, **overrides: Any
) -> AsyncIterator[Harness]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'telegram.db'}",
        allow_private_hosts=True,
        per_host_min_gap=0,
        telegram_token=TOKEN,
        telegram_base_url=telegram.base_url,
        **overrides,
    )
    clock = FakeClock()
    async with Runtime(settings, clock=clock, fronts={"telegram"}) as runtime:
        yield Harness(runtime, clock, telegram)


# ----- track -> price drop -> alert -> stop -------------------------------------------------------


async def test_private_track_alert_and_stop_button(
    tmp_path: Path, telegram: FakeTelegram, shop: DemoShop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path, telegram) as h:
        confirmation = await h.say(ALICE, ALICE, f"/track {shop.url('kettle')} 45")
        assert confirmation.text.startswith("Now tracking #1:")
        assert "Stellar Glass Kettle 1.7 L" in confirmation.text
        assert "€49.90, in stock" in confirmation.text
        assert "€45.00 or less" in confirmation.text
        assert telegram.calls_to("getUpdates") and telegram.webhook_url == ""

        shop.set_price("kettle", Decimal("39.90"))
        h.next_interval()
        report = await h.runtime.check_once()
        assert (report.checked, report.alerts) == (1, 1)
        assert (await h.runtime.deliver_once()).sent == 1

        alert = telegram.sent(ALICE)[-1]
        assert alert.text.startswith("Target price reached: Stellar Glass Kettle 1.7 L")
        assert "€49.90 → €39.90" in alert.text
        assert [b["text"] for b in alert.buttons] == ALERT_BUTTONS
        open_button, *actions = alert.buttons
        assert open_button["url"] == shop.url("kettle")
        assert [b["callback_data"] for b in actions] == ["history 1", "snooze 1", "untrack 1"]

        query = telegram.push_callback(ALICE, ALICE, alert.message_id, actions[-1]["callback_data"])
        await telegram.wait_until(lambda: telegram.edits)
        [edit] = telegram.edits
        assert edit.message_id == alert.message_id
        assert edit.text == "Stopped tracking #1. No more alerts for it."
        assert telegram.message(ALICE, alert.message_id).get("reply_markup") is None
        assert [a.callback_query_id for a in telegram.answered_callbacks] == [query]
        assert not (await h.watch(1)).active
        listing = await h.say(ALICE, ALICE, "/watches")
        assert listing.text.startswith("Nothing is tracked in this chat yet")

        # Nobody watches the kettle any more: it is not fetched, nothing alerts.
        shop.set_price("kettle", Decimal("29.90"))
        requests = shop.requests
        h.next_interval()
        assert (await h.runtime.check_once()).checked == 0
        assert shop.requests == requests
        assert (await h.runtime.deliver_once()).sent == 0

    secret = TOKEN.split(":", 1)[1]
    assert "getUpdates" in caplog.text  # PTB's request logging was on, and redacted
    assert secret not in caplog.text


# ----- groups, topics and owners ----------------------------------------------------------------


async def test_group_and_private_users_never_see_each_others_watches(
    tmp_path: Path, telegram: FakeTelegram, shop: DemoShop
) -> None:
    async with running(tmp_path, telegram) as h:
        mine = await h.say(ALICE, ALICE, f"/track {shop.url('kettle')} 45")
        assert mine.text.startswith("Now tracking #1:")
        theirs = await h.say(
            FORUM, BOB, f"/track@{BOT_NAME} {shop.url('headphones')}", "supergroup", TOPIC
        )
        assert theirs.text.startswith("Now tracking #2:")
        assert "129.00" in theirs.text and theirs.message_thread_id == TOPIC

        alice_list = await h.say(ALICE, ALICE, "/watches")
        assert "#1 Stellar Glass Kettle" in alice_list.text and "#2" not in alice_list.text
        bob_list = await h.say(FORUM, BOB, f"/watches@{BOT_NAME}", "supergroup", TOPIC)
        assert "#2 " in bob_list.text and "#1" not in bob_list.text
        assert "Kettle" not in bob_list.text and bob_list.message_thread_id == TOPIC
        # Alice asks in the group: the group's watches, never her private ones.
        in_group = await h.say(FORUM, ALICE, "/watches", "supergroup", TOPIC)
        assert "#2 " in in_group.text and "Kettle" not in in_group.text

        refused = await h.say(ALICE, ALICE, "/untrack 2")
        assert refused.text.startswith("There is no watch #2 in this chat.")
        refused = await h.say(FORUM, BOB, f"/untrack@{BOT_NAME} 1", "supergroup", TOPIC)
        assert refused.text.startswith("There is no watch #1 in this chat.")
        refused = await h.say(FORUM, ALICE, "/untrack 1", "supergroup", TOPIC)
        assert refused.text.startswith("There is no watch #1 in this chat.")
        assert (await h.watch(1)).active and (await h.watch(2)).active

        shop.set_price("headphones", Decimal("99.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        assert (await h.runtime.deliver_once()).sent == 1
        alert = telegram.sent(FORUM)[-1]
        assert alert.text.startswith("Price drop: ")
        assert alert.message_thread_id == TOPIC
        assert all(not m.text.startswith("Price drop") for m in telegram.sent(ALICE))

        # Alice, also in the group but no admin, presses "stop" under Bob's alert: refused,
        # the alert kept; Telegram was asked whether she administers the group.
        stop = alert.buttons[-1]["callback_data"]
        telegram.push_callback(FORUM, ALICE, alert.message_id, stop)
        await telegram.wait_until(lambda: telegram.answered_callbacks)
        [answer] = telegram.answered_callbacks
        assert answer.show_alert and answer.text is not None
        assert "only they or a chat admin" in answer.text
        assert telegram.calls_to("getChatMember")
        assert telegram.edits == []
        assert (await h.watch(2)).active


async def test_anonymous_admins_and_channels_act_for_their_own_chat_only(
    tmp_path: Path, telegram: FakeTelegram, shop: DemoShop
) -> None:
    """Every anonymous admin arrives "from" the same GroupAnonymousBot: acting as that user
    made all of them one person, so group B listed and untracked group A's watch."""
    group_a, group_b, channel = -100701, -100702, -100703
    async with running(tmp_path, telegram) as h:

        async def anonymous(group: int, line: str, **sender: Any) -> SentMessage:
            before = len(telegram.sent(group))
            telegram.push_message(group, ALICE, line, "supergroup", **sender)
            await telegram.wait_until(lambda: len(telegram.sent(group)) > before)
            return telegram.sent(group)[before]

        made = await anonymous(group_a, f"/track {shop.url('kettle')} 45", anonymous_admin=True)
        assert made.text.startswith("Now tracking #1:")
        listing = await anonymous(group_b, "/watches", anonymous_admin=True)
        assert "Kettle" not in listing.text
        refused = await anonymous(group_b, "/untrack 1", anonymous_admin=True)
        assert refused.text.startswith("There is no watch #1 in this chat.")
        # A channel posting in group A is neither group A's anonymous admin nor a member
        # who made the watch: it may see the group's list but not change the watch.
        seen = await anonymous(group_a, "/watches", as_channel=channel)
        assert "Kettle" in seen.text
        refused = await anonymous(group_a, "/untrack 1", as_channel=channel)
        assert "only they or a chat admin" in refused.text
        assert (await h.watch(1)).active
        # Group A's anonymous admin may change it (no getChatMember needed: it is the group).
        done = await anonymous(group_a, "/untrack 1", anonymous_admin=True)
        assert done.text.startswith("Stopped tracking #1")
        owners = {row.owner for row in await h.rows("SELECT owner FROM watches")}
        assert owners == {f"telegram:{group_a}"}


async def test_only_a_channels_admins_may_press_its_alert_buttons(
    tmp_path: Path, telegram: FakeTelegram, shop: DemoShop
) -> None:
    """Anyone who reads a channel can press the buttons under its alerts; a subscriber who is
    not an admin must not stop the channel's watch."""
    channel = -100704
    async with running(tmp_path, telegram) as h:
        made = await h.say(channel, ALICE, f"/track {shop.url('kettle')}", "channel")
        assert made.text.startswith("Now tracking #1:")
        shop.set_price("kettle", Decimal("19.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        assert (await h.runtime.deliver_once()).sent == 1
        alert = telegram.sent(channel)[-1]
        stop = alert.buttons[-1]["callback_data"]

        telegram.push_callback(channel, BOB, alert.message_id, stop)
        await telegram.wait_until(lambda: telegram.answered_callbacks)
        [refused] = telegram.answered_callbacks
        assert refused.text is not None and "only they or a chat admin" in refused.text
        assert (await h.watch(1)).active

        telegram.make_admin(channel, ALICE)
        telegram.push_callback(channel, ALICE, alert.message_id, stop)
        await telegram.wait_until(lambda: len(telegram.answered_callbacks) == 2)
        await telegram.wait_until(lambda: telegram.edits)
        assert not (await h.watch(1)).active


async def test_unknown_commands_are_answered_only_when_addressed_to_this_bot_in_groups(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    async with running(tmp_path, telegram) as h:
        telegram.push_message(GROUP_CHAT, ALICE, "/frobnicate", "supergroup")
        telegram.push_message(GROUP_CHAT, ALICE, "/frobnicate@SomeOtherBot", "supergroup")
        telegram.push_message(GROUP_CHAT, ALICE, f"/frobnicate@{BOT_NAME}", "supergroup")
        await telegram.wait_until(lambda: len(telegram.sent(GROUP_CHAT)) >= 1)
        await telegram.wait_until(lambda: telegram.pending_updates == [])
        [answer] = telegram.sent(GROUP_CHAT)
        assert "I do not know the command /frobnicate" in answer.text
        private = await h.say(ALICE, ALICE, "/frobnicate")
        assert "/help" in private.text


async def test_a_flood_in_one_chat_does_not_delay_another(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    """Replies waiting in one chat's rate limiter used to hold all the shared update slots:
    after 60 messages from one user another user's /help waited 25 s."""
    # Ten commands a minute keeps the flood's own answers (and this test) short.
    async with running(tmp_path, telegram, commands_per_minute=10) as h:
        for n in range(60):
            telegram.push_message(BOB, BOB, f"/watches {n % 3 + 1}")
        await telegram.wait_until(lambda: len(telegram.sent(BOB)) >= 2)
        started = time.monotonic()
        answer = await h.say(ALICE, ALICE, "/help")
        waited = time.monotonic() - started
        assert answer.text.startswith("Commands:")
        # The defect held it for 25 s; a loaded machine may take a second or two anyway.
        assert waited < 5.0, f"/help waited {waited:.1f} s behind another chat's flood"
        # The flood itself gets its answers, one warning, and then silence.
        await telegram.wait_until(
            lambda: any("too fast" in m.text for m in telegram.sent(BOB)), timeout=30
        )
        await telegram.wait_until(lambda: telegram.pending_updates == [])
        assert len(telegram.sent(BOB)) == 11


# ----- shop text is data, never markup ------------------------------------------------------------

HOSTILE_TITLE = "<b>Deal</b> & <script>alert(1)</script>"
ESCAPED_TITLE = "&lt;b&gt;Deal&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"


def hostile_shop(price: dict[str, Decimal]) -> AbstractAsyncContextManager[str]:
    """A shop whose product is titled HOSTILE_TITLE; serves `price["now"]`."""
    return title_shop(HOSTILE_TITLE, price)


async def test_html_in_a_product_title_is_shown_literally(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    price = {"now": Decimal("20.00")}
    async with hostile_shop(price) as url, running(tmp_path, telegram) as h:
        confirmation = await h.say(ALICE, ALICE, f"/track {url}")
        assert HOSTILE_TITLE in confirmation.text
        assert confirmation.raw_text is not None and ESCAPED_TITLE in confirmation.raw_text
        assert "<script>" not in confirmation.raw_text
        heading = "Now tracking #1:"
        assert confirmation.entities == [{"type": "bold", "offset": 0, "length": len(heading)}]

        price["now"] = Decimal("15.00")
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        assert (await h.runtime.deliver_once()).sent == 1
        alert = telegram.sent(ALICE)[-1]
        headline = f"Price drop: {HOSTILE_TITLE}"
        assert alert.text.startswith(headline)
        assert alert.raw_text is not None
        assert alert.raw_text.startswith(f"<b>Price drop: {ESCAPED_TITLE}</b>")
        assert "<script>" not in alert.raw_text
        # The only markup Telegram found is our bold headline: the title's <b> is text.
        assert alert.entities == [{"type": "bold", "offset": 0, "length": len(headline)}]


# ----- delivery under pressure --------------------------------------------------------------------


async def test_a_429_storm_delays_alerts_but_delivers_each_once_in_order(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    slugs = ("first", "second", "third")
    shop = DemoShop({slug: ShopItem("kettle.html", Decimal("50.00")) for slug in slugs})
    shop.start()
    try:
        async with running(tmp_path, telegram) as h:
            for number, slug in enumerate(slugs, start=1):
                answer = await h.say(ALICE, ALICE, f"/track {shop.url(slug)}")
                assert answer.text.startswith(f"Now tracking #{number}:")
            # One drop per check cycle, so the outbox order is known: 40, then 30, then 20.
            for slug, new_price in zip(slugs, ("40.00", "30.00", "20.00"), strict=True):
                shop.set_price(slug, Decimal(new_price))
                h.next_interval()
                assert (await h.runtime.check_once()).alerts == 1

            # PTB's rate limiter retries a 429 twice itself; the third reaches the outbox.
            telegram.fail_next("sendMessage", 4, "429", chat_id=ALICE, retry_after=1)
            first = await h.runtime.deliver_once()
            assert (first.sent, first.retried) == (0, 1)
            # Before the retry time nothing may overtake the waiting first alert.
            assert (await h.runtime.deliver_once()).sent == 0
            h.clock.advance(seconds=2)
            assert (await h.runtime.deliver_once()).sent == 3
            h.clock.advance(seconds=60)
            assert (await h.runtime.deliver_once()).sent == 0
            rows = await h.outbox(ALICE)

        alerts = [m.text for m in telegram.sent(ALICE) if m.text.startswith("Price drop")]
        assert len(alerts) == 3
        for alert, (slug, new_price) in zip(
            alerts, zip(slugs, ("40.00", "30.00", "20.00"), strict=True), strict=True
        ):
            assert f"€50.00 → €{new_price}" in alert and shop.url(slug) in alert
        assert [row.status for row in rows] == ["sent"] * 3
        assert [row.attempts for row in rows] == [1, 1, 1]  # a 429 is not a failed attempt
    finally:
        shop.stop()


async def test_a_chat_that_blocked_the_bot_is_deactivated_and_gets_no_more_alerts(
    tmp_path: Path, telegram: FakeTelegram, shop: DemoShop
) -> None:
    async with running(tmp_path, telegram, alert_cooldown=0) as h:
        await h.say(ALICE, ALICE, f"/track {shop.url('kettle')}")  # 1
        await h.say(ALICE, ALICE, f"/track {shop.url('headphones')}")  # 2
        await h.say(BOB, BOB, f"/track {shop.url('kettle')}")  # 3
        shop.set_price("kettle", Decimal("45.00"))
        shop.set_price("headphones", Decimal("119.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 3

        telegram.block(ALICE)
        report = await h.runtime.deliver_once()
        assert (report.sent, report.undeliverable) == (1, 1)
        assert telegram.sent(BOB)[-1].text.startswith("Price drop: Stellar Glass Kettle")
        assert all(not m.text.startswith("Price drop") for m in telegram.sent(ALICE))

        closed = await h.outbox(ALICE)
        assert [row.status for row in closed] == ["undeliverable"] * 2
        assert all("blocked by the user" in row.error for row in closed)
        for watch_id in (1, 2):
            watch = await h.watch(watch_id)
            assert not watch.active and "blocked by the user" in watch.paused_reason
        [chat] = await h.rows(
            "SELECT active, inactive_reason FROM chats WHERE chat_id = :c", c=str(ALICE)
        )
        assert not chat.active and "blocked by the user" in chat.inactive_reason
        assert (await h.watch(3)).active

        # Later drops alert Bob only; nothing more is even tried in Alice's chat.
        calls_before = len(h.telegram.calls_to("sendMessage"))
        shop.set_price("kettle", Decimal("35.00"))
        shop.set_price("headphones", Decimal("99.00"))
        h.next_interval()
        report = await h.runtime.check_once()
        assert (report.checked, report.alerts) == (1, 1)  # headphones has no active watch
        assert (await h.runtime.deliver_once()).sent == 1
        assert len(await h.outbox(ALICE)) == 2
        new_calls = h.telegram.calls_to("sendMessage")[calls_before:]
        assert [call.params.get("chat_id") for call in new_calls] == [str(BOB)]


# ----- webhook mode -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def help_update(update_id: int) -> dict[str, Any]:
    user = {"id": ALICE, "is_bot": False, "first_name": "Alice"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": ALICE, "type": "private", "first_name": "Alice"},
            "from": user,
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


async def test_webhook_mode_sets_the_webhook_and_answers_posted_updates(
    tmp_path: Path, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    secret = "replicas-share-this_secret-42"
    telegram.add_chat(ALICE, first_name="Alice")
    async with (
        running(
            tmp_path,
            telegram,
            telegram_webhook_url="https://pricebot.example/telegram/hook",
            telegram_webhook_listen="127.0.0.1",
            telegram_webhook_port=port,
            telegram_webhook_secret=secret,
        ),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        assert telegram.webhook_url == "https://pricebot.example/telegram/hook"
        assert telegram.webhook_secret == secret
        assert telegram.calls_to("getUpdates") == []

        forged = await client.post(
            "/telegram/hook",
            json=help_update(1),
            headers={"X-Telegram-Bot-Api-Secret-Token": "guessed"},
        )
        assert forged.status_code == 403
        missing = await client.post("/telegram/hook", json=help_update(2))
        assert missing.status_code == 403

        accepted = await client.post(
            "/telegram/hook",
            json=help_update(3),
            headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        )
        assert accepted.status_code == 200
        answer = await telegram.wait_for_message(ALICE)
        assert answer.text.startswith("Commands:") and "/track" in answer.text
        assert len(telegram.sent(ALICE)) == 1  # the refused posts were never handled

    # Stopping a replica leaves the webhook set for the others.
    assert telegram.webhook_url == "https://pricebot.example/telegram/hook"
    assert secret not in caplog.text and TOKEN.split(":", 1)[1] not in caplog.text


def test_without_a_configured_secret_every_replica_derives_the_same_one() -> None:
    def settings(token: str) -> Any:
        return load_settings(
            telegram_token=token, telegram_webhook_url="https://pricebot.example/hook"
        )

    first, again = webhook_secret(settings(TOKEN)), webhook_secret(settings(TOKEN))
    assert first == again and TOKEN not in first and "TEST-TOKEN" not in first
    assert webhook_secret(settings("123456:OTHER-TOKEN")) != first
    assert len(first) <= 256 and first.isalnum()
