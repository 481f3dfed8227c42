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
        # A plain walk with a few attribute reads per element is several times faster than
        # XPath predicates over the same nodes (libxml2 evaluates those node by node).
        for element in tree.iter(etree.Element):
            tag = element.tag
            keys = element.keys()
            if tag == "h1":
                result.headings.append(element)
            elif tag in _BUTTON_TAGS:
                result.buttons.append(element)
            if not keys:
                continue
            if "itemprop" in keys or "itemscope" in keys or "property" in keys or "typeof" in keys:
                result.microdata.append(element)
            if (
                "class" not in keys
                and "id" not in keys
                and "data-test" not in keys
                and ("data-testid" not in keys)
            ):
                continue
            get = element.get
            words = f"{get('class') or ''} {get('id') or ''} {get('data-test') or ''} " + (
                get("data-testid") or ""
            )
            words = words.lower()
            if get("role") == "button" and tag not in _BUTTON_TAGS:
                result.buttons.append(element)
            if tag in _CONTAINER_TAGS or not _ANY_NAME.search(words):
                continue
            if len(result.prices) < MAX_PRICE_ELEMENTS and PRICE_NAME.search(words):
                result.prices.append(element)
            if STOCK_NAME.search(words):
                result.stock_labels.append(element)
            if BUY_NAME.search(f"{words} {(get('name') or '').lower()}"):
                result.buy_buttons.append(element)
    page.cache["scan"] = result
    return result
