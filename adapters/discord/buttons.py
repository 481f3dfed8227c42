"""Buttons that survive restarts: one DynamicItem answers every "pb:<action>" custom_id."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from adapters.discord.render import CUSTOM_ID_PREFIX, ButtonSpec

if TYPE_CHECKING:
    from collections.abc import Sequence


class ButtonPresses(Protocol):
    """What a press is handed to (the handlers of the client that received it)."""

    async def on_button(self, interaction: discord.Interaction, action: str) -> None: ...


class PressesButtons(Protocol):
    """A client that knows where presses go (adapters.discord.client.PricebotClient)."""

    handlers: ButtonPresses


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(re.escape(CUSTOM_ID_PREFIX) + r"(?P<action>[^\n]+)"),
):
    """A button whose custom_id carries its action ("pb:untrack 12").

    Registered once per client (setup_hook), it matches presses on any message with such a
    button, including messages sent before this process started: nothing is kept in memory
    per message, so a press works after a restart and on any replica. Who may do what is
    decided by the front door, from the presser and the channel, never from the button."""

    def __init__(self, action: str, label: str = "", style: discord.ButtonStyle | None = None):
        super().__init__(
            discord.ui.Button(
                label=label or None,
                style=style or discord.ButtonStyle.secondary,
                custom_id=CUSTOM_ID_PREFIX + action,
            )
        )
        self.action = action

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Button[Any],
        match: re.Match[str],
        /,
    ) -> ActionButton:
        return cls(match["action"], item.label or "", item.style)

    async def callback(self, interaction: discord.Interaction) -> None:
        client: PressesButtons = interaction.client  # type: ignore[assignment]
        await client.handlers.on_button(interaction, self.action)


def view_for(buttons: Sequence[ButtonSpec]) -> discord.ui.View | None:
    """The message's buttons as a persistent view (no timeout; every action button a
    DynamicItem), or None when there are none. Needs a running event loop."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for spec in buttons:
        if spec.url is not None:
            view.add_item(discord.ui.Button(label=spec.label, url=spec.url))
        else:
            assert spec.custom_id is not None
            view.add_item(ActionButton(spec.custom_id.removeprefix(CUSTOM_ID_PREFIX), spec.label))
    return view
