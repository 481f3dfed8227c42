"""Sends a rendered Reply: to a channel, as an interaction's answer, or over a pressed message."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import discord

from adapters.discord.buttons import view_for
from adapters.discord.render import CHART_FILENAME, DiscordMessage, render_reply
from core.reply import Reply

# Every message pricebot sends carries shop or user text somewhere: it never pings anyone,
# not even the user it answers (a product titled "@everyone" must stay text).
NO_MENTIONS = discord.AllowedMentions.none()
MAX_NONCE = 25


def message_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """Keyword arguments for discord.py's send methods; files and views are made fresh, since
    a discord.File is used up by one send."""
    kwargs: dict[str, Any] = {"embeds": list(message.embeds), "allowed_mentions": NO_MENTIONS}
    if message.image_png is not None:
        kwargs["file"] = discord.File(io.BytesIO(message.image_png), filename=CHART_FILENAME)
    view = view_for(message.buttons)
    if view is not None:
        kwargs["view"] = view
    return kwargs


def nonce_for(key: str, part: int) -> str:
    """A message nonce from the outbox key: Discord answers a resend with the same nonce
    (within a few minutes) with the message it already made, instead of a second one."""
    return hashlib.sha256(f"{key}#{part}".encode()).hexdigest()[:MAX_NONCE]


async def send_to_channel(
    channel: discord.abc.Messageable,
    reply: Reply,
    *,
    key: str | None = None,
    answering: discord.Message | None = None,
) -> list[discord.Message]:
    """Sends every part of `reply` in order (buttons on the last); the first part answers
    `answering` as a Discord reply, without pinging its author.

    Raises render.RenderError before anything is sent, or discord.HTTPException."""
    sent: list[discord.Message] = []
    for index, part in enumerate(render_reply(reply)):
        kwargs = message_kwargs(part)
        if key is not None:
            kwargs["nonce"] = nonce_for(key, index)
        if answering is not None and index == 0:
            kwargs["reference"] = answering.to_reference(fail_if_not_exists=False)
            kwargs["mention_author"] = False
        sent.append(await channel.send(**kwargs))
    return sent


async def answer_interaction(
    interaction: discord.Interaction, reply: Reply, *, ephemeral: bool = False
) -> None:
    """The reply as the interaction's answer: its initial response (unless it was deferred,
    then the first follow-up fills the "thinking" message) and follow-ups for further parts.
    After the 15 minutes an interaction token lives, the rest goes to the channel."""
    for part in render_reply(reply):
        kwargs = message_kwargs(part)
        if not interaction.response.is_done():
            await interaction.response.send_message(ephemeral=ephemeral, **kwargs)
        elif interaction.is_expired():
            await channel_of(interaction).send(**kwargs)
        else:
            await interaction.followup.send(ephemeral=ephemeral, wait=True, **kwargs)


async def replace_pressed(interaction: discord.Interaction, message: DiscordMessage) -> None:
    """The pressed message becomes `message` (a one-part reply without a chart): its text,
    buttons (or none) and no attachments."""
    kwargs: dict[str, Any] = {
        "content": None,
        "embeds": list(message.embeds),
        "attachments": [],
        "view": view_for(message.buttons),
        "allowed_mentions": NO_MENTIONS,
    }
    if not interaction.response.is_done():
        await interaction.response.edit_message(**kwargs)
    else:
        await interaction.edit_original_response(**kwargs)


def channel_of(interaction: discord.Interaction) -> discord.abc.Messageable:
    """Where an interaction happened, as something to send to (no cache needed)."""
    assert interaction.channel_id is not None
    return interaction.client.get_partial_messageable(
        interaction.channel_id, guild_id=interaction.guild_id
    )
