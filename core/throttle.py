"""Per-user rate limits for chat commands, so a flood of commands cannot flood shops or us."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: datetime


class TokenBuckets:
    """A token bucket per key: `burst` at once, refilled at `per_minute`. Remembers at most
    `capacity` keys (the least recently used are forgotten, i.e. start full again)."""

    def __init__(self, per_minute: float, burst: int, capacity: int = 10_000) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._capacity = capacity
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: datetime) -> bool:
        """Spends one token; False when the key has none left."""
        bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
        elapsed = max((now - bucket.updated).total_seconds(), 0.0)
        bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        self._buckets[key] = bucket
        while len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
        return allowed
