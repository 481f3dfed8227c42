"""A shop on 127.0.0.1 whose pages attack the reader: huge, deep, non-finite, badly encoded,
slow. Each page is what a hostile or broken shop can really serve."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.hostile_pages import html_page, jsonld, offers_page, product_jsonld

GOOD_PRICE = "24.99"
NO_PRICE = ("could not find a price",)


def _priced(price: str, **product: str) -> Callable[[], bytes]:
    """A page builder for a JSON-LD product at `price` (written verbatim)."""
    return lambda: html_page(product_jsonld(price, **product))


def deep_nesting() -> bytes:
    """200,000 nested divs (1.4 MB) with the price at the bottom."""
    depth = 200_000
    price = '<span class="price">€19.99</span><button class="add-to-cart">Add to cart</button>'
    return html_page(body="<div>" * depth + price + "</div>" * depth)


def many_offers(count: int = 100_000) -> bytes:
    """One JSON-LD product with `count` offers, every one at a different price."""
    return offers_page([f"{10 + n / 100:.2f}" for n in range(count)])


def deep_jsonld() -> bytes:
    """A JSON-LD block nested 100,000 deep, then the price in the product meta tags."""
    meta = (
        '<meta property="product:price:amount" content="12.00">'
        '<meta property="product:price:currency" content="EUR">'
    )
    return html_page(jsonld("[" * 100_000 + "]" * 100_000) + meta)


@dataclass(frozen=True, slots=True)
class HostilePage:
    """A page, and what /track must answer for it: the reply contains every one of `says`,
    and a watch is made exactly when `tracked`."""

    slug: str
    build: Callable[[], bytes]
    says: tuple[str, ...]
    tracked: bool = False


PAGES = [
    HostilePage("deep-nesting", deep_nesting, ("too complex",)),
    HostilePage("many-offers", many_offers, ("several different prices",)),
    HostilePage("deep-jsonld", deep_jsonld, ("Now tracking", "€12.00"), tracked=True),
    HostilePage("nan", _priced("NaN"), NO_PRICE),
    HostilePage("infinity", _priced("Infinity"), NO_PRICE),
    HostilePage("huge", _priced("1e400"), NO_PRICE),
    HostilePage("tiny", _priced("1e-30"), NO_PRICE),
    HostilePage("huge-text", _priced('"1e400"'), NO_PRICE),
    HostilePage(
        "punycode",
        lambda: html_page(product_jsonld(f'"{GOOD_PRICE}"'), charset="punycode"),
        ("Now tracking", "€24.99"),
        tracked=True,
    ),
    HostilePage(
        "surrogate-title",
        _priced(f'"{GOOD_PRICE}"', name='"Kettle \\ud800 deluxe"'),
        ("Now tracking", "Kettle \ufffd deluxe"),
        tracked=True,
    ),
    HostilePage(
        "nul-title",
        _priced(f'"{GOOD_PRICE}"', name='"Kettle\\u0000 deluxe"'),
        ("Now tracking", "Kettle deluxe"),
        tracked=True,
    ),
]
# A page that is fine: the check cycle tests turn it hostile afterwards.
FINE = HostilePage("fine", _priced(f'"{GOOD_PRICE}"'), ("Now tracking",), True)


@dataclass
class HostileShop:
    """Serves PAGES at /p/<slug>, /trickle (a byte every 0.3 s, forever), /long/<4,000
    characters> (a fine page at a very long URL) and /bad-redirect (to "http:host/x")."""

    served: asyncio.Event = field(default_factory=asyncio.Event)
    swapped: dict[str, HostilePage] = field(default_factory=dict)
    _cache: dict[str, bytes] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    port: int = 0

    def url(self, slug: str) -> str:
        return f"http://127.0.0.1:{self.port}/p/{slug}"

    @property
    def long_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/long/" + "a" * 4000

    def serve_instead(self, slug: str, page: HostilePage) -> None:
        """From now on /p/<slug> serves `page` (a fine page turns hostile)."""
        self.swapped[slug] = page

    async def _page(self, request: web.Request) -> web.StreamResponse:
        slug = request.match_info["slug"]
        page = self.swapped.get(slug) or next((p for p in [*PAGES, FINE] if p.slug == slug), None)
        if page is None:
            raise web.HTTPNotFound()
        key = f"{slug}:{page.slug}"
        if key not in self._cache:
            self._cache[key] = page.build()
        self.served.set()
        return web.Response(body=self._cache[key], content_type="text/html")

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        self.served.set()
        while True:
            await response.write(b" ")
            await asyncio.sleep(0.3)

    async def _long(self, request: web.Request) -> web.Response:
        self.served.set()
        return web.Response(body=FINE.build(), content_type="text/html")

    async def _bad_redirect(self, request: web.Request) -> web.Response:
        self.served.set()
        # "http:host/x" (no slashes): httpx raises InvalidURL, outside its HTTPError family.
        location = f"http:127.0.0.1:{self.port}/p/fine"
        return web.Response(status=302, headers={"Location": location})

    async def __aenter__(self) -> HostileShop:
        app = web.Application()
        app.router.add_get("/p/{slug}", self._page)
        app.router.add_get("/trickle", self._trickle)
        app.router.add_get("/long/{tail:.*}", self._long)
        app.router.add_get("/bad-redirect", self._bad_redirect)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
