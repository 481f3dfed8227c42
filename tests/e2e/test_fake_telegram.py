"""The fake Telegram Bot API server, driven by a real telegram.Bot over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.fakes.telegram_server import FakeTelegram, HtmlParseError, parse_html

USER = 111
OTHER_USER = 222
GROUP = -100500


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.push_message(USER, USER, "hello", username="alice")
        server.push_message(OTHER_USER, OTHER_USER, "hi", username="bob")
        server.push_message(GROUP, USER, "hello group", chat_type="supergroup", title="Deals")
        yield server


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(
        telegram.token, base_url=telegram.base_url, base_file_url=telegram.base_file_url
    ) as real_bot:
        yield real_bot


async def test_get_me_answers_with_the_configured_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.username == "PricebotTestBot"
    assert me.is_bot


async def test_wrong_token_is_unauthorized(telegram: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("1:wrong", base_url=telegram.base_url):
            pass


async def test_send_message_is_recorded_and_returned_as_a_real_message(
    bot: Bot, telegram: FakeTelegram
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop:12")]])
    message = await bot.send_message(
        USER, "<b>Price</b> &lt;dropped&gt;", parse_mode=ParseMode.HTML, reply_markup=keyboard
    )

    assert message.text == "Price <dropped>"
    assert message.entities[0].type == "bold"
    assert (message.entities[0].offset, message.entities[0].length) == (0, 5)
    assert message.reply_markup == keyboard
    [sent] = telegram.sent(USER)
    assert sent.message_id == message.message_id
    assert sent.raw_text == "<b>Price</b> &lt;dropped&gt;"
    assert sent.parse_mode == "HTML"
    assert sent.buttons == [{"text": "Stop", "callback_data": "stop:12"}]
    assert telegram.sent(OTHER_USER) == []


async def test_message_ids_grow_per_chat(bot: Bot) -> None:
    first = await bot.send_message(USER, "one")
    second = await bot.send_message(USER, "two")
    assert second.message_id == first.message_id + 1


async def test_username_chat_ids_must_be_known(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.add_chat(-100777, "channel", title="Deals channel", username="dealsfeed")
    message = await bot.send_message("@dealsfeed", "hot deal")
    assert message.chat.id == -100777
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message("@nobody_here", "hello?")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "hello?")


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("Deal </b>", "Unexpected end tag at byte offset 5"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("Tom & Jerry", 'Unescaped "&" at byte offset 4'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("1 < 2", "Unexpected end of name token at byte offset 2"),
    ],
)
async def test_bad_html_is_refused_like_telegram(bot: Bot, html: str, problem: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(USER, html, parse_mode=ParseMode.HTML)
    # PTB drops the "Bad Request: " prefix and lower-cases the rest of the description.
    assert caught.value.message.startswith("Can't parse entities: ")
    assert problem.lower() in caught.value.message.lower()


def test_html_parser_counts_offsets_in_utf16_units() -> None:
    parsed = parse_html("😀 <i>x&amp;y</i> &#x27;q&#39; &quot;")
    assert parsed.text == "😀 x&y 'q' \""
    assert parsed.entities == [{"type": "italic", "offset": 3, "length": 3}]
    with pytest.raises(HtmlParseError, match="byte offset 5"):
        parse_html("😀 <br>")


async def test_text_limits_are_checked_after_entity_parsing(bot: Bot) -> None:
    # 4096 visible characters pass even though the markup makes the request longer.
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    # An emoji outside the BMP is two UTF-16 units, as Telegram counts it.
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4095 + "😀")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "<b> </b>", parse_mode=ParseMode.HTML)


async def test_callback_data_over_64_bytes_is_refused(bot: Bot) -> None:
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "buttons", reply_markup=too_long)


async def test_inline_keyboard_shape_is_checked(telegram: FakeTelegram) -> None:
    url = f"{telegram.base_url}{telegram.token}/sendMessage"
    two_kinds = {"text": "x", "url": "https://a.example", "callback_data": "a"}
    bad_markups = {
        '{"inline_keyboard": [{"text": "x", "callback_data": "a"}]}': "Array of Arrays",
        '{"inline_keyboard": [[{"text": "x"}]]}': "Text buttons are unallowed",
        '{"inline_keyboard": [[{"text": "x", "url": "javascript:alert(1)"}]]}': "Wrong HTTP URL",
        json.dumps({"inline_keyboard": [[two_kinds]]}): "exactly one",
    }
    async with httpx.AsyncClient() as client:
        for markup, problem in bad_markups.items():
            answer = await client.post(
                url, data={"chat_id": str(USER), "text": "t", "reply_markup": markup}
            )
            assert answer.status_code == 400
            body = answer.json()
            assert body["ok"] is False and body["error_code"] == 400
            assert problem in body["description"]
    assert telegram.sent(USER) == []


async def test_edit_message_text_and_markup(bot: Bot, telegram: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop:1")]])
    message = await bot.send_message(USER, "before", reply_markup=keyboard)

    edited = await bot.edit_message_text(
        "<i>after</i>", chat_id=USER, message_id=message.message_id, parse_mode="HTML"
    )
    assert edited.text == "after"
    # Telegram drops the keyboard when the edit does not repeat it.
    assert "reply_markup" not in telegram.message(USER, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<i>after</i>", chat_id=USER, message_id=message.message_id, parse_mode="HTML"
        )
    await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=keyboard)
    assert telegram.message(USER, message.message_id)["reply_markup"] == keyboard.to_dict()
    assert [e.method for e in telegram.edits] == ["editMessageText", "editMessageReplyMarkup"]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_user_messages_cannot_be_edited_by_the_bot(bot: Bot, telegram: FakeTelegram) -> None:
    update = telegram.push_message(USER, USER, "mine")
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_text(
            "yours now", chat_id=USER, message_id=update["message"]["message_id"]
        )


async def test_429_is_retry_after_with_the_servers_delay(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", 1, "429", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "flood")
    assert "Retry in 7" in str(caught.value)
    await bot.send_message(USER, "later")
    assert [m.text for m in telegram.sent(USER)] == ["later"]


async def test_403_per_chat_only_hits_that_chat(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", 1, "403", chat_id=OTHER_USER)
    await bot.send_message(USER, "fine")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(OTHER_USER, "blocked")
    await bot.send_message(OTHER_USER, "fine again")


async def test_403_globally_and_blocked_chats(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", 2, "403")
    for chat in (USER, OTHER_USER):
        with pytest.raises(Forbidden):
            await bot.send_message(chat, "x")
    telegram.block(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "x")
    telegram.block(GROUP)
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(GROUP, "x")
    await bot.send_message(OTHER_USER, "still fine")


async def test_server_errors_are_network_errors(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", 1, "502")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(USER, "x")


async def test_get_updates_long_poll_wakes_on_a_new_update(
    bot: Bot, telegram: FakeTelegram
) -> None:
    backlog = await bot.get_updates(timeout=0)
    offset = backlog[-1].update_id + 1

    loop = asyncio.get_running_loop()
    started = loop.time()
    loop.call_later(0.2, telegram.push_message, USER, USER, "/track https://shop.example/a")
    updates = await bot.get_updates(offset=offset, timeout=5)
    elapsed = loop.time() - started

    assert 0.15 < elapsed < 2
    [update] = updates
    assert update.message.text == "/track https://shop.example/a"
    assert [e.type for e in update.message.entities] == ["bot_command", "url"]


async def test_get_updates_honours_timeout_and_forgets_confirmed(
    bot: Bot, telegram: FakeTelegram
) -> None:
    backlog = await bot.get_updates(timeout=0)
    assert len(backlog) == 3
    # Updates stay until an offset past them confirms them.
    assert len(await bot.get_updates(timeout=0)) == 3
    assert len(await bot.get_updates(offset=backlog[1].update_id, timeout=0)) == 2
    assert len(telegram.pending_updates) == 2

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(offset=backlog[-1].update_id + 1, timeout=1) == ()
    assert loop.time() - started >= 0.9
    assert telegram.pending_updates == []


async def test_a_second_poller_terminates_the_first(bot: Bot, telegram: FakeTelegram) -> None:
    await bot.get_updates(offset=-1, timeout=0)
    await bot.get_updates(offset=telegram.pending_updates[-1]["update_id"] + 1, timeout=0)
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await telegram.wait_until(lambda: len(telegram.calls_to("getUpdates")) == 3)
    # A Bot has one getUpdates connection, so the rival poller is a second bot process.
    async with Bot(telegram.token, base_url=telegram.base_url) as rival:
        await rival.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await first


async def test_callback_queries_are_answered_once(bot: Bot, telegram: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop:3")]])
    message = await bot.send_message(USER, "alert", reply_markup=keyboard)
    await bot.get_updates(offset=-1, timeout=0)
    await bot.get_updates(offset=telegram.pending_updates[-1]["update_id"] + 1, timeout=0)

    query_id = telegram.push_callback(USER, USER, message.message_id, "stop:3")
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert (query.id, query.data, query.from_user.id) == (query_id, "stop:3", USER)
    assert query.message.message_id == message.message_id

    assert await query.answer("Stopped")
    assert telegram.answered_callbacks[0].text == "Stopped"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()


async def test_send_photo_and_document_upload_multipart(bot: Bot, telegram: FakeTelegram) -> None:
    png = tiny_png(3, 2)
    message = await bot.send_photo(USER, png, caption="<b>Chart</b>", parse_mode="HTML")
    assert message.caption == "Chart"
    assert (message.photo[-1].width, message.photo[-1].height) == (3, 2)
    [sent] = telegram.sent(USER)
    assert sent.method == "sendPhoto" and sent.file is not None and sent.file.data == png

    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(USER, png, caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, b"not an image")

    document = await bot.send_document(USER, b"a,b\n1,2\n", filename="prices.csv")
    assert document.document.file_name == "prices.csv"
    assert telegram.sent(USER)[-1].file.data == b"a,b\n1,2\n"


async def test_set_my_commands_records_each_scope(bot: Bot, telegram: FakeTelegram) -> None:
    await bot.set_my_commands(
        [BotCommand("track", "Track a product")], scope=BotCommandScopeAllPrivateChats()
    )
    await bot.set_my_commands(
        [BotCommand("feed", "Deal feed")], scope=BotCommandScopeAllGroupChats()
    )
    assert telegram.commands("all_private_chats") == [("track", "Track a product")]
    assert telegram.commands("all_group_chats") == [("feed", "Deal feed")]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Not-Valid", "x")])


async def test_get_chat_member_knows_admins(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.make_admin(GROUP, USER)
    telegram.push_message(GROUP, OTHER_USER, "me too", chat_type="supergroup")
    admin = await bot.get_chat_member(GROUP, USER)
    member = await bot.get_chat_member(GROUP, OTHER_USER)
    assert admin.status == ChatMember.ADMINISTRATOR
    assert member.status == ChatMember.MEMBER


async def test_topic_messages_carry_their_thread(bot: Bot, telegram: FakeTelegram) -> None:
    forum = -100900
    update = telegram.push_message(forum, USER, "/watches", "supergroup", message_thread_id=5)
    assert update["message"]["is_topic_message"] is True
    message = await bot.send_message(forum, "in topic", message_thread_id=5)
    assert message.message_thread_id == 5
    assert telegram.sent(forum)[0].message_thread_id == 5
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(USER, "no topics here", message_thread_id=5)


async def test_hang_makes_the_client_time_out(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", 1, "hang", delay=2)
    with pytest.raises(NetworkError):  # telegram.error.TimedOut is a NetworkError
        await bot.send_message(USER, "slow", read_timeout=0.3)
