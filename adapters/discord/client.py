"""The discord.py client: minimal intents, persistent buttons, the registry's tree, messages."""

from __future__ import annotations

import asyncio

import discord

from adapters.discord.buttons import ActionButton
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.outgoing import NO_MENTIONS
from adapters.discord.slash import RegistryTree, build_tree

# A 429 asking for a longer wait than this is not slept through inside a send: discord.py
# raises RateLimited, and the outbox retries the alert when the wait is over.
MAX_RATE_LIMIT_WAIT = 60.0


def pricebot_intents(*, message_content: bool) -> discord.Intents:
    """Only what pricebot reads. Slash commands and buttons need no intent at all."""
    intents = discord.Intents.none()
    intents.guilds = True  # servers, channels, roles: where to answer, who may manage a chat
    intents.guild_messages = True  # prefix commands in servers
    intents.dm_messages = True  # prefix commands and bare links in DMs
    # Privileged: without it server messages arrive empty unless they mention the bot.
    intents.message_content = message_content
    return intents


class PricebotClient(discord.Client):
    """A discord.Client whose every event goes to DiscordHandlers, button presses included
    (adapters.discord.buttons.ActionButton finds them as `client.handlers`)."""

    def __init__(
        self,
        handlers: DiscordHandlers,
        *,
        message_content: bool,
        guild_ready_timeout: float,
        ready: asyncio.Event | None = None,
    ) -> None:
        # pricebot never joins voice: discord.py's warnings about voice libraries are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            intents=pricebot_intents(message_content=message_content),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT,
            chunk_guilds_at_startup=False,
        )
        self.handlers = handlers
        self._became_ready = ready or asyncio.Event()
        self.tree: RegistryTree = build_tree(self, handlers.front_door.registry, handlers)

    async def setup_hook(self) -> None:
        # Before the gateway opens, so a press on any earlier message finds its handler.
        self.add_dynamic_items(ActionButton)

    async def on_ready(self) -> None:
        # Fires after every IDENTIFY (not after a RESUME); the platform waits for the first.
        self._became_ready.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.handlers.on_message(message, self.user.id if self.user else None)
