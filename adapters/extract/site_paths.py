"""Where shops keep their prices: CSS paths from a page's root, and site rules built on them."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborNode

from adapters.extract import availability as stock
from adapters.extract.budget import check
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.text import attr, element_text, parent_of
from core.model import Availability

SiteRule = Callable[[Page], Finding | None]
# Where a shop keeps something: the elements found from the page's root element.
Path = Callable[[LexborNode], list[LexborNode]]


def css(selector: str, *, parent: bool = False) -> Path:
    """The elements matching a CSS selector, in document order (their parents with
    `parent`: shops often mark the label and leave the price to its container)."""

    def find(root: LexborNode) -> list[LexborNode]:
        found = root.css(selector)
        if not parent:
            return found
        parents: dict[int, LexborNode] = {}  # by node id: one look per element, in order
        for element in found:
            above = parent_of(element)
            if above is not None:
                parents.setdefault(above.mem_id, above)
        return list(parents.values())

    return find


def paths(*selectors: str) -> list[Path]:
    return [css(selector) for selector in selectors]


def parents(*selectors: str) -> list[Path]:
    return [css(selector, parent=True) for selector in selectors]


# Elements a price path reads before it gives up: the shop's price is among the first few
# matches; a listing's thousands are not worth reading.
MAX_PATH_ELEMENTS = 100


def first_price(page: Page, elements: list[LexborNode]) -> Offer | None:
    """The first element that holds a price: its content/value attribute (machine-readable)
    or its text; the currency from whichever of the two shows one."""
    check()
    for element in elements[:MAX_PATH_ELEMENTS]:
        text = element_text(element, 120)
        raw = attr(element, "content") or attr(element, "value") or text
        parsed = parse_price(raw, language=page.language, url=page.url)
        if parsed is None:
            continue
        currency = parsed.currency
        if raw is not text and currency is None:
            shown = parse_price(text, url=page.url)
            currency = shown.currency if shown is not None else None
        return Offer(parsed.amount, currency)
    return None


def dom_rule(
    name: str,
    price_paths: list[Path],
    *,
    out_paths: list[Path] = (),  # type: ignore[assignment]
    buy_paths: list[Path] = (),  # type: ignore[assignment]
    title_paths: list[Path] = (),  # type: ignore[assignment]
    structured_first: bool = False,
) -> SiteRule:
    """A rule from the shop's own markup: the first price path that yields a price wins;
    stock from the shop's sold-out marker or its buy button. With `structured_first` the
    shop's JSON-LD is tried first (shops whose structured data is reliable) and the paths
    are the fallback for its pages without it."""

    def rule(page: Page) -> Finding | None:
        if structured_first:
            structured = structured_answer(page, name)
            if structured is not None:
                return structured
        tree = page.tree
        if tree is None:
            return None
        finding = Finding(method=f"site:{name}", confidence=0.9)
        for path in price_paths:
            offer = first_price(page, path(tree))
            if offer is not None:
                finding.offers.append(offer)
                break
        for path in out_paths:
            for element in path(tree):
                text = element_text(element, 200)
                if not text or stock.from_text(text) is Availability.OUT_OF_STOCK:
                    finding.availability = Availability.OUT_OF_STOCK
                    break
        if finding.availability is Availability.UNKNOWN and any(p(tree) for p in buy_paths):
            finding.availability = Availability.IN_STOCK
        for path in title_paths:
            titles = path(tree)
            if titles:
                finding.title = element_text(titles[0], 300) or None
                break
        return finding if finding.offers else None

    return rule


def structured_answer(page: Page, name: str) -> Finding | None:
    """The page's JSON-LD answer relabelled as the shop's rule, when it names one price
    (after the shop's own meta price settles variants)."""
    from adapters.extract import jsonld, markup  # local: jsonld is a peer, not a dependency

    finding = jsonld.extract(page)
    if finding is None:
        return None
    prices = {offer.amount for offer in finding.selling_offers()}
    if len(prices) > 1:
        meta = markup.extract_opengraph(page)
        shown = meta.offers[0].amount if meta is not None and meta.offers else None
        if shown not in prices:
            return None
        finding.offers = [o for o in finding.offers if o.amount == shown or o.reference]
    finding.method = f"site:{name}"
    return finding


def json_object(text: str) -> dict | None:
    """A JSON object from a page's script, or None: not JSON, or nested deeper than the
    parser recurses (a hostile page's 100,000 "[" raise RecursionError, not ValueError)."""
    try:
        value = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def dig(data: object, *path: str) -> object:
    """The value at `path` in nested JSON objects, None when a step is missing."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def query_value(url: str, name: str) -> str | None:
    """The first value of query parameter `name` in `url`."""
    try:
        values = parse_qs(urlsplit(url).query).get(name)
    except ValueError:  # an address urllib cannot split
        return None
    return values[0] if values else None
