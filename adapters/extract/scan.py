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


# Only attribute-existence tests: libxml2 answers those fast, while every contains() costs
# about a microsecond per node; Python's regexes below then look at the few thousand hits.
_QUERY = etree.XPath(
    "//*[@class or @id or @itemprop or @itemscope or @property or @typeof or @data-test"
    " or @data-testid or self::h1 or self::button or self::input or @role='button']"
)

PRICE_NAME = re.compile(r"price|preis|prix|preco|precio|cena|prijs|amount|cost", re.I)
STOCK_NAME = re.compile(r"stock|availab", re.I)
BUY_NAME = re.compile(
    r"add[-_ ]?to[-_ ]?(cart|basket|bag|trolley)|buy[-_ ]?(now|button|box)|^add$|"
    r"btn-?cart|cart-?button|cart-?btn",
    re.I,
)
_CONTAINER_TAGS = {"body", "form", "script", "html", "section", "main", "article", "ul", "table"}
# Listing pages hold thousands of prices; the product's own is among the first few hundred.
MAX_PRICE_ELEMENTS = 400


@dataclass(slots=True)
class Scan:
    """Elements of interest, each list in document order."""

    microdata: list[etree._Element] = field(default_factory=list)
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
        for element in _QUERY(tree):
            tag = element.tag
            if not isinstance(tag, str):
                continue
            tag = tag.lower()
            get = element.get
            if (
                get("itemprop") is not None
                or get("itemscope") is not None
                or get("property") is not None
                or get("typeof") is not None
            ):
                result.microdata.append(element)
            if tag == "h1":
                result.headings.append(element)
            words = f"{get('class') or ''} {get('id') or ''}"
            test_words = f"{get('data-test') or ''} {get('data-testid') or ''}"
            if words == " " and test_words == " " and tag not in ("button", "input"):
                continue
            if tag in ("button", "input") or get("role") == "button":
                result.buttons.append(element)
            if tag in _CONTAINER_TAGS:
                continue
            if len(result.prices) < MAX_PRICE_ELEMENTS and (
                PRICE_NAME.search(words)
                or PRICE_NAME.search(test_words)
                or PRICE_NAME.search(get("itemprop") or "")
            ):
                result.prices.append(element)
            if STOCK_NAME.search(words):
                result.stock_labels.append(element)
            if BUY_NAME.search(f"{words} {test_words} {get('name') or ''}"):
                result.buy_buttons.append(element)
    page.cache["scan"] = result
    return result
