"""Console notifier: alerts for the console chat are printed inline."""

from __future__ import annotations

import itertools
from typing import TextIO

from adapters.console.render import render_text
from core.model import ChatAddress
from core.ports import Notifier
from core.reply import Reply


class ConsoleNotifier(Notifier):
    platform = "console"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._ids = itertools.count(1)

    async def send(self, address: ChatAddress, reply: Reply, *, key: str | None = None) -> str:
        self._stream.write("\n🔔 " + render_text(reply).replace("\n", "\n   ") + "\n")
        self._stream.flush()
        return str(next(self._ids))
