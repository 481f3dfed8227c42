"""A loopback fake of the market APIs pricebot reads: Scryfall, TCGdex, YGOPRODeck, ECB, StockX.

It listens on 127.0.0.1, answers from recorded objects in each API's documented shape
(tests/fixtures/sources) wrapped in that API's own envelopes and error bodies, injects faults
per route, and records every request (method, path, query, body, headers, time)."""

from __future__ import annotations

import asyncio
import enum
import json
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
STOCKX_API_KEY = "fake-stockx-api-key"
STOCKX_TOKEN = "fake-stockx-access-token"

Handler = Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


class Fault(enum.Enum):
    RATE_LIMITED = "429 with Retry-After"
    HANG = "no answer"
    MALFORMED_JSON = "a body that is not JSON (or XML)"
    MISSING_FIELDS = "well-formed, but without the fields the API always sends"
    SERVER_ERROR = "500"
    UNKNOWN = "the API's own not-found answer"
    GZIP_BOMB = "64 KB of gzip that inflates to 64 MB"


@dataclass(frozen=True, slots=True)
class SeenRequest:
    route: str
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]  # names in lower case
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class _Injected:
    fault: Fault
    times: int | None  # None: every request until cleared
    retry_after: str | None
    hang_seconds: float


@dataclass(slots=True)
class _Catalogue:
    scryfall_cards: list[dict[str, Any]] = field(default_factory=list)
    scryfall_errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    tcgdex_cards: list[dict[str, Any]] = field(default_factory=list)
    tcgdex_sets: list[dict[str, Any]] = field(default_factory=list)
    ygo_cards: list[dict[str, Any]] = field(default_factory=list)
    ygo_no_match: dict[str, Any] = field(default_factory=dict)
    ecb_xml: bytes = b""
    stockx_markets: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls) -> _Catalogue:
        def read(name: str) -> Any:
            return json.loads((FIXTURES / name).read_text(encoding="utf-8"))

        return cls(
            scryfall_cards=read("scryfall/cards.json"),
            scryfall_errors=read("scryfall/errors.json"),
            tcgdex_cards=read("tcgdex/cards.json"),
            tcgdex_sets=read("tcgdex/sets.json"),
            ygo_cards=read("ygoprodeck/cards.json"),
            ygo_no_match=read("ygoprodeck/no-match.json"),
            ecb_xml=(FIXTURES / "ecb/eurofxref-daily.xml").read_bytes(),
            stockx_markets=read("stockx/market-data.json"),
        )


