"""A time budget for one extraction: a deadline that the loops which can run long check."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from core.errors import PageTooComplex

_T = TypeVar("_T")

# The deadline (time.monotonic) of the extraction running in this context. A ContextVar, not
# a global: every thread has its own context (asyncio.to_thread runs each call in a copy of
# the caller's), so extractions running at once in different threads each keep their own.
_deadline: ContextVar[float | None] = ContextVar("extraction_deadline", default=None)

# Items a loop handles between two looks at the clock: a look costs about 0.1 us, an item of
# the loops that use this at least as much, so the checks cost under 1 % of the loop.
CHECK_EVERY = 256


@contextmanager
def limited(seconds: float | None) -> Iterator[None]:
    """Runs the block with a deadline `seconds` from now. None sets no deadline of its own
    (a deadline set around this block, if any, still applies)."""
    if seconds is None:
        yield
        return
    token = _deadline.set(time.monotonic() + max(seconds, 0.0))
    try:
        yield
    finally:
        _deadline.reset(token)


def check() -> None:
    """Raises PageTooComplex once the current extraction's deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise PageTooComplex()


def remaining() -> float | None:
    """Seconds left before the current deadline (None: no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def batches(items: Sequence[_T], size: int = CHECK_EVERY) -> Iterator[Sequence[_T]]:
    """`items` in slices of `size`, the deadline checked before each: a nested loop over
    these costs nothing per item, where a check per item would show in the hot loops."""
    for start in range(0, len(items), size):
        check()
        yield items[start : start + size]
