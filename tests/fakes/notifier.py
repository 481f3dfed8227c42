"""A notifier that records what it was asked to send and can be told to fail."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

from core.errors import ChatGone, DeliveryError, RateLimited, TransientDeliveryError
from core.model import ChatAddress
from core.ports import Notifier
from core.reply import Reply


@dataclass(frozen=True, slots=True)
class Sent:
    address: ChatAddress
    reply: Reply
    key: str | None
    message_id: str


class RecordingNotifier(Notifier):
    """Keeps every delivered message in order; `fail_next` queues errors to raise first."""

    def __init__(self, platform: str = "test") -> None:
        self.platform = platform
        self.sent: list[Sent] = []
        self.failures: deque[DeliveryError] = deque()
        self.gone_chats: set[str] = set()
        self._ids = itertools.count(1)

    def fail_next(self, *errors: DeliveryError) -> None:
        self.failures.extend(errors)

    def rate_limit(self, times: int, retry_after: float) -> None:
        self.fail_next(*(RateLimited(retry_after) for _ in range(times)))

    def transient(self, times: int) -> None:
        self.fail_next(*(TransientDeliveryError("try later") for _ in range(times)))

    async def send(self, address: ChatAddress, reply: Reply, *, key: str | None = None) -> str:
        if address.chat_id in self.gone_chats:
            raise ChatGone("bot was blocked by the user")
        if self.failures:
            raise self.failures.popleft()
        sent = Sent(address, reply, key, str(next(self._ids)))
        self.sent.append(sent)
        return sent.message_id

    async def confirm(self, address: ChatAddress, key: str) -> bool | None:
        return any(s.key == key for s in self.sent)

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [s.reply.text for s in self.sent if chat_id is None or s.address.chat_id == chat_id]
