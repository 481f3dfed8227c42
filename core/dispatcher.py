"""The one entry point chat adapters call: text in, Reply out; button actions likewise."""

from __future__ import annotations

import abc

from core.model import ChatContext
from core.reply import Reply


class ChatFrontDoor(abc.ABC):
    """What every chat adapter talks to. Implemented by core.dispatcher.Dispatcher."""

    @abc.abstractmethod
    async def handle_text(self, ctx: ChatContext, text: str) -> Reply | None:
        """A message: a command (`/track ...`, `/track@BotName ...`) or, in a private chat, a bare
        product link (answered with an offer to track it). None when there is nothing to say
        (e.g. ordinary chatter in a group)."""

    @abc.abstractmethod
    async def handle_action(self, ctx: ChatContext, action: str) -> Reply:
        """A button press carrying `action` (e.g. `stop:12`, `snooze:12`, `chart:12`,
        `track:<token>`, `page:watches:2`). The Reply replaces the pressed message's text."""

    @abc.abstractmethod
    def command_list(self, chat_kind: str) -> list[tuple[str, str]]:
        """(command, one-line description) pairs for menus such as Telegram's setMyCommands."""
