"""Where discord.py connects: Discord itself, or another REST base and the gateway it names."""

from __future__ import annotations

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import HTTPClient, Route

DEFAULT_API_BASE = "https://discord.com/api/v10"


class Endpoints:
    """Points discord.py at `api_base` while a platform runs, and back when it stops.

    discord.py keeps both addresses as class attributes (there is no per-client option):
    `Route.BASE` builds every REST URL, interaction webhooks included, and since 2.4
    `DiscordWebSocket.DEFAULT_GATEWAY` is opened without asking GET /gateway/bot. So for a
    base other than Discord's, the gateway is asked of that base, as a client of the real
    API would, and used until close. With Discord's own base nothing is touched."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base.rstrip("/")
        self.custom = self.api_base != DEFAULT_API_BASE
        self._saved_rest: str | None = None
        self._saved_gateway: yarl.URL | None = None
        self._gateway: yarl.URL | None = None

    def point_rest(self) -> None:
        if self.custom and self._saved_rest is None:
            self._saved_rest = Route.BASE
            Route.BASE = self.api_base

    async def point_gateway(self, http: HTTPClient) -> None:
        """Asks GET {api_base}/gateway/bot (raises discord.GatewayNotFound when it cannot)."""
        if not self.custom or self._gateway is not None:
            return
        _shards, url, _limits = await http.get_bot_gateway()
        self._saved_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        self._gateway = yarl.URL(url)
        DiscordWebSocket.DEFAULT_GATEWAY = self._gateway

    def restore(self) -> None:
        """Puts back what was there, unless someone else has pointed discord.py elsewhere since."""
        if self._saved_rest is not None:
            if Route.BASE == self.api_base:
                Route.BASE = self._saved_rest
            self._saved_rest = None
        if self._saved_gateway is not None:
            if DiscordWebSocket.DEFAULT_GATEWAY == self._gateway:
                DiscordWebSocket.DEFAULT_GATEWAY = self._saved_gateway
            self._saved_gateway = None
        self._gateway = None
