"""DiscordNotifier: outbox Replies to Discord channels and DMs, API errors as core's errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp
import discord

from adapters.discord.context import PLATFORM
from adapters.discord.outgoing import send_to_channel
from adapters.discord.render import RenderError
from core.errors import ChatGone, RateLimited, TransientDeliveryError
from core.model import ChatAddress
from core.ports import Notifier
from core.reply import Reply

# JSON error codes that mean the chat itself is out of reach, not that this message is bad.
MISSING_ACCESS = 50001
CANNOT_MESSAGE_USER = 50007  # DMs closed, or the user blocked the bot
MISSING_PERMISSIONS = 50013
UNKNOWN_CHANNEL = 10003
_GONE_CODES = frozenset({MISSING_ACCESS, CANNOT_MESSAGE_USER, MISSING_PERMISSIONS, UNKNOWN_CHANNEL})
DEFAULT_RETRY_AFTER = 5.0


class DiscordNotifier(Notifier):
    """Sends a Reply to the channel (or DM, or thread: each has its own channel id) that
    asked, with the platform's current client. Only REST is needed: a worker process that
    never opens the gateway delivers too."""

    platform = PLATFORM

    def __init__(self, client: Callable[[], discord.Client]) -> None:
        self._client = client

    async def send(self, address: ChatAddress, reply: Reply, *, key: str | None = None) -> str:
        """Sends every part; returns the id of the last message. Each part carries a nonce
        derived from `key`: a resend within Discord's nonce window returns the first message.

        Raises ChatGone (no access, DMs closed, channel deleted), RateLimited (a wait longer
        than discord.py sleeps through, or its retries used up) or TransientDeliveryError.
        """
        if address.platform != PLATFORM:
            raise ValueError(f"DiscordNotifier cannot send to {address.platform!r}")
        try:
            channel_id = int(address.chat_id)
        except ValueError as error:
            raise ChatGone(f"discord: not a channel id: {address.chat_id!r}") from error
        client = self._client()
        if client.user is None:
            raise TransientDeliveryError("discord: the bot is not logged in yet")
        channel = client.get_partial_messageable(channel_id)
        with delivery_errors():
            messages = await send_to_channel(channel, reply, key=key)
        return str(messages[-1].id)


@contextmanager
def delivery_errors() -> Iterator[None]:
    """Translates discord.py exceptions into core.errors delivery errors."""
    try:
        yield
    except discord.RateLimited as error:  # longer than MAX_RATE_LIMIT_WAIT: not slept through
        raise RateLimited(error.retry_after) from error
    except discord.Forbidden as error:
        if error.code in _GONE_CODES:
            raise ChatGone(f"discord: {error.text or error.code}") from error
        raise TransientDeliveryError(f"discord refused the message: {_said(error)}") from error
    except discord.NotFound as error:
        if error.code in _GONE_CODES:
            raise ChatGone(f"discord: {error.text or error.code}") from error
        raise TransientDeliveryError(f"discord: {_said(error)}") from error
    except discord.HTTPException as error:
        if error.status == 429:  # discord.py retried five times and gave up
            raise RateLimited(_retry_after(error)) from error
        # A 400 is not worth retrying, but the outbox knows only gone / rate limited /
        # transient: transient retries a few times and then gives the row up.
        raise TransientDeliveryError(f"discord: {_said(error)}") from error
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise TransientDeliveryError(f"discord unreachable: {type(error).__name__}") from error
    except RenderError as error:
        raise TransientDeliveryError(f"reply cannot be shown on discord: {error}") from error


def _retry_after(error: discord.HTTPException) -> float:
    header = error.response.headers.get("Retry-After") if error.response is not None else None
    try:
        return max(float(header), 0.0) if header is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _said(error: discord.HTTPException) -> str:
    return f"{error.status} {error.code} {error.text}".strip()