def _json(body: object, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def _words(text: str) -> list[str]:
    return text.casefold().split()


class MarketApi(LoopbackServer):
    """Base URLs: `url("scryfall")` stands for https://api.scryfall.com, `url("tcgdex")` for
    https://api.tcgdex.net/v2, `url("ygoprodeck")` for https://db.ygoprodeck.com/api/v7,
    `url("stockx")` for https://api.stockx.com/v2; `ecb_url` is the daily XML file.

    Routes (for `inject` and `seen`): scryfall.named, scryfall.search, scryfall.collection,
    tcgdex.cards, tcgdex.card, tcgdex.sets, ygoprodeck.cardinfo, ecb.daily, stockx.market.

    `data` holds what the APIs answer (a copy of the fixtures per server): change it, or call
    `set_scryfall_prices`, and the next answers say so."""

    ROUTES = (
        "scryfall.named",
        "scryfall.search",
        "scryfall.collection",
        "tcgdex.cards",
        "tcgdex.card",
        "tcgdex.sets",
        "ygoprodeck.cardinfo",
        "ecb.daily",
        "stockx.market",
    )

    def __init__(self) -> None:
        self.data = _Catalogue.load()
        self.requests: list[SeenRequest] = []
        self._faults: dict[str, _Injected] = {}
        self._stopping = asyncio.Event()

    # ----- life cycle -----------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application()
        self._add(app, "GET", "/scryfall/cards/named", "scryfall.named", self._scryfall_named)
        self._add(app, "GET", "/scryfall/cards/search", "scryfall.search", self._scryfall_search)
        self._add(
            app, "POST", "/scryfall/cards/collection", "scryfall.collection", self._scryfall_batch
        )
        self._add(app, "GET", "/tcgdex/{lang}/cards", "tcgdex.cards", self._tcgdex_cards)
        self._add(app, "GET", "/tcgdex/{lang}/cards/{id}", "tcgdex.card", self._tcgdex_card)
        self._add(app, "GET", "/tcgdex/{lang}/sets", "tcgdex.sets", self._tcgdex_sets)
        self._add(app, "GET", "/ygoprodeck/cardinfo.php", "ygoprodeck.cardinfo", self._ygo)
        self._add(app, "GET", "/ecb/eurofxref-daily.xml", "ecb.daily", self._ecb)
        self._add(
            app,
            "GET",
            "/stockx/catalog/products/{product}/variants/{variant}/market-data",
            "stockx.market",
            self._stockx,
        )
        return app

    async def _before_stop(self) -> None:
        self._stopping.set()  # hanging handlers return now

    def url(self, api: str) -> str:
        return f"http://127.0.0.1:{self.port}/{api}"

    @property
    def ecb_url(self) -> str:
        return f"{self.url('ecb')}/eurofxref-daily.xml"

    # ----- faults and records ---------------------------------------------------------------

    def inject(
        self,
        route: str,
        fault: Fault,
        *,
        times: int | None = None,
        retry_after: str | None = "30",
        hang_seconds: float = 30.0,
    ) -> None:
        """The next `times` requests to `route` (all of them when None) get `fault`."""
        if route not in self.ROUTES:
            raise ValueError(f"no route {route!r}")
        self._faults[route] = _Injected(fault, times, retry_after, hang_seconds)

    def clear(self, route: str | None = None) -> None:
        if route is None:
            self._faults.clear()
        else:
            self._faults.pop(route, None)

    def seen(self, route: str) -> list[SeenRequest]:
        return [request for request in self.requests if request.route == route]

    # ----- what the APIs answer -------------------------------------------------------------

    def set_scryfall_prices(self, card_id: str, **prices: str | None) -> None:
        """From now on Scryfall prices the card `card_id` this way (keys of its `prices`
        object: usd, usd_foil, eur...; None is its "no price today"): the market moves."""
        card = next((c for c in self.data.scryfall_cards if c["id"] == card_id), None)
        if card is None:
            raise ValueError(f"no Scryfall card {card_id!r} among the fixtures")
        card["prices"].update(prices)

    def _add(self, app: web.Application, method: str, path: str, route: str, handler: Handler):
        async def recorded(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(
                SeenRequest(
                    route=route,
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    body=body,
                    headers={name.lower(): value for name, value in request.headers.items()},
                    at=time.monotonic(),
                )
            )
            injected = self._take_fault(route)
            if injected is not None:
                return await self._faulty(route, injected, request, body)
            return await handler(request, body)

        app.router.add_route(method, path, recorded)

    def _take_fault(self, route: str) -> _Injected | None:
        injected = self._faults.get(route)
        if injected is None:
            return None
        if injected.times is not None:
            injected.times -= 1
            if injected.times <= 0:
                del self._faults[route]
        return injected

    async def _faulty(
        self, route: str, injected: _Injected, request: web.Request, body: bytes
    ) -> web.StreamResponse:
        api = route.split(".", 1)[0]
        match injected.fault:
            case Fault.RATE_LIMITED:
                headers = {"Retry-After": injected.retry_after} if injected.retry_after else {}
                if api == "scryfall":
                    return _json(self.data.scryfall_errors["too_many_requests"], 429, **headers)
                return web.Response(status=429, text="Too Many Requests", headers=headers)
            case Fault.HANG:
                try:
                    await asyncio.wait_for(self._stopping.wait(), injected.hang_seconds)
                except TimeoutError:
                    pass
                return _json({})
            case Fault.MALFORMED_JSON:
                if api == "ecb":
                    return web.Response(
                        body=b"<gesmes:Envelope><Cube><Cube time=", content_type="text/xml"
                    )
                return web.Response(
                    body=b'{"object": "list", "data": [{"id": ', content_type="application/json"
                )
            case Fault.MISSING_FIELDS:
                return self._hollow(route)
            case Fault.SERVER_ERROR:
                return web.Response(status=500, text="Internal Server Error")
            case Fault.UNKNOWN:
                return self._not_found(route, request, body)
            case Fault.GZIP_BOMB:
                return web.Response(
                    body=_gzip_bomb(),
                    content_type="application/json",
                    headers={"Content-Encoding": "gzip"},
                )

    def _hollow(self, route: str) -> web.Response:
        """An answer in the right envelope without what the API always sends."""
        bodies: dict[str, object] = {
            "scryfall.named": {"object": "card", "name": "Lightning Bolt"},
            "scryfall.search": {"object": "list", "has_more": False},
            "scryfall.collection": {
                "object": "list",
                "not_found": [],
                "data": [{"object": "card", "name": "Lightning Bolt"}],
            },
            "tcgdex.cards": {"cards": []},
            "tcgdex.card": {"name": "Charizard", "pricing": {}},
            "tcgdex.sets": [{"name": "Base Set"}],
            "ygoprodeck.cardinfo": {"meta": {"current_rows": 0}},
            "stockx.market": {"productId": "b0a4d3f8", "lowestAskAmount": "238"},
        }
        if route == "ecb.daily":
            return web.Response(
                body=b"<gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01'>"
                b"<Cube><Cube/></Cube></gesmes:Envelope>",
                content_type="text/xml",
            )
        return _json(bodies[route])

    def _not_found(self, route: str, request: web.Request, body: bytes) -> web.Response:
        if route == "scryfall.collection":
            identifiers = json.loads(body).get("identifiers", [])
            return _json({"object": "list", "not_found": identifiers, "data": []})
        if route.startswith("scryfall."):
            return self._scryfall_error("not_found", request.query.get("fuzzy", ""))
        if route == "tcgdex.cards":
            return _json([])
        if route.startswith("tcgdex."):
            return self._tcgdex_not_found(request)
        if route == "ygoprodeck.cardinfo":
            return _json(self.data.ygo_no_match, 400)
        return _json({"statusCode": 404, "message": "Not Found"}, 404)

    # ----- Scryfall -------------------------------------------------------------------------

    def _scryfall_error(self, key: str, query: str = "") -> web.Response:
        error = dict(self.data.scryfall_errors[key])
        error["details"] = error["details"].replace("{query}", query)
        return _json(error, error["status"])

    async def _scryfall_named(self, request: web.Request, body: bytes) -> web.Response:
        fuzzy = request.query.get("fuzzy", "")
        cards = self.data.scryfall_cards
        exact = [card for card in cards if card["name"].casefold() == fuzzy.casefold()]
        # Fuzzy enough for tests: every typed word is the start of a word of the name.
        matching = exact or [card for card in cards if _fuzzy_match(card["name"], fuzzy)]
        names = {card["name"] for card in matching}
        if not matching:
            return self._scryfall_error("not_found", fuzzy)
        if len(names) > 1:
            return self._scryfall_error("ambiguous", fuzzy)
        return _json(max(matching, key=lambda card: card["released_at"]))

    async def _scryfall_search(self, request: web.Request, body: bytes) -> web.Response:
        q = request.query.get("q", "")
        cards = self.data.scryfall_cards
        if q.startswith("oracleid:"):
            found = [card for card in cards if card["oracle_id"] == q.removeprefix("oracleid:")]
        else:
            found = [card for card in cards if all(w in card["name"].casefold() for w in _words(q))]
        if request.query.get("order") == "released":
            found.sort(
                key=lambda card: card["released_at"], reverse=request.query.get("dir") == "desc"
            )
        if not found:
            return self._scryfall_error("search_not_found")
        return _json(
            {"object": "list", "total_cards": len(found), "has_more": False, "data": found}
        )

    async def _scryfall_batch(self, request: web.Request, body: bytes) -> web.Response:
        identifiers = json.loads(body).get("identifiers", [])
        if len(identifiers) > 75:
            return self._scryfall_error("too_many_identifiers")
        by_id = {card["id"]: card for card in self.data.scryfall_cards}
        data = [by_id[i["id"]] for i in identifiers if i.get("id") in by_id]
        missing = [i for i in identifiers if i.get("id") not in by_id]
        return _json({"object": "list", "not_found": missing, "data": data})

    # ----- TCGdex ---------------------------------------------------------------------------

    def _tcgdex_not_found(self, request: web.Request) -> web.Response:
        return _json(
            {
                "type": "https://tcgdex.dev/errors/not-found",
                "title": "The resource you are trying to reach does not exists",
                "status": 404,
                "endpoint": request.path_qs,
                "method": request.method,
            },
            404,
        )

    async def _tcgdex_cards(self, request: web.Request, body: bytes) -> web.Response:
        name = request.query.get("name", "").casefold()
        briefs = [
            {key: card[key] for key in ("id", "localId", "name", "image") if key in card}
            for card in self.data.tcgdex_cards
            if name in card["name"].casefold()
        ]
        return _json(briefs)

    async def _tcgdex_card(self, request: web.Request, body: bytes) -> web.Response:
        wanted = request.match_info["id"].casefold()
        for card in self.data.tcgdex_cards:
            if card["id"].casefold() == wanted:
                return _json(card)
        return self._tcgdex_not_found(request)

    async def _tcgdex_sets(self, request: web.Request, body: bytes) -> web.Response:
        return _json(self.data.tcgdex_sets)

    # ----- YGOPRODeck -----------------------------------------------------------------------

    async def _ygo(self, request: web.Request, body: bytes) -> web.Response:
        query = request.query
        cards = self.data.ygo_cards
        if "name" in query:
            names = {name.casefold() for name in query["name"].split("|")}
            found = [card for card in cards if card["name"].casefold() in names]
        elif "fname" in query:
            found = [card for card in cards if query["fname"].casefold() in card["name"].casefold()]
            found.sort(key=lambda card: card["name"])
        elif "id" in query:
            ids = set(query["id"].split(","))
            found = [card for card in cards if str(card["id"]) in ids]
        else:
            found = list(cards)
        if not found:
            return _json(self.data.ygo_no_match, 400)
        return _json({"data": found})

    # ----- ECB and StockX -------------------------------------------------------------------

    async def _ecb(self, request: web.Request, body: bytes) -> web.Response:
        return web.Response(body=self.data.ecb_xml, content_type="text/xml")

    async def _stockx(self, request: web.Request, body: bytes) -> web.Response:
        if (
            request.headers.get("x-api-key") != STOCKX_API_KEY
            or request.headers.get("Authorization") != f"Bearer {STOCKX_TOKEN}"
        ):
            return _json({"errors": [{"code": "UNAUTHORIZED", "message": "Unauthorized"}]}, 401)
        product, variant = request.match_info["product"], request.match_info["variant"]
        currency = request.query.get("currencyCode", "USD")
        for entry in self.data.stockx_markets:
            if (entry["productId"], entry["variantId"]) == (product, variant) and entry[
                "currencyCode"
            ] == currency:
                return _json(entry)
        return _json({"statusCode": 404, "message": "Product not found"}, 404)


@cache
def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(64)) + packer.flush()


def _fuzzy_match(name: str, typed: str) -> bool:
    name_words = _words(name.replace("//", " "))
    typed_words = _words(typed)
    return bool(typed_words) and all(
        any(word.startswith(part) for word in name_words) for part in typed_words
    )
