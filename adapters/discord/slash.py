"""Slash commands generated from the command registry, and the hash of what they register."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from adapters.discord.handlers import DiscordHandlers
from core.chat.registry import CommandSpec, Param, Registry
from core.model import ChatKind

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 100
# Discord cannot run a group by itself: a registry command that is also a group's name
# ("/holdings" beside "/holdings add") becomes the group's subcommand of this name.
GROUP_OWN_COMMAND = ("show", "view", "list")
_OPTION_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float}

Callback = Callable[..., Coroutine[Any, Any, None]]
SlashCommand = app_commands.Command[Any, ..., None] | app_commands.Group


class RegistryTree(app_commands.CommandTree[discord.Client]):
    """The client's command tree. A command Discord knows but this tree does not (registered
    by an older version, until the next sync) is answered instead of left spinning."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        log.warning("slash command failed: %s: %s", type(error).__name__, error)
        if interaction.type is not discord.InteractionType.application_command:
            return
        if interaction.response.is_done():
            return
        try:
            await interaction.response.send_message(
                "That command has changed since this bot was updated. Try again in a minute.",
                ephemeral=True,
            )
        except discord.HTTPException:
            pass


def build_tree(
    client: discord.Client, registry: Registry, handlers: DiscordHandlers
) -> RegistryTree:
    """The client's tree: every visible registry command, each "group sub" command under
    its group, dispatched to `handlers`."""
    tree = RegistryTree(client)
    for command in slash_commands(registry, handlers):
        tree.add_command(command)
    return tree


def slash_commands(registry: Registry, handlers: DiscordHandlers) -> list[SlashCommand]:
    """Top-level slash commands in registry order. Hidden commands (a bare link's offer) are
    left out; aliases are not registered twice (they work as prefix commands)."""
    visible = [spec for spec in registry if not spec.hidden]
    commands: list[SlashCommand] = []
    for word in dict.fromkeys(spec.words[0] for spec in visible):
        own = next((s for s in visible if s.words == (word,)), None)
        subs = [s for s in visible if len(s.words) == 2 and s.words[0] == word]
        if len(subs) + (own is not None) != len([s for s in visible if s.words[0] == word]):
            raise ValueError(f"/{word}: Discord allows a command and one level of subcommands")
        if not subs:
            assert own is not None
            commands.append(_command(own, handlers, top_level=True))
            continue
        group = app_commands.Group(
            name=word,
            description=_description(own.summary if own else _group_summary(word, subs)),
            allowed_contexts=_contexts([*subs, *([own] if own else [])]),
        )
        if own is not None:
            taken = {sub.words[1] for sub in subs}
            name = next(n for n in GROUP_OWN_COMMAND if n not in taken)
            group.add_command(_command(own, handlers, name=name))
        for sub in subs:
            group.add_command(_command(sub, handlers, name=sub.words[1]))
        commands.append(group)
    return commands


def tree_hash(tree: app_commands.CommandTree[Any], application_id: int | None) -> str:
    """A digest of exactly what a sync would send (and for which application): equal hashes
    mean Discord already has these commands."""
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    text = json.dumps(
        {"application_id": application_id, "commands": payload},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _command(
    spec: CommandSpec,
    handlers: DiscordHandlers,
    *,
    name: str | None = None,
    top_level: bool = False,
) -> app_commands.Command[Any, ..., None]:
    callback = _callback(spec, handlers)
    descriptions = {param.name: _description(param.description) for param in spec.params}
    if descriptions:
        callback = app_commands.describe(**descriptions)(callback)
    choices = {
        param.name: [_choice(param, choice) for choice in param.choices]
        for param in spec.params
        if param.choices and not param.autocomplete
    }
    if choices:
        callback = app_commands.choices(**choices)(callback)
    command = app_commands.Command(
        name=name or spec.words[0],
        description=_description(spec.summary),
        callback=callback,
        allowed_contexts=_contexts([spec]) if top_level else None,
    )
    for param in spec.params:
        if param.autocomplete:
            command.autocomplete(param.name)(_completer(param, handlers))
    return command


def _callback(spec: CommandSpec, handlers: DiscordHandlers) -> Callback:
    """A callback whose signature declares the spec's parameters (name, type, required), which
    is how app_commands learns a command's options."""

    async def run(interaction: discord.Interaction, **options: Any) -> None:
        await handlers.on_command(interaction, spec, options)

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_ONLY, annotation=discord.Interaction
        )
    ]
    for param in spec.params:
        if param.kind not in _OPTION_TYPES:
            raise ValueError(f"/{spec.name} {param.name}: unknown kind {param.kind!r}")
        annotation: Any = _OPTION_TYPES[param.kind]
        parameters.append(
            inspect.Parameter(
                param.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=annotation if param.required else annotation | None,
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__name__ = run.__qualname__ = f"slash_{spec.name.replace(' ', '_')}"
    return run


def _completer(
    param: Param, handlers: DiscordHandlers
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[Any]]]]:
    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[Any]]:
        return await handlers.on_autocomplete(interaction, param, current)

    return complete


def _choice(param: Param, choice: str) -> app_commands.Choice[Any]:
    value: Any = choice
    if param.kind == "integer":
        value = int(choice)
    elif param.kind == "number":
        value = float(choice)
    return app_commands.Choice(name=choice[:MAX_DESCRIPTION], value=value)


def _contexts(specs: list[CommandSpec]) -> app_commands.AppCommandContext:
    """Servers and/or DMs, as the specs' chat kinds allow (a bot is never in group DMs)."""
    kinds = set().union(*(spec.chats for spec in specs))
    return app_commands.AppCommandContext(
        guild=bool(kinds & {ChatKind.GROUP, ChatKind.CHANNEL}),
        dm_channel=ChatKind.PRIVATE in kinds,
        private_channel=False,
    )


def _group_summary(word: str, subs: list[CommandSpec]) -> str:
    return f"/{word} " + " | ".join(sub.words[1] for sub in subs)


def _description(text: str) -> str:
    """Discord allows 1..100 characters."""
    text = " ".join(text.split()) or "-"
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"
