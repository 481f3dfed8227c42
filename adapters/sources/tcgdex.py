"""TCGdex: Pokémon TCG printings and their TCGplayer (USD) and Cardmarket (EUR) prices."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Any
from urllib.parse import quote as url_quote

from adapters.sources.batches import run_bounded
from adapters.sources.cache import MISSING, TtlCache
from adapters.sources.card_source import CachedCardSource, Keep
from adapters.sources.http import DEFAULT_TIMEOUT, SourceHttp
from adapters.sources.limits import RateLimit
from adapters.sources.names import name_rank
from adapters.sources.payload import (
    mapping,
    optional_text,
    quote,
    required_text,
    sequence,
    timestamp,
)
from core.market import CardPrinting, MarketQuote
from core.ports import Clock

TCGDEX_API = "https://api.tcgdex.net/v2"
# TCGdex publishes no hard limit and asks clients to be considerate; with no batch endpoint
# (one request per card) a steady 5 a second is gentle and still values 5,000 cards in ~17 min.
DEFAULT_LIMITS: Mapping[str, RateLimit] = MappingProxyType({"api": RateLimit.per_second(5)})
# Card lookups in flight at once (the pace above still applies).
CONCURRENCY = 4
# pricing.tcgplayer variant key -> finish. TCGdex names the key after TCGplayer's sub-type
# ("Reverse Holofoil" -> "reverse-holofoil"); its own card example writes "reverse".
TCGPLAYER_FINISHES: Mapping[str, str] = {
    "normal": "normal",
    "holofoil": "holofoil",
    "reverse-holofoil": "reverse-holofoil",
    "reverse": "reverse-holofoil",
    "1st-edition": "1st-edition",
    "1st-edition-holofoil": "1st-edition-holofoil",
    "unlimited": "unlimited",
    "unlimited-holofoil": "unlimited-holofoil",
}
TCGPLAYER_KINDS: Mapping[str, str] = {
    "marketPrice": "market",
    "lowPrice": "low",
    "midPrice": "mid",
    "highPrice": "high",
    "directLowPrice": "direct-low",
}
# pricing.cardmarket key -> kind, for the plain card; "<key>-holo" is the foil one.
CARDMARKET_KINDS: Mapping[str, str] = {
    "trend": "trend",
    "avg": "average",
    "low": "low",
    "avg1": "average-1d",
    "avg7": "average-7d",
    "avg30": "average-30d",
}
_LANGUAGE = re.compile(r"[a-z]{2}(?:-[a-z]{2})?")
# Card ids look like "swsh3-136", "sv03.5-6", "xyp-XY99"; nothing else reaches a URL path.
_CARD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class TcgdexSource(CachedCardSource):
    """Pokémon printings from TCGdex (api.tcgdex.net/v2/{language}). It has no batch lookup:
    quotes cost one request per card, a few at a time, cached for a day."""

    name = "tcgdex"
    game = "pokemon"

    def __init__(
        self,
        base_url: str = TCGDEX_API,
        *,
        language: str = "en",
        clock: Clock | None = None,
        refresh: timedelta = timedelta(days=1),
        timeout: float = DEFAULT_TIMEOUT,
        limits: Mapping[str, RateLimit] = DEFAULT_LIMITS,
        concurrency: int = CONCURRENCY,
    ) -> None:
        if not _LANGUAGE.fullmatch(language):
            raise ValueError(f"not a TCGdex language code: {language!r}")
        http = SourceHttp(self.name, base_url, limits={**DEFAULT_LIMITS, **limits}, timeout=timeout)
        super().__init__(http, clock=clock, refresh=refresh)
        self._language = language
        self._concurrency = max(1, concurrency)
        self._sets: TtlCache[str, dict[str, str]] = TtlCache(refresh, self._clock)

    # ----- search ---------------------------------------------------------------------------

    async def _search_uncached(self, text: str, limit: int) -> list[CardPrinting]:
        """Cards whose name contains `text` (GET /cards?name=), the exact name first, then
        names starting with it; within a rank the newest set first."""
        reply = await self._http.request(
            "GET",
            f"{self._language}/cards",
            bucket="api",
            params={"name": text},
            expect=(200, 404),
        )
        briefs = [] if reply.status == 404 else sequence(reply.json(), self.name)
        cards = [mapping(brief, self.name) for brief in briefs]
        for card in cards:
            required_text(card, "id", self.name)
            required_text(card, "name", self.name)
        # TCGdex lists the oldest release first; a collector more likely holds a recent one.
        cards.reverse()
        cards.sort(key=lambda card: name_rank(card["name"], text))
        set_names = await self._set_names() if cards else {}
        return [self._printing(card, set_names) for card in cards[:limit]]

    async def _set_names(self) -> dict[str, str]:
        """Set id -> name, from GET /sets once a day (card briefs carry no set name)."""
        cached = self._sets.get(self._language)
        if cached is not MISSING:
            return cached
        reply = await self._http.request("GET", f"{self._language}/sets", bucket="api")
        names = {}
        for entry in sequence(reply.json(), self.name):
            entry = mapping(entry, self.name)
            names[required_text(entry, "id", self.name)] = required_text(entry, "name", self.name)
        self._sets.put(self._language, names)
        return names

    def _printing(self, card: dict[str, Any], set_names: dict[str, str]) -> CardPrinting:
        card_id = card["id"]
        set_id = card_id.rsplit("-", 1)[0] if "-" in card_id else None
        image = optional_text(card, "image")
        return CardPrinting(
            source=self.name,
            source_id=card_id,
            game=self.game,
            name=card["name"],
            set_name=set_names.get(set_id) if set_id else None,
            set_code=set_id,
            number=optional_text(card, "localId"),
            # TCGdex image URLs come without quality and format; both are appended.
            image=f"{image}/high.webp" if image else None,
        )

    # ----- quotes ---------------------------------------------------------------------------

    async def _quotes_uncached(self, source_ids: Sequence[str], keep: Keep) -> None:
        """Quotes by TCGdex card id: GET /cards/{id} for each, a few at a time. Every card is
        kept once its answer is read in full; the first failure stops the rest and raises."""

        async def fetch(card_id: str) -> None:
            keep(card_id, await self._card_quotes(card_id))

        wanted = [card_id for card_id in source_ids if _CARD_ID.fullmatch(card_id)]
        await run_bounded((partial(fetch, card_id) for card_id in wanted), self._concurrency)

    async def _card_quotes(self, card_id: str) -> list[MarketQuote] | None:
        reply = await self._http.request(
            "GET",
            f"{self._language}/cards/{url_quote(card_id, safe='')}",
            bucket="api",
            expect=(200, 404),
        )
        if reply.status == 404:
            return None
        card = mapping(reply.json(), self.name)
        required_text(card, "id", self.name)
        pricing = card.get("pricing")
        if pricing is None:  # not listed on either market: known, but no price
            return []
        pricing = mapping(pricing, self.name)
        now = self._clock.now()
        quotes = self._tcgplayer(card_id, pricing.get("tcgplayer"), now)
        quotes += self._cardmarket(card_id, pricing.get("cardmarket"), now)
        return quotes

    def _tcgplayer(self, card_id: str, block: object, now: datetime) -> list[MarketQuote]:
        if not isinstance(block, dict):
            return []
        currency = block.get("unit") or "USD"
        as_of = timestamp(block.get("updated")) or now
        quotes = []
        for key, variant in block.items():
            if not isinstance(variant, dict):
                continue  # "updated", "unit"
            finish = TCGPLAYER_FINISHES.get(key, key.lower().replace(" ", "-"))
            for field, kind in TCGPLAYER_KINDS.items():
                quotes.append(
                    quote(
                        source=self.name,
                        market="tcgplayer",
                        item_id=card_id,
                        finish=finish,
                        kind=kind,
                        value=variant.get(field),
                        currency=str(currency),
                        as_of=as_of,
                    )
                )
        return [made for made in quotes if made is not None]

    def _cardmarket(self, card_id: str, block: object, now: datetime) -> list[MarketQuote]:
        if not isinstance(block, dict):
            return []
        currency = block.get("unit") or "EUR"  # Cardmarket prices in euros
        as_of = timestamp(block.get("updated")) or now
        quotes = []
        # "-holo" prices are documented as the foil ones.
        for suffix, finish in (("", "normal"), ("-holo", "foil")):
            for field, kind in CARDMARKET_KINDS.items():
                quotes.append(
                    quote(
                        source=self.name,
                        market="cardmarket",
                        item_id=card_id,
                        finish=finish,
                        kind=kind,
                        value=block.get(field + suffix),
                        currency=str(currency),
                        as_of=as_of,
                    )
                )
        return [made for made in quotes if made is not None]
