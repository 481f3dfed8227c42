"""Every command family, in the order /help and the menus list them."""

from __future__ import annotations

from core.chat import basics, cards, history, holdings, holdings_add, track, watches
from core.chat.registry import Registry


def build_registry() -> Registry:
    """The registry of all commands. A new family is one module, added here."""
    return Registry(
        [
            track.commands,
            watches.commands,
            history.commands,
            holdings.commands,
            holdings_add.commands,
            cards.commands,
            basics.commands,
        ]
    )
