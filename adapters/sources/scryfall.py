"""Scryfall: Magic: The Gathering printings with daily TCGplayer, Cardmarket, Cardhoarder prices."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from adapters.sources.batches import chunked
from adapters.sources.card_source import CachedCardSource, Keep
from adapters.sources.http import DEFAULT_TIMEOUT, SourceHttp
from adapters.sources.limits import RateLimit
from adapters.sources.payload import (
    amount,
    mapping,
    optional_text,
    quote,
    required_text,
    sequence,
)
from core.market import CardPrinting, MarketQuote
from core.money import MAX_AMOUNT
from core.ports import Clock

SCRYFALL_API = "https://api.scryfall.com"
# POST /cards/collection takes at most 75 identifiers: 5,000 cards cost 67 requests.
COLLECTION_BATCH = 75
# Scryfall allows 2 requests a second on /cards/search, /cards/named and /cards/collection
# (10 elsewhere; pricebot calls nothing else). One bucket for the three, at a steady pace.
DEFAULT_LIMITS: Mapping[str, RateLimit] = MappingProxyType({"cards": RateLimit.per_second(2)})
# Scryfall requires an Accept header; this is the form its API overview shows.
ACCEPT = "application/json;q=0.9,*/*;q=0.8"
# prices key -> (market whose price it is, finish, currency). Scryfall takes usd* from
# TCGplayer and eur* from Cardmarket, once a day.
PRICE_KEYS: Mapping[str, tuple[str, str, str]] = {
    "usd": ("tcgplayer", "normal", "USD"),
    "usd_foil": ("tcgplayer", "foil", "USD"),
    "usd_etched": ("tcgplayer", "etched", "USD"),
    "eur": ("cardmarket", "normal", "EUR"),
    "eur_foil": ("cardmarket", "foil", "EUR"),
    "eur_etched": ("cardmarket", "etched", "EUR"),
}
# Scryfall's search syntax (t:goblin, cmc>3, -foo, (a or b)...): a name search must not turn
# what a user typed into a query. A hyphen inside a word ("Mind-Sculptor") is kept.
_SEARCH_SYNTAX = re.compile(r"[:<>=!\"()\[\]{}/\\|]|(?<!\w)-")
_CENT = Decimal("0.01")


class ScryfallSource(CachedCardSource):
    """Magic printings from Scryfall (api.scryfall.com).

    `tix_usd`: Scryfall's `tix` is Cardhoarder's price in MTGO Event Tickets, the Magic Online
    token, not money: no ISO code, no exchange rate, and it prices the digital card rather
    than the paper one a collector holds. So tix is left out unless the operator says what one
    ticket is worth in USD (Wizards sells them at 1.00 USD); then it becomes a USD quote of
    market "cardhoarder" with finish "mtgo"."""

    name = "scryfall"
    game = "mtg"

    def __init__(
        self,
        base_url: str = SCRYFALL_API,
        *,
        clock: Clock | None = None,
        refresh: timedelta = timedelta(days=1),  # Scryfall updates prices once a day
        timeout: float = DEFAULT_TIMEOUT,
        limits: Mapping[str, RateLimit] = DEFAULT_LIMITS,
        tix_usd: Decimal | None = None,
    ) -> None:
        if tix_usd is not None and not 0 < tix_usd < 1000:
            raise ValueError("tix_usd is the USD value of one Event Ticket, about 1.00")
        http = SourceHttp(
            self.name,
            base_url,
            limits={**DEFAULT_LIMITS, **limits},
            headers={"Accept": ACCEPT},
            timeout=timeout,
        )
        super().__init__(http, clock=clock, refresh=refresh)
        self._tix_usd = tix_usd

    # ----- search ---------------------------------------------------------------------------

    async def _search_uncached(self, text: str, limit: int) -> list[CardPrinting]:
        """The printings of the card whose name best matches `text` (Scryfall's fuzzy
        /cards/named forgives typos and abbreviations), newest first. When no single card
        stands out ("lightning" is ambiguous), the printings of every card whose name holds
        the words (/cards/search)."""
        best = await self._named(text)
        if best is not None:
            cards = await self._prints_of(best)
        else:
            words = " ".join(_SEARCH_SYNTAX.sub(" ", text).split())
            cards = await self._search({"q": words, "unique": "prints"}) if words else []
        return [self._printing(card) for card in cards][:limit]

    async def _named(self, text: str) -> dict[str, Any] | None:
        reply = await self._http.request(
            "GET", "cards/named", bucket="cards", params={"fuzzy": text}, expect=(200, 404)
        )
        if reply.status == 404:  # no card, or too many ("type": "ambiguous")
            return None
        card = mapping(reply.json(), self.name)
        required_text(card, "id", self.name)
        required_text(card, "name", self.name)
        return card

    async def _prints_of(self, card: dict[str, Any]) -> list[dict[str, Any]]:
        # Follow Scryfall's own link to the card's printings, against our base URL.
        link = card.get("prints_search_uri")
        if not isinstance(link, str):
            return [card]
        params = dict(parse_qsl(urlsplit(link).query))
        if not params.get("q"):
            return [card]
        params.update(order="released", dir="desc")
        return await self._search(params) or [card]

    async def _search(self, params: dict[str, str]) -> list[dict[str, Any]]:
        reply = await self._http.request(
            "GET", "cards/search", bucket="cards", params=params, expect=(200, 404)
        )
        if reply.status == 404:  # nothing matched
            return []
        listing = mapping(reply.json(), self.name)
        cards = [mapping(card, self.name) for card in sequence(listing.get("data"), self.name)]
        for card in cards:
            required_text(card, "id", self.name)
            required_text(card, "name", self.name)
        return cards

    def _printing(self, card: dict[str, Any]) -> CardPrinting:
        finishes = card.get("finishes")
        return CardPrinting(
            source=self.name,
            source_id=card["id"],
            game=self.game,
            name=card["name"],
            set_name=optional_text(card, "set_name"),
            set_code=optional_text(card, "set"),
            number=optional_text(card, "collector_number"),
            rarity=optional_text(card, "rarity"),
            finishes=tuple(f for f in finishes if isinstance(f, str))
            if isinstance(finishes, list)
            else (),
            image=_image(card),
            url=optional_text(card, "scryfall_uri"),
        )

    # ----- quotes ---------------------------------------------------------------------------

    async def _quotes_uncached(self, source_ids: Sequence[str], keep: Keep) -> None:
        """Quotes by Scryfall id, 75 ids per POST /cards/collection. Each batch's answer is
        kept whole once read in full; a failed batch keeps nothing and raises."""
        for batch in chunked(source_ids, COLLECTION_BATCH):
            found = await self._collection(batch)
            for card_id in batch:
                keep(card_id, found.get(card_id))  # None: Scryfall did not find it

    async def _collection(self, batch: Sequence[str]) -> dict[str, list[MarketQuote]]:
        reply = await self._http.request(
            "POST",
            "cards/collection",
            bucket="cards",
            json_body={"identifiers": [{"id": card_id} for card_id in batch]},
        )
        listing = mapping(reply.json(), self.name)
        cards = [mapping(card, self.name) for card in sequence(listing.get("data"), self.name)]
        asked = set(batch)
        now = self._clock.now()
        found: dict[str, list[MarketQuote]] = {}
        for card in cards:
            card_id = required_text(card, "id", self.name)
            prices = mapping(card.get("prices"), self.name)
            if card_id in asked:
                found[card_id] = self._quotes_of(card_id, prices, now)
        return found

    def _quotes_of(self, card_id: str, prices: dict[str, Any], now: datetime) -> list[MarketQuote]:
        quotes = []
        for key, (market, finish, currency) in PRICE_KEYS.items():
            # null means no price today, never zero; quote() drops it like any insane value.
            made = quote(
                source=self.name,
                market=market,
                item_id=card_id,
                finish=finish,
                kind="market",
                value=prices.get(key),
                currency=currency,
                as_of=now,
            )
            if made is not None:
                quotes.append(made)
        tix = self._tix_in_usd(prices.get("tix"))
        if tix is not None:
            made = quote(
                source=self.name,
                market="cardhoarder",
                item_id=card_id,
                finish="mtgo",
                kind="market",
                value=tix,
                currency="USD",
                as_of=now,
            )
            if made is not None:
                quotes.append(made)
        return quotes

    def _tix_in_usd(self, value: object) -> Decimal | None:
        if self._tix_usd is None or not isinstance(value, str):
            return None
        tix = amount(value)
        if tix is None or not 0 < tix < MAX_AMOUNT:
            return None  # no price; quote() then judges the dollars like any other price
        return (tix * self._tix_usd).quantize(_CENT, rounding=ROUND_HALF_UP)


def _image(card: dict[str, Any]) -> str | None:
    """The "normal" image; double-faced cards keep theirs on each face (the front is shown)."""
    images = card.get("image_uris")
    if not isinstance(images, dict):
        faces = card.get("card_faces")
        front = faces[0] if isinstance(faces, list) and faces else None
        images = front.get("image_uris") if isinstance(front, dict) else None
    if not isinstance(images, dict):
        return None
    image = images.get("normal")
    return image if isinstance(image, str) else None
