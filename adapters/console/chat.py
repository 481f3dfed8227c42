"""The console chat loop: each input line goes to the front door as a private message; a
button of the last answer is pressed by typing its number or its label."""

from __future__ import annotations

import asyncio
from typing import TextIO

from adapters.console.render import render_text
from core.chat.dispatcher import ChatFrontDoor
from core.model import ChatAddress, ChatContext, ChatKind, UserRef
from core.reply import Button, Reply

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
        self._buttons: tuple[Button, ...] = ()

    async def say(self, text: str, *, echo: bool = False) -> str:
        """Sends one line as the user (or presses a button it names); returns (and prints)
        what the bot answered."""
        if echo:
            self._sink.write(f"you> {text}\n")
        button = self._button_named(text)
        if button is not None and button.url is not None:
            return self._show(f"open {button.url} in your browser")
        if button is not None and button.action is not None:
            reply = await self._front_door.handle_action(console_context(), button.action)
        else:
            reply = await self._front_door.handle_text(console_context(), text)
        return self._answer(reply)

    async def press(self, action: str) -> str:
        """Presses a button by its action."""
        return self._answer(await self._front_door.handle_action(console_context(), action))

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

    def _button_named(self, text: str) -> Button | None:
        """The last answer's button whose number or label is `text`."""
        wanted = text.strip().strip("[]").lower()
        for number, button in enumerate(self._buttons, start=1):
            if wanted in {str(number), button.label.lower()}:
                return button
        return None

    def _answer(self, reply: Reply | None) -> str:
        if reply is None:
            return self._show("")
        self._buttons = reply.buttons
        return self._show(render_text(reply))

    def _show(self, answer: str) -> str:
        if answer:
            self._sink.write(answer + "\n")
        self._sink.flush()
        return answer
