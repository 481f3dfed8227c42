"""A Notifier that delivers over HTTP to a chat platform that records (recording_platform)."""

from __future__ import annotations

import httpx

from core.errors import TransientDeliveryError
from core.model import ChatAddress
from core.ports import Notifier
from core.reply import Reply


class HttpNotifier(Notifier):
    """POSTs each message with its outbox key; `confirm` asks the platform whether a key arrived."""

    def __init__(self, base_url: str, platform: str = "test", timeout: float = 10.0) -> None:
        self.platform = platform
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def send(self, address: ChatAddress, reply: Reply, *, key: str | None = None) -> str:
        message = {
            "key": key,
            "platform": address.platform,
            "chat_id": address.chat_id,
            "thread_id": address.thread_id,
            "reply": reply.to_dict(),
        }
        try:
            response = await self._client.post("/send", json=message)
        except httpx.HTTPError as error:
            raise TransientDeliveryError(f"platform unreachable: {error!r}") from error
        if response.status_code != 200:
            raise TransientDeliveryError(f"platform answered {response.status_code}")
        return str(response.json()["message_id"])

    async def confirm(self, address: ChatAddress, key: str) -> bool | None:
        try:
            response = await self._client.get("/received", params={"key": key})
        except httpx.HTTPError:
            return None  # cannot tell: Delivery sends again
        if response.status_code != 200:
            return None
        return bool(response.json()["received"])

    async def aclose(self) -> None:
        await self._client.aclose()
