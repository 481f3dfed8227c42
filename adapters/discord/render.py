"""Reply -> Discord messages: escaped embeds within every size limit, a chart, button specs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import discord

from adapters.chat_text import longest_prefix, split_text, utf16_units
from core.reply import Button, Reply

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
# Lengths are counted in UTF-16 units, which is never less than what Discord counts.
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_EMBED_TOTAL = 6000  # every embed of one message together
MAX_EMBEDS = 10  # per message
MAX_BUTTONS = 25  # 5 rows of 5
MAX_LABEL = 80
MAX_CUSTOM_ID = 100
MAX_BUTTON_URL = 512
MAX_EMBED_URL = 2048
# Every action button's custom_id is this prefix plus the action (a command line such as
# "untrack 12"), so any process, before or after a restart, can answer a press.
CUSTOM_ID_PREFIX = "pb:"
CHART_FILENAME = "chart.png"
COLOUR = discord.Colour(0x2B8A3E)
ERROR_COLOUR = discord.Colour(0xD9480F)
_BUTTON_URL_SCHEMES = ("http", "https", "discord")
_PAGE_URL_SCHEMES = ("http", "https")


class RenderError(ValueError):
    """A Reply that Discord would refuse (e.g. an action too long for a custom_id): never sent."""


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    """A checked button: a link (`url`) or an action button (`custom_id`)."""

    label: str
    url: str | None = None
    custom_id: str | None = None


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One message: its embeds, the chart shown in its first embed, and its buttons."""

    embeds: tuple[discord.Embed, ...]
    image_png: bytes | None = None
    buttons: tuple[ButtonSpec, ...] = ()


def shown(text: str) -> str:
    """Shop or user text as Discord should show it: literally. Markdown is escaped, and
    mentions (@everyone, <@id>) are broken with a zero-width space so they cannot ping or
    render as a mention even where allowed_mentions would not apply."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def render_reply(reply: Reply) -> list[DiscordMessage]:
    """The messages that show `reply`, in sending order; the buttons ride on the last one.

    Raises RenderError for a reply Discord would refuse (before anything is sent)."""
    buttons = tuple(button_spec(button) for button in reply.buttons)
    if len(buttons) > MAX_BUTTONS:
        raise RenderError(f"{len(buttons)} buttons; a Discord message holds {MAX_BUTTONS}")
    custom_ids = [b.custom_id for b in buttons if b.custom_id is not None]
    if len(set(custom_ids)) != len(custom_ids):
        raise RenderError("two buttons with the same action; Discord refuses duplicate ids")
    embeds = _embeds(reply)
    if not embeds:
        raise RenderError("a reply needs text or an image")
    messages = _pack(embeds)
    first, last = 0, len(messages) - 1
    return [
        DiscordMessage(
            tuple(group),
            reply.image_png if index == first else None,
            buttons if index == last else (),
        )
        for index, group in enumerate(messages)
    ]


def button_spec(button: Button) -> ButtonSpec:
    label = button.label.strip()
    if not label:
        raise RenderError("a button needs a label")
    if utf16_units(label) > MAX_LABEL:
        label = label[: longest_prefix(label, MAX_LABEL - 1)] + "…"
    if (button.url is None) == (button.action is None):
        raise RenderError(f"button {label!r} needs exactly one of url and action")
    if button.action is not None:
        custom_id = CUSTOM_ID_PREFIX + button.action
        if not button.action.strip() or len(custom_id) > MAX_CUSTOM_ID:
            # Discord would refuse the whole message; a cut action would do the wrong thing
            # when pressed, so neither is sent.
            raise RenderError(
                f"button {label!r}: action is {len(button.action)} characters, Discord allows "
                f"1..{MAX_CUSTOM_ID - len(CUSTOM_ID_PREFIX)}"
            )
        return ButtonSpec(label, custom_id=custom_id)
    assert button.url is not None
    if not _is_url(button.url, _BUTTON_URL_SCHEMES, MAX_BUTTON_URL):
        raise RenderError(f"button {label!r}: Discord opens only http(s) links up to 512 long")
    return ButtonSpec(label, url=button.url)


def _embeds(reply: Reply) -> list[discord.Embed]:
    colour = ERROR_COLOUR if reply.is_error else COLOUR
    title, body = _title_and_body(reply)
    descriptions = _fit(body, MAX_DESCRIPTION) if body else []
    embeds = [discord.Embed(description=text, colour=colour) for text in descriptions]
    if (title or reply.image_png is not None) and not embeds:
        embeds.append(discord.Embed(colour=colour))
    if not embeds:
        return []
    first = embeds[0]
    if title:
        first.title = title
        if reply.link and _is_url(reply.link, _PAGE_URL_SCHEMES, MAX_EMBED_URL):
            first.url = reply.link
    # Shops often give their image relative to the page ("/img/kettle.jpg").
    thumbnail = urljoin(reply.link or "", reply.thumbnail) if reply.thumbnail else None
    if thumbnail and _is_url(thumbnail, _PAGE_URL_SCHEMES, MAX_EMBED_URL):
        first.set_thumbnail(url=thumbnail)
    if reply.image_png is not None:
        first.set_image(url=f"attachment://{CHART_FILENAME}")
    return embeds


def _title_and_body(reply: Reply) -> tuple[str | None, str]:
    """The first block as the title when it reads as one (one short line followed by more);
    the rest as the body."""
    blocks = [block.strip() for block in reply.blocks if block.strip()]
    if reply.is_error or len(blocks) < 2 or "\n" in blocks[0]:
        return None, "\n\n".join(blocks)
    title = shown(blocks[0])
    if utf16_units(title) > MAX_TITLE:
        return None, "\n\n".join(blocks)
    return title, "\n\n".join(blocks[1:])


def _pack(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped into messages of at most 10 embeds and 6000 units of text each."""
    messages: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        length = utf16_units(embed.title or "") + utf16_units(embed.description or "")
        if not messages or len(messages[-1]) == MAX_EMBEDS or size + length > MAX_EMBED_TOTAL:
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += length
    return messages


def _fit(text: str, limit: int, plain_limit: int | None = None) -> list[str]:
    """`text` escaped for display and cut into pieces of at most `limit` units. The plain
    text is cut first (so a cut never separates an escape from what it escapes); a piece
    that escaping made too long is cut again, finer."""
    pieces: list[str] = []
    for piece in split_text(text, plain_limit or limit):
        escaped = shown(piece)
        if utf16_units(escaped) <= limit:
            pieces.append(escaped)
        else:
            pieces.extend(_fit(piece, limit, max(utf16_units(piece) // 2, 1)))
    return pieces


def _is_url(url: str, schemes: tuple[str, ...], max_length: int) -> bool:
    parts = urlsplit(url)
    return parts.scheme in schemes and bool(parts.netloc) and len(url) <= max_length
