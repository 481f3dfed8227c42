"""Who speaks where: ChatContexts from interactions and messages, and prefix command lines."""

from __future__ import annotations

import re

import discord

from core.model import ChatAddress, ChatContext, ChatKind, UserRef

PLATFORM = "discord"


def context_for_interaction(interaction: discord.Interaction) -> ChatContext:
    """The caller and the channel (a thread is a channel of its own) of a slash command,
    autocomplete or button press. The caller's permissions there come with the interaction."""
    user = interaction.user
    return _context(
        user,
        interaction.channel_id or 0,
        interaction.guild_id,
        interaction.permissions if interaction.guild_id is not None else None,
    )


def context_for_message(message: discord.Message) -> ChatContext:
    """The author and channel of a message. In a server the author's permissions in the
    channel come from the cache (roles and overwrites), without an API call."""
    guild_id = message.guild.id if message.guild is not None else None
    permissions = None
    channel = message.channel
    if (
        guild_id is not None
        and isinstance(message.author, discord.Member)
        and isinstance(channel, discord.abc.GuildChannel | discord.Thread)
    ):
        permissions = channel.permissions_for(message.author)
    return _context(message.author, channel.id, guild_id, permissions)


def manages_chat(permissions: discord.Permissions | None) -> bool:
    """Server settings and feeds are for members who may manage the server or its channels
    (administrators have every permission)."""
    return permissions is not None and (permissions.manage_guild or permissions.manage_channels)


def _context(
    user: discord.abc.User,
    channel_id: int,
    guild_id: int | None,
    permissions: discord.Permissions | None,
) -> ChatContext:
    is_admin = manages_chat(permissions)

    async def administers() -> bool:
        return is_admin

    return ChatContext(
        user=UserRef(PLATFORM, str(user.id), user.display_name),
        address=ChatAddress(PLATFORM, str(channel_id)),
        chat_kind=ChatKind.PRIVATE if guild_id is None else ChatKind.GROUP,
        admin_check=administers,
        community=str(guild_id) if guild_id is not None else None,
    )


def command_line(content: str, *, prefix: str, bot_id: int | None, private: bool) -> str | None:
    """The command line a message asks for, in the "/name args" form the registry parses; None
    when the message is not for the bot.

    "!track x" (with the configured prefix) and "@Bot track x" are commands anywhere; in a DM
    every message is for the bot (a bare link gets an offer to track it)."""
    text = content.strip()
    mention = _mention(text, bot_id)
    if mention is not None:
        rest = text[mention.end() :]
        rest = rest.removeprefix(prefix) if rest.startswith(prefix) else rest.removeprefix("/")
        return "/" + rest if rest else "/help"
    if text.startswith(prefix):
        rest = text[len(prefix) :]
        # "! wow" or "!!!" is chatter, not a command.
        if rest[:1].isalpha():
            return "/" + rest
    if private and text:
        return text
    return None


def mentions_bot(content: str, bot_id: int | None) -> bool:
    """Whether a message starts by mentioning the bot ("@pricebot frobnicate" is for it even
    when no such command exists; "!frobnicate" may be another bot's)."""
    return _mention(content.strip(), bot_id) is not None


def _mention(text: str, bot_id: int | None) -> re.Match[str] | None:
    return re.match(rf"<@!?{bot_id}>\s*", text) if bot_id is not None else None
