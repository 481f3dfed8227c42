"""Splitting lookups into a source's batch size and running per-item lookups a few at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from core.market import SourceError

T = TypeVar("T")


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size < 1:
        raise ValueError("the batch size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unique(items: Iterable[str]) -> list[str]:
    """Non-empty strings in first-seen order, each once."""
    return list(dict.fromkeys(item for item in items if isinstance(item, str) and item))


async def run_bounded(jobs: Iterable[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Runs the jobs, at most `concurrency` at a time. The first SourceError cancels the rest
    and is raised as it is (a source that is down must not be asked thousands more times)."""
    gate = asyncio.Semaphore(concurrency)

    async def gated(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(gated(job))
    except ExceptionGroup as failures:
        first = next((e for e in failures.exceptions if isinstance(e, SourceError)), None)
        if first is None:
            raise
        raise first from None
