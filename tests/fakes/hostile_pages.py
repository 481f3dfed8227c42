"""Building blocks of hostile product pages: a page shell, JSON-LD products written verbatim
(so a price can be NaN or 1e400), and a product with any number of offers."""

from __future__ import annotations

import json


def html_page(
    head: str = "",
    body: str = "",
    *,
    charset: str = "utf-8",
    lang: str = "en",
    title: str = "Hostile product",
) -> bytes:
    """A page around `head` and `body`; lone surrogates pass through as a broken shop's do."""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="{charset}">'
        f"<title>{title}</title>{head}</head><body>{body}</body></html>"
    ).encode("utf-8", "surrogatepass")


def jsonld(data: object) -> str:
    return f'<script type="application/ld+json">{data}</script>'


def product_jsonld(price: str, *, name: str = '"Hostile product"', currency: str = "EUR") -> str:
    """A Product whose offer's price and name are written verbatim into the JSON."""
    return jsonld(
        '{"@context": "https://schema.org", "@type": "Product", "name": ' + name + ', '
        '"offers": {"@type": "Offer", "priceCurrency": "' + currency + '", "price": ' + price
        + ', "availability": "https://schema.org/InStock"}}'
    )  # fmt: skip


def offers_page(prices: list[str], **page: str) -> bytes:
    """One product with an offer at each of `prices` (in EUR)."""
    offers = [{"@type": "Offer", "price": price, "priceCurrency": "EUR"} for price in prices]
    data = {"@context": "https://schema.org", "@type": "Product", "name": "Many", "offers": offers}
    return html_page(jsonld(json.dumps(data)), **page)
