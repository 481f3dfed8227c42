"""Reply -> Telegram messages: escaped HTML parts within the size limits, keyboards, photos."""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from adapters.chat_text import split_text, utf16_units
from core.reply import Button, Reply

MAX_TEXT_UNITS = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096, counted after entity parsing
MAX_CAPTION_UNITS = int(MessageLimit.CAPTION_LENGTH)  # 1024
MAX_CALLBACK_DATA_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64
MAX_HEADING_CHARS = 200
BUTTONS_PER_ROW = 2
_BUTTON_URL_SCHEMES = ("http", "https", "tg")


class RenderError(ValueError):
    """A Reply that Telegram would refuse (e.g. a button action over 64 bytes): never sent."""


@dataclass(frozen=True, slots=True)
class TextPart:
    """One sendMessage: HTML text (parse_mode HTML) and the keyboard, if this part carries it."""

    html: str
    reply_markup: InlineKeyboardMarkup | None = None


@dataclass(frozen=True, slots=True)
class PhotoPart:
    """One sendPhoto: PNG bytes with an optional HTML caption and keyboard."""

    png: bytes
    caption_html: str | None = None
    reply_markup: InlineKeyboardMarkup | None = None


RenderedPart = TextPart | PhotoPart


def render_reply(
    reply: Reply,
    *,
    text_limit: int = MAX_TEXT_UNITS,
    caption_limit: int = MAX_CAPTION_UNITS,
) -> list[RenderedPart]:
    """The messages that show `reply`, in sending order; the keyboard rides on the last one.

    Blocks are plain text from shops and users, so every character is escaped; markup is only
    ever added here (the bold heading). Raises RenderError for a reply Telegram would refuse.
    """
    keyboard = keyboard_for(reply.buttons)
    heading = _heading(reply)
    text = reply.text.strip()
    if reply.image_png is not None:
        if not text:
            return [PhotoPart(reply.image_png, None, keyboard)]
        if utf16_units(text) <= caption_limit:
            return [PhotoPart(reply.image_png, _to_html(text, heading), keyboard)]
        photo: list[RenderedPart] = [PhotoPart(reply.image_png)]
        return photo + _text_parts(text, heading, keyboard, text_limit)
    if not text:
        raise RenderError("a reply needs text or an image")
    return _text_parts(text, heading, keyboard, text_limit)


def keyboard_for(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """Inline keyboard, BUTTONS_PER_ROW buttons a row; RenderError for a button Telegram refuses."""
    if not buttons:
        return None
    telegram_buttons = [_inline_button(button) for button in buttons]
    rows = [
        telegram_buttons[start : start + BUTTONS_PER_ROW]
        for start in range(0, len(telegram_buttons), BUTTONS_PER_ROW)
    ]
    return InlineKeyboardMarkup(rows)


def _inline_button(button: Button) -> InlineKeyboardButton:
    label = button.label.strip()
    if not label:
        raise RenderError("a button needs a label")
    if (button.url is None) == (button.action is None):
        raise RenderError(f"button {label!r} needs exactly one of url and action")
    if button.action is not None:
        size = len(button.action.encode("utf-8"))
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            # Telegram would refuse the whole message (BUTTON_DATA_INVALID); a cut action
            # would do the wrong thing when pressed, so neither is sent.
            raise RenderError(
                f"button {label!r}: action is {size} bytes, Telegram allows "
                f"1..{MAX_CALLBACK_DATA_BYTES}"
            )
        return InlineKeyboardButton(label, callback_data=button.action)
    assert button.url is not None
    parts = urlsplit(button.url)
    if parts.scheme not in _BUTTON_URL_SCHEMES or not (parts.netloc or parts.path):
        raise RenderError(f"button {label!r}: Telegram only opens http(s) and tg links")
    return InlineKeyboardButton(label, url=button.url)


def _heading(reply: Reply) -> str | None:
    """The first block, shown bold, when it reads as a title: one short line followed by more."""
    if reply.is_error or len(reply.blocks) < 2:
        return None
    first = reply.blocks[0].strip()
    if not first or "\n" in first or len(first) > MAX_HEADING_CHARS:
        return None
    return first


def _to_html(plain: str, heading: str | None) -> str:
    if heading and plain.startswith(heading):
        rest = plain[len(heading) :]
        return f"<b>{html.escape(heading)}</b>{html.escape(rest)}"
    return html.escape(plain)


def _text_parts(
    text: str, heading: str | None, keyboard: InlineKeyboardMarkup | None, limit: int
) -> list[RenderedPart]:
    # Splitting the plain text (before escaping) means a cut can never fall inside a tag or
    # an &entity;, and the limit applies to what users see, which is what Telegram counts.
    chunks = split_text(text, limit)
    parts: list[RenderedPart] = []
    for index, chunk in enumerate(chunks):
        is_last = index == len(chunks) - 1
        parts.append(
            TextPart(
                _to_html(chunk, heading if index == 0 else None),
                keyboard if is_last else None,
            )
        )
    return parts
