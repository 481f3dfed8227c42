"""One pass over the lxml tree that collects every element any extractor looks at.

Walking a large DOM is the expensive part of XPath (each `//*` visits every node), while
extra contains() tests on a visited node cost little; so a single query gathers microdata
properties, price-like, stock-like and buy-button-like elements and headings, and Python
sorts them into buckets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from adapters.extract.page import Page

# An attribute-existence test is cheap in libxml2 (unlike contains(), which costs about a
# microsecond per node), and few elements carry these attributes.
_MICRODATA = etree.XPath("//*[@itemprop or @itemscope or @property or @typeof]")

# Class/id words are lower-cased once and matched without re.I: an IGNORECASE alternation
# costs several microseconds per element, which adds up to more than the parse itself.
PRICE_NAME = re.compile(r"price|preis|prix|preco|precio|cena|prijs|amount|cost")
STOCK_NAME = re.compile(r"stock|availab")
BUY_NAME = re.compile(
    r"add[-_ ]?to[-_ ]?(cart|basket|bag|trolley)|buy[-_ ]?(now|button|box)|^add$|"
    r"btn-?cart|cart-?button|cart-?btn",
)
_BUTTON_TAGS = {"button", "input"}
_CONTAINER_TAGS = {"body", "form", "script", "html", "section", "main", "article", "ul", "table"}
# Any of the words above: one search rules out most elements before the detailed tests.
_ANY_NAME = re.compile(
    r"price|preis|prix|preco|precio|cena|prijs|amount|cost|stock|availab|add|buy|cart|bag|"
    r"basket|trolley",
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
        _walk(tree.iter(etree.Element), result)
    page.cache["scan"] = result
    return result


def _walk(elements: Iterator[etree._Element], result: Scan) -> None:
    # A plain walk with two attribute reads per element is several times faster than XPath
    # predicates over the same nodes (libxml2 evaluates those node by node).
    for element in elements:
        tag = element.tag
        if tag == "h1":
            result.headings.append(element)
        elif tag in _BUTTON_TAGS:
            result.buttons.append(element)
        get = element.get
        classes = get("class")
        ident = get("id")
        if classes is None and ident is None:
            continue
        words = (f"{classes} {ident}" if classes and ident else classes or ident or "").lower()
        if tag in _CONTAINER_TAGS or not _ANY_NAME.search(words):
            continue
        if len(result.prices) < MAX_PRICE_ELEMENTS and PRICE_NAME.search(words):
            result.prices.append(element)
        if STOCK_NAME.search(words):
            result.stock_labels.append(element)
        if BUY_NAME.search(words):
            result.buy_buttons.append(element)


def scan_region(region: etree._Element) -> Scan:
    """The same buckets for one subtree (a product's microdata scope), without the page."""
    result = Scan()
    _walk(region.iter(etree.Element), result)
    return result


def microdata_elements(page: Page) -> list[etree._Element]:
    """Elements carrying microdata or RDFa attributes, in document order (computed once)."""
    cached = page.cache.get("microdata")
    if cached is None:
        tree = page.tree
        cached = _MICRODATA(tree) if tree is not None else []
        page.cache["microdata"] = cached
    return cached  # type: ignore[return-value]
