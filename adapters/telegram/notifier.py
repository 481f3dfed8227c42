"""TelegramNotifier: delivers outbox Replies to Telegram chats, mapping Bot API errors to core's."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from adapters.telegram.outgoing import send_reply, telegram_chat_id, telegram_thread_id
from adapters.telegram.render import RenderError
from core.errors import ChatGone, RateLimited, TransientDeliveryError
from core.model import ChatAddress
from core.ports import Notifier
from core.reply import Reply

PLATFORM = "telegram"

# BadRequest descriptions that mean the address itself is gone, not that this message is bad.
_GONE_DESCRIPTIONS = ("chat not found", "message thread not found", "topic_deleted")


class TelegramNotifier(Notifier):
    """Sends a Reply to a chat (and forum topic) with the Application's bot."""

    platform = PLATFORM

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, address: ChatAddress, reply: Reply, *, key: str | None = None) -> str:
        """Sends every part; returns the message id of the last one.

        Telegram takes no idempotency key, so `key` is unused.

        Raises ChatGone (blocked, kicked, chat or topic deleted), RateLimited (flood control,
        after the rate limiter's own retries) or TransientDeliveryError (anything else; the
        outbox retries with backoff and gives up after its maximum attempts).
        """
        if address.platform != PLATFORM:
            raise ValueError(f"TelegramNotifier cannot send to {address.platform!r}")
        try:
            chat_id = telegram_chat_id(address.chat_id)
        except ValueError as error:
            raise ChatGone(str(error)) from error
        with delivery_errors():
            messages = await send_reply(
                self._bot, chat_id, reply, message_thread_id=telegram_thread_id(address.thread_id)
            )
        return str(messages[-1].message_id)


@contextmanager
def delivery_errors() -> Iterator[None]:
    """Translates python-telegram-bot exceptions into core.errors delivery errors."""
    try:
        yield
    except RetryAfter as error:
        raise RateLimited(retry_after_seconds(error)) from error
    except Forbidden as error:  # blocked by the user, kicked from the group, user deactivated
        raise ChatGone(f"telegram: {error.message}") from error
    except ChatMigrated as error:  # a group became a supergroup with a new id
        raise ChatGone(f"telegram: chat moved to {error.new_chat_id}") from error
    except BadRequest as error:  # before NetworkError: BadRequest subclasses it
        if any(gone in error.message.lower() for gone in _GONE_DESCRIPTIONS):
            raise ChatGone(f"telegram: {error.message}") from error
        # Not worth retrying, but the outbox only knows gone / rate limited / transient:
        # transient retries a few times and then marks the row undeliverable.
        raise TransientDeliveryError(f"telegram refused the message: {error.message}") from error
    except NetworkError as error:  # includes TimedOut
        raise TransientDeliveryError(f"telegram unreachable: {error.message}") from error
    except TelegramError as error:  # InvalidToken, Conflict, ...
        raise TransientDeliveryError(f"telegram error: {error.message}") from error
    except RenderError as error:
        raise TransientDeliveryError(f"reply cannot be shown on telegram: {error}") from error


def retry_after_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after in seconds (PTB gives an int, or a timedelta with PTB_TIMEDELTA)."""
    with warnings.catch_warnings():
        # PTB 22 warns that the int form is deprecated; both forms are handled here.
        warnings.simplefilter("ignore", DeprecationWarning)
        value = error.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)
