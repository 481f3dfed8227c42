"""The Telegram adapter end to end: the real PTB Application polling the fake Bot API server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telegram import Bot, Update
from telegram.error import TimedOut
from telegram.ext import Application
from telegram.request import HTTPXRequest

from adapters.chat_text import split_text, utf16_units
from adapters.redact import REDACTED, install_token_redaction
from adapters.telegram.app import (
    ChatFairUpdateProcessor,
    ChatRateLimiter,
    build_application,
    build_bot,
    file_url_for,
    quiet_stop,
    register_commands,
)
from adapters.telegram.notifier import TelegramNotifier
from adapters.telegram.render import PhotoPart, RenderError, TextPart, render_reply
from core.chat.dispatcher import APOLOGY
from core.errors import ChatGone, RateLimited, TransientDeliveryError
from core.model import ChatAddress, ChatContext, ChatKind, UserRef
from core.reply import Button, Reply
from tests.fakes.front_door import GROUP_COMMANDS, PRIVATE_COMMANDS, RecordingFrontDoor
from tests.fakes.telegram_server import FakeTelegram, SentMessage, parse_html
from tests.fakes.title_shop import tiny_png

ALICE = 111
BOB = 222
GROUP = -100200
FORUM = -100300


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def front_door() -> RecordingFrontDoor:
    return RecordingFrontDoor()


@asynccontextmanager
async def running_bot(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> AsyncIterator[Application]:
    """The Application as bot/runtime.py runs it: initialize, start, poll; then stop it all."""
    application = build_application(build_bot(telegram.token, telegram.base_url), front_door)
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


def visible(message: SentMessage) -> str:
    return message.text


# ----- messages in, replies out -----------------------------------------------------------------


async def test_private_track_reaches_the_front_door_and_the_reply_arrives(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    front_door.reply_to(
        "track",
        Reply.say(
            "Tracking Blue Kettle",
            "Now €30.00, in stock. I will tell you when it drops.",
            buttons=(Button("Stop tracking", action="stop:12"),),
        ),
    )
    async with running_bot(telegram, front_door):
        telegram.push_message(
            ALICE, ALICE, "/track https://shop.example/kettle 25", first_name="Alice"
        )
        reply = await telegram.wait_for_message(ALICE)

    [(ctx, text)] = front_door.texts
    assert text == "/track https://shop.example/kettle 25"
    assert ctx == ChatContext(
        user=UserRef("telegram", str(ALICE), "Alice"),
        address=ChatAddress("telegram", str(ALICE), None),
        chat_kind=ChatKind.PRIVATE,
    )
    assert reply.text == (
        "Tracking Blue Kettle\n\nNow €30.00, in stock. I will tell you when it drops."
    )
    assert reply.parse_mode == "HTML"
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 20}]
    assert reply.buttons == [{"text": "Stop tracking", "callback_data": "stop:12"}]
    assert reply.message_thread_id is None
    assert telegram.calls_to("getChatMember") == []


async def test_a_bare_link_in_private_goes_to_the_front_door(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    front_door.reply_to("", Reply.say("Track this?", buttons=(Button("Track it", action="t:1"),)))
    async with running_bot(telegram, front_door):
        telegram.push_message(ALICE, ALICE, "https://shop.example/kettle")
        reply = await telegram.wait_for_message(ALICE)
    assert [text for _, text in front_door.texts] == ["https://shop.example/kettle"]
    assert reply.buttons == [{"text": "Track it", "callback_data": "t:1"}]


async def test_group_commands_addressed_to_this_bot_work_and_others_are_ignored(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    front_door.reply_to("watches", Reply.say("No watches in this group yet."))
    async with running_bot(telegram, front_door):
        telegram.push_message(GROUP, ALICE, "/watches@SomeOtherBot", chat_type="group")
        telegram.push_message(GROUP, ALICE, "just chatting about kettles", chat_type="group")
        telegram.push_message(GROUP, ALICE, "/watches@PricebotTestBot", chat_type="group")
        reply = await telegram.wait_for_message(GROUP)
        # Give the two ignored updates every chance to (wrongly) produce a reply.
        await telegram.wait_until(lambda: telegram.pending_updates == [])

    assert reply.text == "No watches in this group yet."
    assert len(telegram.sent(GROUP)) == 1
    [(ctx, text)] = front_door.texts
    assert text == "/watches@PricebotTestBot"
    assert ctx.chat_kind is ChatKind.GROUP
    assert ctx.address == ChatAddress("telegram", str(GROUP), None)
    assert ctx.user.user_id == str(ALICE)


async def test_a_forum_topic_gets_its_reply_in_the_same_topic(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    async with running_bot(telegram, front_door):
        telegram.push_message(FORUM, ALICE, "/watches", "supergroup", message_thread_id=77)
        reply = await telegram.wait_for_message(FORUM)
    assert reply.message_thread_id == 77
    [(ctx, _)] = front_door.texts
    assert ctx.address == ChatAddress("telegram", str(FORUM), "77")
    assert ctx.chat_kind is ChatKind.GROUP


async def test_only_commands_needing_an_admin_ask_telegram_whether_the_sender_is_one(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    telegram.add_chat(GROUP, "supergroup", title="Deals")
    telegram.make_admin(GROUP, ALICE)
    async with running_bot(telegram, front_door):
        telegram.push_message(GROUP, ALICE, "/feed on 20", chat_type="supergroup")
        telegram.push_message(GROUP, BOB, "/feed@PricebotTestBot off", chat_type="supergroup")
        telegram.push_message(GROUP, ALICE, "/watches", chat_type="supergroup")
        await telegram.wait_until(lambda: len(telegram.sent(GROUP)) == 3)

    assert sorted(front_door.admin_answers) == [(str(ALICE), True), (str(BOB), False)]
    assert len(front_door.contexts_for("watches")) == 1
    assert len(telegram.calls_to("getChatMember")) == 2


async def test_shop_text_is_escaped_and_accepted_by_telegrams_html_parser(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    title = "<b>Deal</b> & <script>"
    front_door.reply_to("watches", Reply.say(title, "1. <i>Kettle</i> & Co — €30"))
    async with running_bot(telegram, front_door):
        telegram.push_message(ALICE, ALICE, "/watches")
        reply = await telegram.wait_for_message(ALICE)

    # The fake's strict HTML parser accepted it, and users see the title literally.
    assert reply.text == f"{title}\n\n1. <i>Kettle</i> & Co — €30"
    assert reply.raw_text is not None and "<script>" not in reply.raw_text
    assert "&lt;b&gt;Deal&lt;/b&gt; &amp; &lt;script&gt;" in reply.raw_text
    # The only markup is the heading's own bold.
    assert reply.entities == [{"type": "bold", "offset": 0, "length": len(title)}]


async def test_a_long_reply_arrives_in_parts_within_the_limit(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    paragraphs = tuple(f"{n:02d}. Kettle & <co> " + "x" * 80 for n in range(60))
    long_reply = Reply.say("Your watches", *paragraphs, buttons=(Button("Next ›", action="p:2"),))
    assert len(long_reply.text) > 6000
    front_door.reply_to("watches", long_reply)
    async with running_bot(telegram, front_door):
        telegram.push_message(ALICE, ALICE, "/watches")
        await telegram.wait_until(
            lambda: sum(len(m.text) for m in telegram.sent(ALICE)) >= len(long_reply.text) - 10
        )

    parts = telegram.sent(ALICE)
    assert len(parts) == 2
    assert all(utf16_units(m.text) <= 4096 for m in parts)
    # Cut at a paragraph boundary, nothing lost, keyboard only under the last part.
    assert "\n\n".join(m.text for m in parts) == long_reply.text
    assert [m.buttons for m in parts] == [[], [{"text": "Next ›", "callback_data": "p:2"}]]


async def test_a_failing_handler_apologises_and_the_bot_keeps_working(
    telegram: FakeTelegram, front_door: RecordingFrontDoor, caplog: pytest.LogCaptureFixture
) -> None:
    front_door.reply_to("track", RuntimeError("database exploded"))
    async with running_bot(telegram, front_door):
        telegram.push_message(ALICE, ALICE, "/track https://shop.example/x")
        apology = await telegram.wait_for_message(ALICE)
        telegram.push_message(ALICE, ALICE, "/watches")
        await telegram.wait_for_message(ALICE, lambda m: m.text.startswith("you said"))
    assert apology.text == APOLOGY
    assert "database exploded" in caplog.text  # logged for the operator, not shown to the user


# ----- buttons ----------------------------------------------------------------------------------


async def test_a_button_press_calls_the_front_door_answers_and_edits_the_message(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    front_door.reply_to(
        "watches",
        Reply.say("Blue Kettle", "€30.00", buttons=(Button("Stop tracking", action="stop:12"),)),
    )
    front_door.reply_to_action("stop:12", Reply.say("Stopped tracking Blue Kettle."))
    async with running_bot(telegram, front_door):
        telegram.push_message(FORUM, ALICE, "/watches", "supergroup", message_thread_id=5)
        alert = await telegram.wait_for_message(FORUM)
        query_id = telegram.push_callback(FORUM, BOB, alert.message_id, "stop:12")
        await telegram.wait_until(lambda: telegram.edits)

    [(ctx, action)] = front_door.actions
    assert action == "stop:12"
    assert ctx.user == UserRef("telegram", str(BOB), f"User{BOB}")
    assert ctx.address == ChatAddress("telegram", str(FORUM), "5")
    assert [a.callback_query_id for a in telegram.answered_callbacks] == [query_id]
    [edit] = telegram.edits
    assert (edit.chat_id, edit.message_id) == (FORUM, alert.message_id)
    assert edit.text == "Stopped tracking Blue Kettle."
    assert telegram.message(FORUM, alert.message_id).get("reply_markup") is None


async def test_an_error_reply_to_a_button_is_shown_as_an_alert_and_keeps_the_message(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    front_door.reply_to(
        "watches", Reply.say("Blue Kettle", buttons=(Button("Chart", action="chart:9"),))
    )
    front_door.reply_to_action("chart:9", Reply.error("That watch is not yours."))
    async with running_bot(telegram, front_door):
        telegram.push_message(ALICE, ALICE, "/watches")
        alert = await telegram.wait_for_message(ALICE)
        telegram.push_callback(ALICE, ALICE, alert.message_id, "chart:9")
        await telegram.wait_until(lambda: telegram.answered_callbacks)
    [answer] = telegram.answered_callbacks
    assert (answer.text, answer.show_alert) == ("That watch is not yours.", True)
    assert telegram.edits == []


async def test_a_chart_reply_to_a_button_is_sent_as_a_photo_in_the_topic(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    front_door.reply_to(
        "watches", Reply.say("Blue Kettle", buttons=(Button("Chart", action="chart:9"),))
    )
    chart = Reply(("Blue Kettle, 30 days", "Low €25.00 · High €35.00"), image_png=tiny_png())
    front_door.reply_to_action("chart:9", chart)
    async with running_bot(telegram, front_door):
        telegram.push_message(FORUM, ALICE, "/watches", "supergroup", message_thread_id=3)
        alert = await telegram.wait_for_message(FORUM)
        telegram.push_callback(FORUM, ALICE, alert.message_id, "chart:9")
        photo = await telegram.wait_for_message(FORUM, lambda m: m.method == "sendPhoto")
    assert photo.text == "Blue Kettle, 30 days\n\nLow €25.00 · High €35.00"
    assert photo.message_thread_id == 3
    assert photo.file is not None and photo.file.data == chart.image_png
    assert len(telegram.answered_callbacks) == 1


# ----- notifier ---------------------------------------------------------------------------------


async def test_notifier_sends_to_the_address_and_returns_the_last_message_id(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    telegram.add_chat(FORUM, "supergroup", is_forum=True)
    async with running_bot(telegram, front_door) as application:
        notifier = TelegramNotifier(application.bot)
        message_id = await notifier.send(
            ChatAddress("telegram", str(FORUM), "9"), Reply.say("Price drop", "€20")
        )
    [sent] = telegram.sent(FORUM)
    assert message_id == str(sent.message_id)
    assert sent.message_thread_id == 9
    assert notifier.platform == "telegram"


async def test_notifier_maps_telegram_errors_to_core_delivery_errors(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    telegram.add_chat(ALICE)
    telegram.add_chat(BOB)
    alice = ChatAddress("telegram", str(ALICE))
    async with running_bot(telegram, front_door) as application:
        notifier = TelegramNotifier(application.bot)
        # The rate limiter retries RetryAfter twice itself; the third 429 reaches the notifier.
        telegram.fail_next("sendMessage", 3, "429", retry_after=1)
        with pytest.raises(RateLimited) as limited:
            await notifier.send(alice, Reply.say("drop"))
        assert limited.value.retry_after == 1.0

        telegram.block(BOB)
        with pytest.raises(ChatGone):
            await notifier.send(ChatAddress("telegram", str(BOB)), Reply.say("drop"))
        with pytest.raises(ChatGone):
            await notifier.send(ChatAddress("telegram", "-100999"), Reply.say("unknown chat"))

        telegram.fail_next("sendMessage", 1, "502")
        with pytest.raises(TransientDeliveryError):
            await notifier.send(alice, Reply.say("drop"))
        # A button Telegram would refuse is not sent at all.
        too_long = Reply.say("x", buttons=(Button("Stop", action="s" * 65),))
        with pytest.raises(TransientDeliveryError, match="64"):
            await notifier.send(alice, too_long)

        assert await notifier.send(alice, Reply.say("finally"))
    assert [m.text for m in telegram.sent(ALICE)] == ["finally"]
    assert len(telegram.calls_to("sendMessage")) == 3 + 1 + 1 + 1 + 1


async def test_notifier_maps_a_timeout_to_a_transient_error(telegram: FakeTelegram) -> None:
    telegram.add_chat(ALICE)
    impatient = HTTPXRequest(read_timeout=0.3)
    async with Bot(telegram.token, base_url=telegram.base_url, request=impatient) as bot:
        telegram.fail_next("sendMessage", 1, "hang", delay=3)
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await TelegramNotifier(bot).send(ChatAddress("telegram", str(ALICE)), Reply.say("x"))


async def test_register_commands_sets_both_scopes(
    telegram: FakeTelegram, front_door: RecordingFrontDoor
) -> None:
    async with running_bot(telegram, front_door) as application:
        await register_commands(application.bot, front_door.registry)
    assert telegram.commands("all_private_chats") == PRIVATE_COMMANDS
    assert telegram.commands("all_group_chats") == GROUP_COMMANDS


# ----- rate limiting and logs -------------------------------------------------------------------


async def test_private_chats_are_held_to_about_one_message_a_second(
    telegram: FakeTelegram,
) -> None:
    for user in (ALICE, BOB, 333):
        telegram.add_chat(user)
    limiter = ChatRateLimiter(private_chat_burst=1, private_chat_period=0.25)
    application = (
        Application.builder()
        .token(telegram.token)
        .base_url(telegram.base_url)
        .rate_limiter(limiter)
        .build()
    )
    loop = asyncio.get_running_loop()
    async with application:
        started = loop.time()
        await asyncio.gather(*(application.bot.send_message(u, "x") for u in (ALICE, BOB, 333)))
        different_chats = loop.time() - started
        started = loop.time()
        await asyncio.gather(*(application.bot.send_message(ALICE, "x") for _ in range(3)))
        same_chat = loop.time() - started
    assert different_chats < 0.2
    assert same_chat >= 0.45


async def test_the_token_never_reaches_the_logs(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    redaction = install_token_redaction(telegram.token)
    try:
        telegram.add_chat(ALICE)
        async with Bot(telegram.token, base_url=telegram.base_url) as bot:
            await bot.send_message(ALICE, "hello")
        try:
            raise RuntimeError(f"POST {telegram.base_url}{telegram.token}/sendMessage failed")
        except RuntimeError:
            logging.getLogger("telegram.ext.Application").exception("request failed")
    finally:
        redaction.detach()

    secret = telegram.token.split(":", 1)[1]
    assert f"127.0.0.1:{telegram.port}/bot{REDACTED}/sendMessage" in caplog.text
    assert "Set Bot API URL" in caplog.text  # PTB's own DEBUG line with the URL was captured
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in (record.exc_text or "")


# ----- rendering (no I/O) -----------------------------------------------------------------------


def test_rendered_html_is_accepted_by_telegrams_parser_for_hostile_text() -> None:
    hostile = '<a href="javascript:x">&amp;</a> &nbsp; </b> < > " \' 😀'
    [part] = render_reply(Reply.say(hostile, hostile))
    assert isinstance(part, TextPart)
    parsed = parse_html(part.html)
    assert parsed.text == f"{hostile}\n\n{hostile}"
    assert parsed.entities == [{"type": "bold", "offset": 0, "length": utf16_units(hostile)}]


def test_error_replies_and_single_blocks_get_no_heading() -> None:
    [error] = render_reply(Reply.error("Nope"))
    [single] = render_reply(Reply.say("Just one block"))
    assert isinstance(error, TextPart) and error.html == "Nope"
    assert isinstance(single, TextPart) and single.html == "Just one block"


def test_split_never_cuts_a_surrogate_pair_or_an_entity() -> None:
    text = "😀" * 2500 + " & " * 10
    pieces = split_text(text, 4096)
    assert all(utf16_units(p) <= 4096 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    parts = render_reply(Reply.say("&" * 5000))
    for part in parts:
        assert isinstance(part, TextPart)
        assert utf16_units(parse_html(part.html).text) <= 4096  # escaped parts still parse


def test_split_prefers_line_boundaries() -> None:
    lines = [f"line {n} " + "y" * 50 for n in range(200)]
    pieces = split_text("\n".join(lines), 4096)
    assert len(pieces) == 3
    assert all(piece.split("\n")[-1] in lines for piece in pieces)


def test_image_reply_uses_a_caption_when_short_and_a_separate_text_when_long() -> None:
    png = tiny_png()
    buttons = (Button("Open", url="https://shop.example/kettle"),)
    [photo] = render_reply(Reply(("Chart", "Low €25"), buttons, image_png=png))
    assert isinstance(photo, PhotoPart)
    assert photo.caption_html == "<b>Chart</b>\n\nLow €25" and photo.reply_markup is not None

    long_parts = render_reply(Reply(("Chart", "z" * 1100), buttons, image_png=png))
    assert isinstance(long_parts[0], PhotoPart) and long_parts[0].caption_html is None
    assert isinstance(long_parts[1], TextPart) and long_parts[1].reply_markup is not None


@pytest.mark.parametrize(
    "button",
    [
        Button("Stop", action="é" * 33),  # 66 bytes
        Button("Both", url="https://a.example", action="x"),
        Button("Neither"),
        Button("Script", url="javascript:alert(1)"),
        Button("   ", action="x"),
    ],
)
def test_buttons_telegram_would_refuse_are_refused(button: Button) -> None:
    with pytest.raises(RenderError):
        render_reply(Reply.say("text", buttons=(button,)))


def test_keyboard_rows_hold_two_buttons() -> None:
    buttons = tuple(Button(f"b{n}", action=f"a:{n}") for n in range(4))
    [part] = render_reply(Reply.say("Alert", buttons=buttons))
    assert part.reply_markup is not None
    assert [len(row) for row in part.reply_markup.inline_keyboard] == [2, 2]


def test_file_url_sits_next_to_the_api_url() -> None:
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("http://127.0.0.1:81/bot") == "http://127.0.0.1:81/file/bot"


# ----- fairness ---------------------------------------------------------------------------------


def _update(chat_id: int, update_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "U"},
                "text": "/watches",
            },
        },
        None,
    )


async def test_one_chats_waiting_updates_hold_one_slot_not_all() -> None:
    """Updates of a chat whose replies wait (in its rate limiter) used to take every shared
    slot, so nobody else was answered until they were sent."""
    processor = ChatFairUpdateProcessor(concurrency=4)
    await processor.initialize()
    release = asyncio.Event()
    alice_started = asyncio.Event()
    started: list[int] = []

    async def waits_to_send(chat_id: int) -> None:
        started.append(chat_id)
        if chat_id == ALICE:
            alice_started.set()
        await release.wait()

    flood = [
        asyncio.create_task(processor.process_update(_update(BOB, n), waits_to_send(BOB)))
        for n in range(100)
    ]
    other = asyncio.create_task(processor.process_update(_update(ALICE, 500), waits_to_send(ALICE)))
    # Bob's chat holds one slot (its updates run one at a time); Alice's starts while all
    # of Bob's still wait.
    await asyncio.wait_for(alice_started.wait(), 5)
    assert started == [BOB, ALICE]
    release.set()
    await asyncio.gather(*flood, other)
    assert started.count(BOB) == 100
    await processor.shutdown()


def test_errors_while_stopping_are_one_line_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PTB logs a failed last getUpdates (it only confirms handled updates) with a traceback."""
    updater_log = logging.getLogger("telegram.ext.Updater")
    with quiet_stop():
        try:
            raise TimedOut("Pool timeout: All connections in the connection pool are occupied.")
        except TimedOut:
            updater_log.exception(
                "Error while calling `get_updates` one more time to mark all fetched updates "
                "as read: %s. Suppressing error to ensure graceful shutdown.",
                "x",
            )
    [record] = [r for r in caplog.records if r.name == "telegram.ext.Updater"]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "\n" not in caplog.text.strip() and "TimedOut: Pool timeout" in record.getMessage()
