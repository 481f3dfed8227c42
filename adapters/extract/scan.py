"""One pass over the lxml tree that collects every element any extractor looks at.

Walking a large DOM is the expensive part of XPath (each `//*` visits every node), while
extra contains() tests on a visited node cost little; so a single query gathers microdata
properties, price-like, stock-like and buy-button-like elements and headings, and Python
sorts them into buckets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from adapters.extract.page import Page

# An attribute-existence test is cheap in libxml2 (unlike contains(), which costs about a
# microsecond per node), and few elements carry these attributes.
# Selecting the attributes and stepping to their parents is about twice as fast in libxml2
# as testing every element; the node-set comes back in document order either way.
_MICRODATA = etree.XPath("(//@itemprop | //@itemscope | //@property | //@typeof)/..")

# Class/id words are lower-cased once and matched without re.I: an IGNORECASE alternation
# costs several microseconds per element, which adds up to more than the parse itself.
PRICE_NAME = re.compile(r"price|preis|prix|preco|precio|cena|prijs|amount|cost")
STOCK_NAME = re.compile(r"stock|availab")
BUY_NAME = re.compile(
    r"add[-_ ]?to[-_ ]?(cart|basket|bag|trolley)|buy[-_ ]?(now|button|box)|^add$|"
    r"btn-?cart|cart-?button|cart-?btn",
)
_BUTTON_TAGS = {"button", "input"}
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
# Listing pages hold thousands of prices; the product's own is among the first few hundred.
MAX_PRICE_ELEMENTS = 400


@dataclass(slots=True)
class Scan:
    """Elements of interest, each list in document order."""

    prices: list[etree._Element] = field(default_factory=list)
    stock_labels: list[etree._Element] = field(default_factory=list)
    buy_buttons: list[etree._Element] = field(default_factory=list)
    buttons: list[etree._Element] = field(default_factory=list)
    headings: list[etree._Element] = field(default_factory=list)


def scan(page: Page) -> Scan:
    """The page's elements of interest, computed once per page."""
    cached = page.cache.get("scan")
    if isinstance(cached, Scan):
        return cached
    result = Scan()
    tree = page.tree
    if tree is not None:
        _walk(tree, result)
    page.cache["scan"] = result
    return result


_PRICE, _STOCK, _BUY = 1, 2, 4


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


def _walk(root: etree._Element, result: Scan) -> None:
    """Fills `result` from the subtree at `root` (root included)."""
    # A plain walk with two attribute reads per element is several times faster than XPath
    # predicates over the same nodes (libxml2 evaluates those node by node). Class strings
    # repeat a lot ("a-size-base", "col-md-6"), so each distinct one is classified once.
    # Reading an element's tag costs as much as reading an attribute, so headings and
    # buttons come from lxml's own tag filter and only classified elements have theirs read.
    result.headings.extend(root.iter("h1"))
    result.buttons.extend(root.iter(*_BUTTON_TAGS))
    kinds_of: dict[str, int] = {}
    prices, stock_labels, buy_buttons = result.prices, result.stock_labels, result.buy_buttons
    for element in root.iter(etree.Element):
        get = element.get
        classes = get("class")
        ident = get("id")
        kinds = 0
        if classes:
            kinds = kinds_of.get(classes, -1)
            if kinds < 0:
                kinds = kinds_of[classes] = _classify(classes)
        if ident:
            kinds |= _classify(ident)
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


_COUNT_DESCENDANTS = etree.XPath("count(descendant::*)")
_SMALL_REGION = 1500


def _is_small(page: Page, region: etree._Element) -> bool:
    """Whether walking the region costs clearly less than walking the page: under 1,500
    elements, or under half the page's (counting runs in libxml2, far cheaper than a walk)."""
    size = _COUNT_DESCENDANTS(region)
    if size < _SMALL_REGION:
        return True
    total = page.cache.get("size")
    if total is None and page.tree is not None:
        total = page.cache["size"] = _COUNT_DESCENDANTS(page.tree)
    return isinstance(total, float) and size < total / 2


def scan_region(page: Page, region: etree._Element) -> Scan:
    """The page's buckets restricted to one subtree (a product's microdata scope): a small
    subtree is walked on its own; otherwise the page's single walk is filtered (a few
    ancestor steps per hit), so a region never costs a second walk of the page."""
    key = ("scan_region", region)
    cached = page.cache.get(key)
    if isinstance(cached, Scan):
        return cached
    if "scan" not in page.cache and _is_small(page, region):
        # A small region: walking it costs less than walking the page.
        result = Scan()
        _walk(region, result)
        page.cache[key] = result
        return result
    full = scan(page)
    inside: dict[etree._Element, bool] = {}

    def within(element: etree._Element) -> bool:
        chain = []
        node: etree._Element | None = element
        answer = False
        while node is not None:
            if node in inside:
                answer = inside[node]
                break
            if node is region:
                answer = True
                break
            chain.append(node)
            node = node.getparent()
        for visited in chain:
            inside[visited] = answer
        return answer

    result = Scan(
        prices=[e for e in full.prices if within(e)],
        stock_labels=[e for e in full.stock_labels if within(e)],
        buy_buttons=[e for e in full.buy_buttons if within(e)],
        buttons=[e for e in full.buttons if within(e)],
        headings=[e for e in full.headings if within(e)],
    )
    page.cache[key] = result
    return result


def microdata_elements(page: Page) -> list[etree._Element]:
    """Elements carrying microdata or RDFa attributes, in document order (computed once)."""
    cached = page.cache.get("microdata")
    if cached is None:
        tree = page.tree
        cached = _MICRODATA(tree) if tree is not None else []
        page.cache["microdata"] = cached
    return cached  # type: ignore[return-value]
