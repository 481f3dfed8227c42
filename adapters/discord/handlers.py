"""Slash commands, autocomplete, buttons and prefix messages in; front door Replies out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from adapters.discord.context import (
    command_line,
    context_for_interaction,
    context_for_message,
    mentions_bot,
)
from adapters.discord.outgoing import (
    NO_MENTIONS,
    answer_interaction,
    channel_of,
    replace_pressed,
    send_to_channel,
)
from adapters.discord.render import RenderError, render_reply
from core.chat.dispatcher import APOLOGY, ChatFrontDoor, apology_for
from core.chat.registry import CommandSpec, Param, split_command
from core.errors import UsageError
from core.reply import Reply

log = logging.getLogger(__name__)

# Discord drops an interaction that is not answered within 3 s. A command that reads a page
# defers at once; any other is answered directly, or deferred when it has not finished by
# then (a busy database), leaving time for the deferral itself to arrive.
ANSWER_WITHIN = 2.0
MAX_CHOICE = 100
_EXPIRED_INTERACTION = 10062  # Unknown interaction: its 3 s passed (e.g. during an outage)
_EXPIRED_TOKEN = 50027  # Invalid Webhook Token: its 15 minutes passed


class DiscordHandlers:
    """One per client. Everything a user does arrives here with the caller's context."""

    def __init__(self, front_door: ChatFrontDoor, prefix: str = "!") -> None:
        self.front_door = front_door
        self.prefix = prefix

    # ----- slash commands and autocomplete ----------------------------------------------------

    async def on_command(
        self, interaction: discord.Interaction, spec: CommandSpec, options: dict[str, Any]
    ) -> None:
        """A slash command: the front door runs it; the answer is the interaction's response.
        Errors are shown to the caller only."""
        values = {name: value for name, value in options.items() if value is not None}
        ctx = context_for_interaction(interaction)
        reply = await self._in_time(
            interaction,
            lambda: self.front_door.handle_options(ctx, spec.name, values),
            defer_now=spec.reads_page,
            defer=lambda: interaction.response.defer(thinking=True),
        )
        try:
            if reply is None:
                await _say_nothing(interaction)
            else:
                await answer_interaction(interaction, reply, ephemeral=reply.is_error)
        except Exception as error:
            await self._answer_failed(interaction, reply, error)

    async def on_autocomplete(
        self, interaction: discord.Interaction, param: Param, typed: str
    ) -> list[app_commands.Choice[Any]]:
        """Suggestions for an option with autocomplete, limited by the front door to what the
        caller may use in this channel (never another chat's watches)."""
        if param.autocomplete is None:
            return []
        ctx = context_for_interaction(interaction)
        suggestions = await self.front_door.complete(ctx, param.autocomplete, str(typed or ""))
        choices: list[app_commands.Choice[Any]] = []
        for label, value in suggestions[:25]:
            typed_value = _option_value(param, value)
            if typed_value is not None and label.strip():
                choices.append(app_commands.Choice(name=label[:MAX_CHOICE], value=typed_value))
        return choices

    # ----- buttons ------------------------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, action: str) -> None:
        """A button press: the front door acts as if the presser typed the action in this
        channel (so it checks that the watch is this chat's and the presser may change it).
        An error goes to the presser only and leaves the message as it was; a short answer
        replaces the pressed message; a chart or a long answer comes as new messages."""
        ctx = context_for_interaction(interaction)
        reply = await self._in_time(
            interaction,
            lambda: self.front_door.handle_action(ctx, action),
            defer_now=self._reads_page(action),
            defer=lambda: interaction.response.defer(),
        )
        try:
            await _show_button_answer(interaction, reply)
        except Exception as error:
            await self._answer_failed(interaction, reply, error)

    # ----- prefix messages ----------------------------------------------------------------------

    async def on_message(self, message: discord.Message, bot_id: int | None) -> None:
        """A message for the bot: a prefix command ("!track ..."), one that mentions it
        ("@pricebot track ..."), or in a DM any message."""
        if message.author.bot or message.webhook_id is not None:
            return  # other bots, webhooks and this bot's own messages
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        line = command_line(
            message.content, prefix=self.prefix, bot_id=bot_id, private=message.guild is None
        )
        if line is None:
            return
        try:
            ctx = context_for_message(message)
            if self._line_reads_page(line):
                await _typing(message.channel)
            addressed = mentions_bot(message.content, bot_id)
            reply = await self.front_door.handle_text(ctx, line, addressed=addressed)
            if reply is not None:
                await send_to_channel(message.channel, reply, answering=message)
        except Exception as error:
            log.exception("handling a message in channel %s failed", message.channel.id)
            await _apologise(message, error)

    # ----- shared -------------------------------------------------------------------------------

    async def _in_time(
        self,
        interaction: discord.Interaction,
        work: Callable[[], Awaitable[Reply | None]],
        *,
        defer_now: bool,
        defer: Callable[[], Awaitable[object]],
    ) -> Reply | None:
        """Runs `work` for an interaction so it is acknowledged within Discord's 3 s: deferred
        at once when `defer_now`, else only if the answer is not ready in ANSWER_WITHIN.
        A failure of the front door itself becomes an apology."""
        task = asyncio.ensure_future(_guarded(work))
        if not defer_now:
            done, _ = await asyncio.wait({task}, timeout=ANSWER_WITHIN)
            if task in done:
                return task.result()
        try:
            await defer()
        except discord.NotFound as error:
            # Too late to acknowledge (it waited out an outage): the work still runs, and its
            # answer goes to the channel instead.
            if error.code != _EXPIRED_INTERACTION:
                raise
            log.warning("interaction %s expired before it could be deferred", interaction.id)
        return await task

    async def _answer_failed(
        self, interaction: discord.Interaction, reply: Reply | None, error: Exception
    ) -> None:
        """The answer could not be shown through the interaction: when the interaction has
        expired it goes to the channel; anything else is logged and the caller gets an
        apology if possible."""
        if reply is not None and _expired(interaction, error):
            try:
                await send_to_channel(channel_of(interaction), reply)
                return
            except Exception as fallback_error:
                error = fallback_error
        log.error(
            "answering interaction %s failed: %s", interaction.id, _describe(error), exc_info=error
        )
        apology = Reply.error(apology_for(error))
        try:
            if interaction.response.is_done():
                await interaction.followup.send(
                    **_plain(apology), ephemeral=True, allowed_mentions=NO_MENTIONS
                )
            else:
                await interaction.response.send_message(
                    **_plain(apology), ephemeral=True, allowed_mentions=NO_MENTIONS
                )
        except Exception:  # the interaction itself may be why it failed: nothing more to do
            log.warning("could not apologise for interaction %s", interaction.id)

    def _reads_page(self, action: str) -> bool:
        try:
            invocation = self.front_door.registry.action(action)
        except UsageError:
            return False
        return invocation is not None and invocation.spec.reads_page

    def _line_reads_page(self, line: str) -> bool:
        split = split_command(line)
        spec = self.front_door.registry.get(split[0]) if split is not None else None
        return spec is not None and spec.reads_page


