"""A one-product shop on 127.0.0.1 whose title is what a test wants (markup, mentions...)."""

from __future__ import annotations

import html
import json
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from aiohttp import web


@asynccontextmanager
async def title_shop(title: str, price: dict[str, Decimal]) -> AsyncIterator[str]:
    """Serves a product page titled `title` at the current `price["now"]` (the test may
    change it). Yields its URL."""

    async def page(request: web.Request) -> web.Response:
        data = {
            "@context": "https://schema.org",
            "@type": "Product",
            "name": title,
            "offers": {
                "@type": "Offer",
                "price": str(price["now"]),
                "priceCurrency": "EUR",
                "availability": "https://schema.org/InStock",
            },
        }
        # "<\/" keeps the JSON valid and the <script> element unbroken, as real shops do.
        json_ld = json.dumps(data).replace("</", "<\\/")
        body = (
            f'<!doctype html><html><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title>"
            f'<script type="application/ld+json">{json_ld}</script></head>'
            f"<body><h1>{html.escape(title)}</h1></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/p/deal", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/p/deal"
    finally:
        await runner.cleanup()


def tiny_png() -> bytes:
    """A valid 1 x 1 PNG (a chart stand-in for rendering tests)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )
