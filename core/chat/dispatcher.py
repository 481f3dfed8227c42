"""The dispatcher: looks a command up, throttles, checks bans and admins, runs it, and turns
errors into replies. Every chat front end calls it; it knows no chat platform."""

from __future__ import annotations

import abc
import logging
from typing import Any

from core.chat.call import Call, Services
from core.chat.registry import CommandSpec, Invocation, Registry, UnknownCommand
from core.errors import LimitReached, PermissionDenied, PricebotError, UsageError
from core.model import ChatContext, ChatKind
from core.reply import Reply
from core.throttle import TokenBuckets

log = logging.getLogger(__name__)

APOLOGY = (
    "Sorry, something went wrong on my side and I have noted it. Please try again in a "
    "minute; if it keeps happening, try another command or link."
)


def apology_for(error: Exception) -> str:
    """What a chat adapter says when handling failed outside the dispatcher: a core error
    that escaped still carries words made for the user; anything else gets the apology."""
    return error.user_message if isinstance(error, PricebotError) else APOLOGY


BARE_TEXT_COMMAND = "link"
# Discord asks for suggestions on every keystroke: several per command is normal typing.
COMPLETIONS_PER_COMMAND = 5


class ChatFrontDoor(abc.ABC):
    """What every chat adapter talks to: text, button presses and structured commands in,
    Replies out. `registry` describes every command (menus, slash commands, help)."""

    registry: Registry

    @abc.abstractmethod
    async def handle_text(
        self, ctx: ChatContext, text: str, *, addressed: bool = False
    ) -> Reply | None:
        """A message: a command line, or in a private chat anything else (a bare link gets
        an offer to track it). None when there is nothing to say (chatter in a group, a
        command for another bot, a flood past its warning). `addressed`: the message named
        this bot in the platform's own way (Telegram's /cmd@ThisBot, a Discord mention), so
        an unknown command in a group is answered instead of left to the other bots."""

    @abc.abstractmethod
    async def handle_action(self, ctx: ChatContext, action: str) -> Reply | None:
        """A button press carrying `action` (a command line without its slash, e.g.
        "untrack 12"). The Reply replaces or answers the pressed message."""

    @abc.abstractmethod
    async def handle_options(
        self, ctx: ChatContext, name: str, options: dict[str, Any]
    ) -> Reply | None:
        """A command with named options (a Discord slash command): `name` as in the
        registry ("track", "holdings add")."""

    @abc.abstractmethod
    async def complete(self, ctx: ChatContext, source: str, typed: str) -> list[tuple[str, str]]:
        """(label, value) suggestions for a parameter whose spec names `source` as its
        autocomplete, limited to what the caller may use in this chat."""


