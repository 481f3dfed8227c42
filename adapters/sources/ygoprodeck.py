"""YGOPRODeck: Yu-Gi-Oh! printings (card id + set code), their set prices and card-wide prices."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from adapters.sources.batches import chunked
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
)
from core.market import CardPrinting, MarketQuote, SourceError
from core.ports import Clock

YGOPRODECK_API = "https://db.ygoprodeck.com/api/v7"
# YGOPRODeck allows 20 requests a second and blocks an address for an hour past that: a
# quarter of it leaves room for every other user of pricebot's address.
DEFAULT_LIMITS: Mapping[str, RateLimit] = MappingProxyType({"api": RateLimit.per_second(5)})
# cardinfo.php?id= takes a comma-separated list; 50 passcodes keep the URL short.
IDS_PER_REQUEST = 50
# card_prices[] key -> (market, currency). Cardmarket trades in euros, the others in dollars.
CARD_PRICE_MARKETS: Mapping[str, tuple[str, str]] = {
    "cardmarket_price": ("cardmarket", "EUR"),
    "tcgplayer_price": ("tcgplayer", "USD"),
    "ebay_price": ("ebay", "USD"),
    "amazon_price": ("amazon", "USD"),
    "coolstuffinc_price": ("coolstuffinc", "USD"),
}
# card_sets[].set_price is YGOPRODeck's price of that printing and rarity, in dollars.
SET_PRICE_CURRENCY = "USD"
# The answer YGOPRODeck gives (HTTP 400) when nothing matches.
_NO_MATCH = "no card matching"
_SOURCE_ID = re.compile(r"(\d{1,10}):(\S{1,40})")


class YgoprodeckSource(CachedCardSource):
    """Yu-Gi-Oh! printings from YGOPRODeck. A printing's source_id is "<card id>:<set code>"
    ("46986414:LOB-EN005"); one set code printed in several rarities gives one printing whose
    finishes are the rarities, each with its own set price. Card images are not offered:
    YGOPRODeck forbids hotlinking them."""

    name = "ygoprodeck"
    game = "yugioh"

    def __init__(
        self,
        base_url: str = YGOPRODECK_API,
        *,
        clock: Clock | None = None,
        refresh: timedelta = timedelta(days=1),
        timeout: float = DEFAULT_TIMEOUT,
        limits: Mapping[str, RateLimit] = DEFAULT_LIMITS,
    ) -> None:
        http = SourceHttp(
            self.name,
            base_url,
            limits={**DEFAULT_LIMITS, **limits},
            timeout=timeout,
            # Past its limit YGOPRODeck blocks for an hour: a 429 without Retry-After is
            # taken to mean that.
            default_pause=3600.0,
        )
        super().__init__(http, clock=clock, refresh=refresh)

    # ----- search ---------------------------------------------------------------------------

    async def _search_uncached(self, text: str, limit: int) -> list[CardPrinting]:
        """The printings of the card named exactly `text` (cardinfo.php?name=); when there is
        none, of the cards whose names contain it (?fname=), closest names first."""
        cards = await self._cards({"name": text})
        if not cards:
            cards = await self._cards({"fname": text})
            cards.sort(key=lambda card: name_rank(card["name"], text))
        return [p for card in cards for p in self._printings(card)][:limit]

    def _printings(self, card: dict[str, Any]) -> list[CardPrinting]:
        by_code: dict[str, list[dict[str, Any]]] = {}
        for entry in _card_sets(card, self.name):
            by_code.setdefault(entry["set_code"], []).append(entry)
        return [
            CardPrinting(
                source=self.name,
                source_id=f"{card['id']}:{code}",
                game=self.game,
                name=card["name"],
                set_name=optional_text(entries[0], "set_name"),
                set_code=code,
                rarity=" / ".join(_rarities(entries)) or None,
                finishes=tuple(_slug(rarity) for rarity in _rarities(entries)),
                url=optional_text(card, "ygoprodeck_url"),
            )
            for code, entries in by_code.items()
        ]

    # ----- quotes ---------------------------------------------------------------------------

    async def _quotes_uncached(self, source_ids: Sequence[str], keep: Keep) -> None:
        """Quotes by "<card id>:<set code>", up to 50 cards per request: each rarity's set
        price ("ygoprodeck", kind "market", finish = rarity), and the card-wide prices of
        card_prices[] (kind "low", finish "any": the cheapest printing, not this one)."""
        wanted: dict[str, list[tuple[str, str]]] = {}  # card id -> [(source id, set code)]
        for source_id in source_ids:
            parsed = _SOURCE_ID.fullmatch(source_id)
            if parsed:  # anything else is no printing YGOPRODeck could know
                card_id = str(int(parsed[1]))  # passcodes are numbers: "01861629" is 1861629
                wanted.setdefault(card_id, []).append((source_id, parsed[2]))
        for card_ids in chunked(list(wanted), IDS_PER_REQUEST):
            cards = await self._cards_by_id(card_ids)
            now = self._clock.now()
            # The whole answer is read before anything is kept: a malformed card further
            # down must not leave the ones before it cached.
            found = {
                source_id: self._printing_quotes(source_id, code, cards[card_id], now)
                if card_id in cards
                else None
                for card_id in card_ids
                for source_id, code in wanted[card_id]
            }
            for source_id, quotes in found.items():
                keep(source_id, quotes)

    def _printing_quotes(
        self, source_id: str, code: str, card: dict[str, Any], now: datetime
    ) -> list[MarketQuote] | None:
        entries = [entry for entry in _card_sets(card, self.name) if entry["set_code"] == code]
        if not entries:
            return None  # the card exists, this printing does not
        made = [
            quote(
                source=self.name,
                market="ygoprodeck",
                item_id=source_id,
                finish=_slug(optional_text(entry, "set_rarity") or "unknown"),
                kind="market",
                value=entry.get("set_price"),
                currency=SET_PRICE_CURRENCY,
                as_of=now,
            )
            for entry in entries
        ]
        prices = card.get("card_prices")
        first = prices[0] if isinstance(prices, list) and prices else None
        if isinstance(first, dict):
            made += [
                quote(
                    source=self.name,
                    market=market,
                    item_id=source_id,
                    finish="any",
                    kind="low",
                    value=first.get(key),
                    currency=currency,
                    as_of=now,
                )
                for key, (market, currency) in CARD_PRICE_MARKETS.items()
            ]
        return [q for q in made if q is not None]

    # ----- requests -------------------------------------------------------------------------

    async def _cards_by_id(self, card_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        answered = await self._cards({"id": ",".join(card_ids)})
        if not answered and len(card_ids) > 1:
            # "No card matching" for a list may mean one unknown passcode spoiled it: ask one
            # by one rather than take every card of the batch for unknown for a day.
            answered = [card for card_id in card_ids for card in await self._cards({"id": card_id})]
        return {str(card["id"]): card for card in answered}

    async def _cards(self, params: dict[str, str]) -> list[dict[str, Any]]:
        reply = await self._http.request(
            "GET", "cardinfo.php", bucket="api", params=params, expect=(200, 400)
        )
        if reply.status == 400:
            error = reply.json()
            message = error.get("error") if isinstance(error, dict) else None
            if isinstance(message, str) and _NO_MATCH in message.lower():
                return []
            raise SourceError(self.name, "rejected")
        body = mapping(reply.json(), self.name)
        cards = [mapping(card, self.name) for card in sequence(body.get("data"), self.name)]
        for card in cards:
            if isinstance(card.get("id"), bool) or not isinstance(card.get("id"), int | str):
                raise SourceError(self.name, "malformed")
            required_text(card, "name", self.name)
        return cards


def _card_sets(card: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """The card's printings; an entry without a set code is malformed. No card_sets at all is
    fine (cards not yet printed in the TCG)."""
    entries = card.get("card_sets")
    if entries is None:
        return []
    result = []
    for entry in sequence(entries, source):
        entry = mapping(entry, source)
        required_text(entry, "set_code", source)
        result.append(entry)
    return result


def _rarities(entries: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r for e in entries if (r := optional_text(e, "set_rarity"))))


def _slug(rarity: str) -> str:
    """ "Ultra Rare" -> "ultra-rare"."""
    return "-".join(rarity.lower().split())
