"""Per-host politeness: a cap on requests in flight, a gap between starts, Retry-After, backoff."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Forget idle hosts once this many are remembered, so a long-running worker that has
# seen thousands of shops does not keep a gate for each.
_SWEEP_THRESHOLD = 1024


class HostGate:
    """One host's slots and the earliest time the next request to it may start."""

    __slots__ = ("not_before", "semaphore", "users")

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.not_before = 0.0  # event-loop time
        self.users = 0

    def hold_off(self, seconds: float) -> None:
        """Nobody starts a request to this host for `seconds` (the host said Retry-After)."""
        self.not_before = max(self.not_before, asyncio.get_running_loop().time() + seconds)


class HostGates:
    """Hands out per-host slots: at most `concurrency` in flight and starts `min_gap` apart."""

    def __init__(self, concurrency: int, min_gap: float) -> None:
        self._concurrency = concurrency
        self._min_gap = min_gap
        self._gates: dict[str, HostGate] = {}
        self._sweep_at = _SWEEP_THRESHOLD

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[HostGate]:
        gate = self._gates.get(host)
        if gate is None:
            if len(self._gates) >= self._sweep_at:
                self._sweep()
            gate = self._gates[host] = HostGate(self._concurrency)
        gate.users += 1
        try:
            async with gate.semaphore:
                loop = asyncio.get_running_loop()
                now = loop.time()
                # Reserve a start time before sleeping, so waiters queue up min_gap apart
                # without holding a lock while they wait.
                start = max(now, gate.not_before)
                gate.not_before = start + self._min_gap
                if start > now:
                    await asyncio.sleep(start - now)
                yield gate
        finally:
            gate.users -= 1

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        idle = [
            host for host, gate in self._gates.items() if gate.users == 0 and gate.not_before <= now
        ]
        for host in idle:
            del self._gates[host]
        self._sweep_at = max(_SWEEP_THRESHOLD, 2 * len(self._gates))


def parse_retry_after(value: str | None, *, server_date: str | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), or None.

    An HTTP-date is measured against the response's own Date header when there is one,
    so a server whose clock is off still gets the wait it meant.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    when = _http_date(text)
    if when is None:
        return None
    now = _http_date(server_date) if server_date else None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def backoff_delay(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter for retry number `attempt` (1, 2, ...).

    Half fixed, half random ("equal jitter"): clients that failed together spread out,
    yet none retries almost at once.
    """
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling / 2 + rand() * ceiling / 2
