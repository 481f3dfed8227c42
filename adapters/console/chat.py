"""The console chat loop: each input line goes to the front door as a private message."""

from __future__ import annotations

import asyncio
from typing import TextIO

from adapters.console.render import render_text
from core.dispatcher import ChatFrontDoor
from core.model import ChatAddress, ChatContext, ChatKind, UserRef

CONSOLE_USER = UserRef("console", "local", "you")
CONSOLE_ADDRESS = ChatAddress("console", "local")


def console_context() -> ChatContext:
    return ChatContext(CONSOLE_USER, CONSOLE_ADDRESS, ChatKind.PRIVATE)


class ConsoleChat:
    """Reads lines from `source`, answers on `sink`."""

    def __init__(self, front_door: ChatFrontDoor, source: TextIO, sink: TextIO) -> None:
        self._front_door = front_door
        self._source = source
        self._sink = sink

    async def say(self, text: str, *, echo: bool = False) -> str:
        """Sends one line as the user; returns (and prints) what the bot answered."""
        if echo:
            self._sink.write(f"you> {text}\n")
        reply = await self._front_door.handle_text(console_context(), text)
        answer = render_text(reply) if reply is not None else ""
        if answer:
            self._sink.write(answer + "\n")
        self._sink.flush()
        return answer

    async def press(self, action: str) -> str:
        reply = await self._front_door.handle_action(console_context(), action)
        answer = render_text(reply)
        self._sink.write(answer + "\n")
        self._sink.flush()
        return answer

    async def run(self) -> None:
        """Until end of input or /quit."""
        self._sink.write("pricebot console. Send /help for commands, /quit to leave.\n")
        self._sink.flush()
        while True:
            line = await asyncio.to_thread(self._source.readline)
            if not line:
                return
            line = line.strip()
            if line in {"/quit", "/exit"}:
                return
            if line:
                await self.say(line)
