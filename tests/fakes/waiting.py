"""What the fake servers share: an event renewed at every change, that tests wait on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ChangeWaiter:
    """Mixed into a fake server: `_signal()` after every change of its state wakes whoever
    waits in `wait_until` (or on `_changed`, like a long poll)."""

    _changed: asyncio.Event

    def _signal(self) -> None:
        """Wakes every waiter: something changed."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(
        self,
        condition: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout keeps test code short
    ) -> T:
        """Waits until `condition()` is truthy (re-checked whenever the server's state changes)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = condition()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout}s")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                pass
