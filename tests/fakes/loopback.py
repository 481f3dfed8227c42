"""An aiohttp application served on 127.0.0.1 at a free port, as an async context manager."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LoopbackServer:
    """Subclasses build their application in `_app` and release whatever their handlers
    wait on (long polls, held connections) in `_before_stop`, so stopping never hangs."""

    port: int = 0
    shutdown_timeout: float = 1.0
    _runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        raise NotImplementedError

    async def _before_stop(self) -> None:
        """Wakes handlers that would otherwise keep the server from stopping."""

    async def start(self) -> Self:
        self._runner = web.AppRunner(
            self._app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self._before_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