class Dispatcher(ChatFrontDoor):
    """Runs commands from the registry against the services."""

    def __init__(self, registry: Registry, services: Services) -> None:
        self.registry = registry
        self._services = services
        config = services.config
        self._commands = TokenBuckets(config.commands_per_minute, burst=config.commands_per_minute)
        self._reads = TokenBuckets(config.tracks_per_minute, burst=config.tracks_per_minute)
        completions = config.commands_per_minute * COMPLETIONS_PER_COMMAND
        self._completions = TokenBuckets(completions, burst=completions)
        # Who has been told "too fast" recently: a flood gets one warning, then silence, so
        # that answering it cannot itself become a flood.
        self._warned = TokenBuckets(1, burst=1)

    async def handle_text(
        self, ctx: ChatContext, text: str, *, addressed: bool = False
    ) -> Reply | None:
        try:
            invocation = self.registry.parse(text)
        except UnknownCommand as unknown:
            if ctx.chat_kind is not ChatKind.PRIVATE and not addressed:
                return None  # most likely another bot's command, in a chat we share
            return await self._answer(ctx, None, unknown)
        except UsageError as error:
            return await self._answer(ctx, None, error)
        if invocation is None:
            if ctx.chat_kind is not ChatKind.PRIVATE:
                return None
            spec = self.registry.get(BARE_TEXT_COMMAND)
            if spec is None:
                return None
            invocation = Invocation(spec, spec.bind_text([text.strip()]))
        return await self._answer(ctx, invocation)

    async def handle_action(self, ctx: ChatContext, action: str) -> Reply | None:
        try:
            invocation = self.registry.action(action)
        except UsageError as error:
            return await self._answer(ctx, None, error)
        if invocation is None:
            expired = UsageError("That button no longer works. Send /watches to start again.")
            return await self._answer(ctx, None, expired)
        return await self._answer(ctx, invocation)

    async def handle_options(
        self, ctx: ChatContext, name: str, options: dict[str, Any]
    ) -> Reply | None:
        spec = self.registry.get(name)
        if spec is None:
            return await self._answer(ctx, None, UnknownCommand(name))
        try:
            invocation = Invocation(spec, spec.bind_options(options))
        except UsageError as error:
            return await self._answer(ctx, None, error)
        return await self._answer(ctx, invocation)

    async def complete(self, ctx: ChatContext, source: str, typed: str) -> list[tuple[str, str]]:
        """Suggestions are a convenience: a flood or a banned user simply gets none."""
        completer = self.registry.completer(source)
        if completer is None:
            return []
        if not self._completions.take(ctx.user.key, self._services.clock.now()):
            return []
        try:
            if await self._banned(ctx):
                return []
            return (await completer(Call(ctx, self._services), typed))[:25]
        except Exception:
            log.exception("completing %s failed", source)
            return []

    async def _answer(
        self, ctx: ChatContext, invocation: Invocation | None, error: PricebotError | None = None
    ) -> Reply | None:
        """Admits the caller (rate limits, bans, admin rights), then runs the command or
        explains the error; an unexpected failure answers with an apology and is logged."""
        spec = invocation.spec if invocation is not None else None
        try:
            if not self._within_limits(ctx, spec):
                return None
            await self._admit(ctx, spec)
            if error is not None:
                raise error
            assert invocation is not None
            return await invocation.run(Call(ctx, self._services))
        except PricebotError as refusal:
            return Reply.error(refusal.user_message)
        except Exception:
            name = spec.name if spec is not None else "?"
            log.exception("/%s from %s in %s failed", name, ctx.user.key, ctx.address.chat_id)
            return Reply.error(APOLOGY)

    def _within_limits(self, ctx: ChatContext, spec: CommandSpec | None) -> bool:
        """False (say nothing) for a flood that was already warned; LimitReached to warn."""
        now = self._services.clock.now()
        key = ctx.user.key
        allowed = self._commands.take(key, now)
        if allowed and spec is not None and spec.reads_page:
            allowed = self._reads.take(key, now)
            message = (
                "You have asked me to read many pages in a short time. Wait a minute, then "
                "try again."
            )
        else:
            message = "You are sending commands too fast. Wait a minute, then try again."
        if allowed:
            return True
        if not self._warned.take(key, now):
            return False
        raise LimitReached(message)

    async def _banned(self, ctx: ChatContext) -> bool:
        async with self._services.uow() as uow:
            return await uow.users.is_banned(ctx.user.key)

    async def _admit(self, ctx: ChatContext, spec: CommandSpec | None) -> None:
        if await self._banned(ctx):
            raise PermissionDenied("You are banned from using this bot. Ask its operator.")
        if spec is None:
            return
        if ctx.chat_kind not in spec.chats:
            where = "a private chat" if ChatKind.PRIVATE in spec.chats else "a group or channel"
            raise PermissionDenied(f"/{spec.name} works in {where} only.")
        if spec.needs_bot_admin and ctx.user.key not in self._services.config.bot_admins:
            raise PermissionDenied(f"/{spec.name} is for the bot's operators only.")
        if spec.needs_chat_admin and not await ctx.administers_chat():
            raise PermissionDenied(f"Only this chat's admins can use /{spec.name} here.")
