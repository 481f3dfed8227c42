"""Every command family, in the order /help and the menus list them."""

from __future__ import annotations

from core.chat import basics, history, track, watches
from core.chat.registry import Registry


def build_registry() -> Registry:
    """The registry of all commands. A new family is one module, added here."""
    return Registry([track.commands, watches.commands, history.commands, basics.commands])
