"""Sends a rendered Reply through a telegram.Bot: text parts, photos, topic threads."""

from __future__ import annotations

import re

from telegram import Bot, Message
from telegram.constants import ParseMode

from adapters.telegram.render import PhotoPart, TextPart, render_reply
from core.reply import Reply

CHART_FILENAME = "chart.png"


def telegram_chat_id(chat_id: str) -> int | str:
    """ChatAddress.chat_id as the Bot API wants it: an integer, or a channel's @username."""
    if re.fullmatch(r"-?[0-9]+", chat_id):
        return int(chat_id)
    if chat_id.startswith("@"):
        return chat_id
    raise ValueError(f"not a Telegram chat id: {chat_id!r}")


def telegram_thread_id(thread_id: str | None) -> int | None:
    return int(thread_id) if thread_id else None


async def send_reply(
    bot: Bot, chat_id: int | str, reply: Reply, *, message_thread_id: int | None = None
) -> list[Message]:
    """Sends every part of `reply` in order; returns the sent messages (keyboard on the last).

    Raises render.RenderError before anything is sent, or telegram.error.TelegramError.
    """
    sent: list[Message] = []
    for part in render_reply(reply):
        if isinstance(part, PhotoPart):
            sent.append(
                await bot.send_photo(
                    chat_id,
                    photo=part.png,
                    filename=CHART_FILENAME,
                    caption=part.caption_html,
                    parse_mode=ParseMode.HTML if part.caption_html else None,
                    reply_markup=part.reply_markup,
                    message_thread_id=message_thread_id,
                )
            )
        else:
            assert isinstance(part, TextPart)
            sent.append(
                await bot.send_message(
                    chat_id,
                    part.html,
                    parse_mode=ParseMode.HTML,
                    reply_markup=part.reply_markup,
                    message_thread_id=message_thread_id,
                )
            )
    return sent
