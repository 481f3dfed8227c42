"""A time-to-live cache on pricebot's clock: market answers are kept for a day, then asked again."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from core.ports import Clock

K = TypeVar("K")
V = TypeVar("V")


class Missing(enum.Enum):
    MISSING = enum.auto()


MISSING = Missing.MISSING


class TtlCache(Generic[K, V]):
    """Values kept for `ttl` after they were stored. `get` tells a stored None (a card the
    source does not know) from an absent key (MISSING)."""

    def __init__(self, ttl: timedelta, clock: Clock, max_entries: int = 200_000) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the cache's ttl must be positive")
        self.ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[K, tuple[datetime, V]] = {}

    def get(self, key: K) -> V | Missing:
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        expires, value = entry
        if self._clock.now() >= expires:
            del self._entries[key]
            return MISSING
        return value

    def put(self, key: K, value: V) -> None:
        self._entries.pop(key, None)  # re-inserted last: the oldest entries stay first
        self._entries[key] = (self._clock.now() + self.ttl, value)
        if len(self._entries) > self._max_entries:
            self._evict()

    def _evict(self) -> None:
        now = self._clock.now()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        return len(self._entries)
