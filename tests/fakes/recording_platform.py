"""A chat platform on 127.0.0.1 that records every message it receives, duplicates included."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Received:
    """One message as it arrived: arrival number, outbox key and the raw request body."""

    seq: int
    key: str
    body: bytes


@dataclass(slots=True)
class _Trap:
    """Runs `action` when the `nth` next message arrives, before or after it is recorded."""

    nth: int
    recorded: bool
    action: Callable[[], None]


class RecordingPlatform:
    """POST /send records a message and answers its message id; GET /received?key=K says
    whether K arrived. Nothing is deduplicated: `counts` shows a key delivered twice.

    A trap can kill the sender as a message arrives: after recording it (the platform has
    it, the sender never hears back) or instead of recording it (the request dies with the
    sender, so the platform never accepted it).
    """

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.counts: Counter[str] = Counter()
        self.lookups: list[tuple[str, bool]] = []
        self.cut_off: list[str] = []  # keys whose request died with its sender
        self.torn = 0  # requests whose sender died before their body arrived
        self.trap_sprung = asyncio.Event()
        self._trap: _Trap | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def set_trap(self, nth: int, *, recorded: bool, action: Callable[[], None]) -> None:
        self._trap = _Trap(nth, recorded, action)
        self.trap_sprung.clear()

    def clear_trap(self) -> None:
        self._trap = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/send", self._send)
        app.router.add_get("/received", self._received)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.create_server(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        host, port = sock.getsockname()[:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _send(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except ConnectionResetError:
            self.torn += 1  # nothing arrived, so nothing was received
            return web.Response(status=400)
        key = str(json.loads(body)["key"])
        trap = self._spring_trap()
        if trap is not None and not trap.recorded:
            self.cut_off.append(key)
            trap.action()
            self.trap_sprung.set()
            return web.json_response({"ok": False}, status=503)
        seq = len(self.messages) + 1
        self.messages.append(Received(seq, key, body))
        self.counts[key] += 1
        if trap is not None:
            trap.action()
            self.trap_sprung.set()
        return web.json_response({"ok": True, "message_id": seq})

    def _spring_trap(self) -> _Trap | None:
        trap = self._trap
        if trap is None:
            return None
        trap.nth -= 1
        if trap.nth > 0:
            return None
        self._trap = None
        return trap

    async def _received(self, request: web.Request) -> web.Response:
        key = request.query["key"]
        answer = key in self.counts
        self.lookups.append((key, answer))
        return web.json_response({"received": answer})
