"""One pass over the page tree that collects every element any extractor looks at.

Lexbor selects the elements that carry a class or an id (in C, one query: a group of
attribute-substring selectors would cost a tree walk per selector); Python then classifies
each distinct class or id string once per process and sorts the matches into buckets.
"""

from __future__ import annotations

import re
from functools import lru_cache

from selectolax.lexbor import LexborNode

from adapters.extract.budget import batches
from adapters.extract.page import Page
from adapters.extract.text import MAX_CLASS_WORDS, MAX_CLIMB, parent_of, same

_MICRODATA = ":is([itemprop], [itemscope], [property], [typeof])"

# Class/id words are lower-cased once and matched without re.I: an IGNORECASE alternation
# costs several microseconds per element, which adds up to more than the parse itself.
PRICE_NAME = re.compile(r"price|preis|prix|preco|precio|cena|prijs|amount|cost")
STOCK_NAME = re.compile(r"stock|availab")
BUY_NAME = re.compile(
    r"add[-_ ]?to[-_ ]?(cart|basket|bag|trolley)|buy[-_ ]?(now|button|box)|^add$|"
    r"btn-?cart|cart-?button|cart-?btn",
)
# Elements that never carry a price, stock label or buy button of their own; big select lists
# (thousands of <option>s) and inline SVG icons would otherwise dominate the walk.
_SKIPPED_TAGS = {
    "option",
    "optgroup",
    "path",
    "g",
    "circle",
    "rect",
    "polygon",
    "polyline",
    "line",
    "use",
    "svg",
    "symbol",
    "defs",
    "br",
    "hr",
    "link",
    "meta",
    "source",
    "img",
    "picture",
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "col",
    "colgroup",
    "param",
    "track",
    "area",
}
_CONTAINER_TAGS = {"body", "form", "script", "html", "section", "main", "article", "ul", "table"}
# Any of the words above: one search rules out most elements before the detailed tests.
# Factored by first letters (price|preis|prix|preco|precio|cena|prijs|amount|cost|stock|
# availab|add|buy|cart|bag|basket|trolley): a third faster on long utility-class strings.
_ANY_NAME = re.compile(
    r"pr(?:ice|eis|ix|eco|ecio|ijs)|c(?:ena|ost|art)|a(?:mount|vailab|dd)|stock|"
    r"b(?:uy|ag|asket)|trolley"
)
_NAMED = ":is([class], [id])"
# Listing pages hold thousands of prices; the product's own is among the first few hundred.
MAX_PRICE_ELEMENTS = 400


class Scan:
    """Elements of interest, each list in document order.

    Headings and buttons are queried on first use: each is a walk of the subtree, and most
    pages are answered before anything asks for them."""

    __slots__ = ("_buttons", "_headings", "_root", "buy_buttons", "prices", "stock_labels")

    def __init__(self, root: LexborNode | None) -> None:
        self._root = root
        self._headings: list[LexborNode] | None = None
        self._buttons: list[LexborNode] | None = None
        self.prices: list[LexborNode] = []
        self.stock_labels: list[LexborNode] = []
        self.buy_buttons: list[LexborNode] = []

    @property
    def headings(self) -> list[LexborNode]:
        if self._headings is None:
            # A node's css() covers the node itself and its descendants, in document order.
            self._headings = self._root.css("h1") if self._root is not None else []
        return self._headings

    @property
    def buttons(self) -> list[LexborNode]:
        if self._buttons is None:
            self._buttons = self._root.css("button, input") if self._root is not None else []
        return self._buttons


def scan(page: Page) -> Scan:
    """The page's elements of interest, computed once per page."""
    cached = page.cache.get("scan")
    if isinstance(cached, Scan):
        return cached
    tree = page.tree
    result = Scan(tree)
    if tree is not None:
        _walk(tree, result)
    page.cache["scan"] = result
    return result


_PRICE, _STOCK, _BUY = 1, 2, 4


# Class and id strings repeat within a page ("a-size-base", "col-md-6") and across the pages
# of one shop (one template per shop), so each distinct string is classified once per
# process, within a bounded memory.
@lru_cache(maxsize=50_000)
def _classify(words: str) -> int:
    """Which buckets a class or id string puts an element in (a bit mask)."""
    words = words.lower()
    if not _ANY_NAME.search(words):
        return 0
    kinds = 0
    if PRICE_NAME.search(words):
        kinds |= _PRICE
    if STOCK_NAME.search(words):
        kinds |= _STOCK
    if BUY_NAME.search(words):
        kinds |= _BUY
    return kinds


def _walk(root: LexborNode, result: Scan) -> None:
    """Fills `result` from the subtree at `root` (root included)."""
    named = root.css(_NAMED)
    prices, stock_labels, buy_buttons = result.prices, result.stock_labels, result.buy_buttons
    for batch in batches(named):
        for element in batch:
            # `id` is a cheap property; `attrs.get` is the cheapest read of a class the
            # element has (nearly all of these have one), the `attributes` dict of one it
            # lacks. A string is cut to MAX_CLASS_WORDS before it is remembered.
            classes = element.attrs.get("class")
            ident = element.id
            kinds = 0
            if classes:
                if len(classes) > MAX_CLASS_WORDS:
                    classes = classes[:MAX_CLASS_WORDS]
                kinds = _classify(classes)
            if ident:
                kinds |= _classify(ident[:MAX_CLASS_WORDS])
            if not kinds:
                continue
            tag = element.tag
            if tag in _SKIPPED_TAGS or tag in _CONTAINER_TAGS:
                continue
            if kinds & _PRICE and len(prices) < MAX_PRICE_ELEMENTS:
                prices.append(element)
            if kinds & _STOCK:
                stock_labels.append(element)
            if kinds & _BUY:
                buy_buttons.append(element)


def scan_region(page: Page, region: LexborNode) -> Scan:
    """The page's buckets restricted to one subtree (a product's microdata scope)."""
    key = ("scan_region", region.mem_id)
    cached = page.cache.get(key)
    if isinstance(cached, Scan):
        return cached
    if "scan" not in page.cache:
        # The query runs in C over the region alone: cheaper than the page's.
        result = Scan(region)
        _walk(region, result)
        page.cache[key] = result
        return result
    full = scan(page)
    inside: dict[LexborNode, bool] = {}

    def within(element: LexborNode) -> bool:
        chain = []
        node: LexborNode | None = element
        answer = False
        while node is not None and len(chain) < MAX_CLIMB:
            if node in inside:
                answer = inside[node]
                break
            if same(node, region):
                answer = True
                break
            chain.append(node)
            node = parent_of(node)
        for visited in chain:
            inside[visited] = answer
        return answer

    result = Scan(region)  # its headings and buttons: the region's own query, when asked
    result.prices = [e for e in full.prices if within(e)]
    result.stock_labels = [e for e in full.stock_labels if within(e)]
    result.buy_buttons = [e for e in full.buy_buttons if within(e)]
    page.cache[key] = result
    return result


def microdata_elements(page: Page) -> list[LexborNode]:
    """Elements carrying microdata or RDFa attributes, in document order (computed once)."""
    cached = page.cache.get("microdata")
    if cached is None:
        tree = page.tree
        # The root is included: <html itemscope itemtype=".../Product"> happens.
        cached = tree.css(_MICRODATA) if tree is not None else []
        page.cache["microdata"] = cached
    return cached  # type: ignore[return-value]