def _expired(interaction: discord.Interaction, error: Exception) -> bool:
    """Whether the interaction can no longer be answered through (the channel still can)."""
    if isinstance(error, discord.HTTPException) and error.code in (
        _EXPIRED_INTERACTION,
        _EXPIRED_TOKEN,
    ):
        return True
    return interaction.is_expired()


async def _guarded(work: Callable[[], Awaitable[Reply | None]]) -> Reply | None:
    try:
        return await work()
    except Exception as error:
        log.exception("the front door failed")
        return Reply.error(apology_for(error))


async def _show_button_answer(interaction: discord.Interaction, reply: Reply | None) -> None:
    if reply is None:
        if not interaction.response.is_done():
            await interaction.response.defer()  # acknowledged, nothing changes
        return
    if reply.is_error:
        await answer_interaction(interaction, reply, ephemeral=True)
        return
    parts = render_reply(reply)
    if len(parts) == 1 and parts[0].image_png is None:
        await replace_pressed(interaction, parts[0])
        return
    await answer_interaction(interaction, reply)


async def _say_nothing(interaction: discord.Interaction) -> None:
    """A command the front door chose not to answer (a flood past its warning) still has to
    be acknowledged; the acknowledgement is removed again, so nothing shows."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.delete_original_response()


async def _typing(channel: discord.abc.Messageable) -> None:
    """Shows "typing..." while a page is read; a channel that refuses it changes nothing."""
    try:
        await channel.typing()
    except discord.HTTPException:
        pass


async def _apologise(message: discord.Message, error: Exception) -> None:
    try:
        await send_to_channel(message.channel, Reply.error(apology_for(error)))
    except Exception:  # the channel may be why it failed (gone, no permission)
        log.warning("could not send an apology to channel %s", message.channel.id)


def _option_value(param: Param, value: str) -> Any:
    """A suggestion's value in the option's type (Discord refuses a string for a number)."""
    try:
        if param.kind == "integer":
            return int(value)
        if param.kind == "number":
            return float(value)
    except ValueError:
        return None
    return value[:MAX_CHOICE] or None


def _plain(reply: Reply) -> dict[str, Any]:
    """An apology that cannot fail to render (no buttons, short)."""
    try:
        [part] = render_reply(reply)
        return {"embeds": list(part.embeds)}
    except (RenderError, ValueError):
        return {"content": APOLOGY}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
