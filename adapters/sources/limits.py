"""Request pacing shared by all users of one market source in the process; the pause after a 429."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from core.market import SourceRateLimited


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most one request every `interval` seconds: a steady pace without bursts, so no
    one-second window ever holds more than 1/interval requests."""

    interval: float

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"RateLimit.interval must be positive, not {self.interval}")

    @classmethod
    def per_second(cls, requests: float) -> RateLimit:
        return cls(1 / requests)

    @property
    def requests_per_second(self) -> float:
        return 1 / self.interval


class Throttle:
    """One source's pace (a leaky bucket of one) and, after a 429, the time before which it
    is not asked again at all."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._limiter = AsyncLimiter(1, limit.interval)
        self._paused_until = 0.0

    async def turn(self, source: str, max_wait: float) -> None:
        """Waits for this source's next slot; a pause longer than `max_wait` fails at once
        instead, so a chat reply or a valuation does not hang on a source that said "later"."""
        remaining = self.paused_for()
        if remaining > max_wait:
            raise SourceRateLimited(source, round(remaining, 1))
        if remaining > 0:
            await asyncio.sleep(remaining)
        await self._limiter.acquire()

    def pause(self, seconds: float) -> None:
        until = asyncio.get_running_loop().time() + seconds
        self._paused_until = max(self._paused_until, until)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())


# Keyed by event loop first: an asyncio limiter must not be shared between loops, and a process
# runs one loop, so this is one throttle per source and bucket for the whole process.
_THROTTLES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Throttle]]
_THROTTLES = weakref.WeakKeyDictionary()


def shared_throttle(origin: str, bucket: str, limit: RateLimit) -> Throttle:
    """The throttle of `bucket` (a group of endpoints with one limit) at `origin` (the API's
    base URL), made on first use. Asking for it with another limit is a configuration error."""
    throttles = _THROTTLES.setdefault(asyncio.get_running_loop(), {})
    key = (origin, bucket)
    throttle = throttles.get(key)
    if throttle is None:
        throttle = throttles[key] = Throttle(limit)
    elif throttle.limit != limit:
        raise ValueError(
            f"{origin} ({bucket}) is already paced at {throttle.limit.requests_per_second:g}/s, "
            f"not {limit.requests_per_second:g}/s"
        )
    return throttle
