"""CachedCardSource: a card price API over one SourceHttp, its searches and quotes kept a day."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from datetime import timedelta

from adapters.sources.batches import unique
from adapters.sources.cache import MISSING, TtlCache
from adapters.sources.http import SourceHttp
from core.market import CardPrinting, MarketQuote, MarketSource
from core.ports import Clock, SystemClock

# Called by _quotes_uncached once per printing read in full: its quotes, or None when the
# source does not know it (remembered too: asking again the same day is useless).
Keep = Callable[[str, list[MarketQuote] | None], None]


class CachedCardSource(MarketSource):
    """Searches and quotes answered from a cache for `refresh`, asked of the source through
    the hooks `_search_uncached` and `_quotes_uncached` only for what is not cached."""

    def __init__(
        self, http: SourceHttp, *, clock: Clock | None, refresh: timedelta = timedelta(days=1)
    ) -> None:
        self.refresh = refresh
        self._http = http
        self._clock = clock or SystemClock()
        self._quotes: TtlCache[str, list[MarketQuote] | None] = TtlCache(refresh, self._clock)
        self._searches: TtlCache[tuple[str, int], list[CardPrinting]] = TtlCache(
            refresh, self._clock
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def search(self, query: str, limit: int = 10) -> list[CardPrinting]:
        """Printings whose name matches `query`, most likely first (how each source matches
        is said by its `_search_uncached`)."""
        text = " ".join(query.split())
        if not text or limit < 1:
            return []
        key = (text.casefold(), limit)
        cached = self._searches.get(key)
        if cached is not MISSING:
            return cached
        printings = await self._search_uncached(text, limit)
        self._searches.put(key, printings)
        return printings

    async def quotes(self, source_ids: Sequence[str]) -> dict[str, list[MarketQuote]]:
        """Quotes of each printing; only those not cached are asked for. What the source
        answered in full is kept even when a later request fails and raises."""
        answer: dict[str, list[MarketQuote]] = {}
        wanted: list[str] = []
        for source_id in unique(source_ids):
            cached = self._quotes.get(source_id)
            if cached is MISSING:
                wanted.append(source_id)
            elif cached is not None:
                answer[source_id] = cached

        def keep(source_id: str, quotes: list[MarketQuote] | None) -> None:
            self._quotes.put(source_id, quotes)
            if quotes is not None:
                answer[source_id] = quotes

        if wanted:
            await self._quotes_uncached(wanted, keep)
        return answer

    @abc.abstractmethod
    async def _search_uncached(self, text: str, limit: int) -> list[CardPrinting]:
        """At most `limit` printings for `text` (non-empty, whitespace collapsed)."""

    @abc.abstractmethod
    async def _quotes_uncached(self, source_ids: Sequence[str], keep: Keep) -> None:
        """Asks the source for `source_ids` (unique, none cached) and hands each printing's
        answer to `keep` once read in full; ids that cannot be the source's are skipped."""
