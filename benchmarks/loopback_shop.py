"""A loopback shop for benchmarks: serves N products built from the saved real pages.

Product i is page i % len(pages); each round (POST /round) moves every product's price by a
few percent, rewriting the page's known price where it appears in plain decimal form.
Run: python benchmarks/loopback_shop.py --port 8765 --products 2000
"""

from __future__ import annotations

import argparse
import gzip
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from aiohttp import web

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "product-pages"


def load_pages(pages_dir: Path, truth_file: Path) -> list[tuple[bytes, str | None]]:
    truth = json.loads(truth_file.read_text())
    pages = []
    for page_id in sorted(truth):
        body = gzip.decompress((pages_dir / f"{page_id}.html.gz").read_bytes())
        prices = truth[page_id].get("price") or [None]
        pages.append((body, prices[0]))
    return pages


class Shop:
    def __init__(self, pages: list[tuple[bytes, str | None]], products: int) -> None:
        self.pages = pages
        self.products = products
        self.round = 0
        self.requests = 0
        self._cache: dict[int, bytes] = {}

    def body(self, index: int) -> bytes:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        page, price = self.pages[index % len(self.pages)]
        if price is not None and self.round:
            # A different drop per product and round, always a few percent.
            factor = Decimal(100 - (1 + (index + self.round) % 7)) / 100
            old = Decimal(price)
            new = (old * factor**self.round).quantize(
                old if old.as_tuple().exponent < 0 else Decimal(1), ROUND_HALF_UP
            )
            page = page.replace(price.encode(), str(new).encode())
        self._cache[index] = page
        return page

    async def product(self, request: web.Request) -> web.Response:
        self.requests += 1
        index = int(request.match_info["index"])
        if not 0 <= index < self.products:
            raise web.HTTPNotFound()
        return web.Response(body=self.body(index), content_type="text/html", charset="utf-8")

    async def next_round(self, request: web.Request) -> web.Response:
        self.round += 1
        self._cache.clear()
        return web.json_response({"round": self.round})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"round": self.round, "requests": self.requests})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--pages", type=Path, default=SHARED / "html")
    parser.add_argument("--truth", type=Path, default=SHARED / "ground-truth.json")
    args = parser.parse_args()
    shop = Shop(load_pages(args.pages, args.truth), args.products)
    app = web.Application()
    app.router.add_get("/p/{index}", shop.product)
    app.router.add_post("/round", shop.next_round)
    app.router.add_get("/stats", shop.stats)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
