"""Discord front end and notifier: discord.py 2.x driven by the command registry."""

from __future__ import annotations

import logging

from adapters.discord import platform as _platform
from adapters.discord.endpoints import DEFAULT_API_BASE
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.platform import CommandState, DiscordPlatform, DiscordStartupError
from adapters.redact import install_token_redaction
from core.chat.dispatcher import ChatFrontDoor

__all__ = ["DiscordPlatform", "DiscordStartupError", "build_discord"]

# discord.py's loggers and ours: the filter must be on them before the client logs anything,
# and they only exist once discord.py is imported, after the start-up redaction was installed.
REDACTED_LOGGERS = ("discord", "adapters.discord")


def build_discord(
    *,
    token: str,
    api_base: str = DEFAULT_API_BASE,
    front_door: ChatFrontDoor,
    state: CommandState,
    prefix: str = "!",
    logger: logging.Logger | None = None,
    guild_ready_timeout: float | None = None,
) -> DiscordPlatform:
    """A DiscordPlatform (not started) whose commands come from `front_door.registry`.

    `state` keeps the slash commands' hash between runs (a database-backed get/put);
    `prefix` starts text commands ("!track ..."); `guild_ready_timeout` is how long discord.py
    waits for more servers after the last one arrived before it calls itself ready."""
    prefix = prefix.strip()
    if not prefix or any(char.isspace() for char in prefix):
        raise ValueError("the Discord command prefix must be one or more characters, no spaces")
    redaction = install_token_redaction(token, logger_names=REDACTED_LOGGERS)
    return DiscordPlatform(
        token=token,
        api_base=api_base,
        handlers=DiscordHandlers(front_door, prefix),
        state=state,
        logger=logger or logging.getLogger("adapters.discord"),
        redaction=redaction,
        guild_ready_timeout=(
            _platform.GUILD_READY_TIMEOUT if guild_ready_timeout is None else guild_ready_timeout
        ),
    )
