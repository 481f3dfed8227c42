"""The price at a CSS selector the user gave for one watch."""

from __future__ import annotations

import re
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.text import attr, element_text

# Lexbor matches "a b c" by trying every ancestor for each part, backtracking: a selector of
# 16 parts takes 5 s on a page of 100,000 divs, one of 8 parts 34 ms. No price needs more
# than a few parts ("#buybox .price > span"); longer selectors are refused.
_MAX_PARTS = 8
_MAX_LENGTH = 200
_PART_SEPARATOR = re.compile(r"[\s>+~,(]+")
# Relational pseudo-classes match a subtree per element: quadratic on a big page.
_RELATIONAL = re.compile(r":has\(", re.I)


@lru_cache(maxsize=256)
def is_valid(selector: str) -> bool:
    """Whether a selector is one to run: Lexbor accepts it (a bad one matches nothing instead
    of failing) and it is simple enough to match in linear time."""
    selector = selector.strip()
    if not selector or len(selector) > _MAX_LENGTH or _RELATIONAL.search(selector):
        return False
    if len([part for part in _PART_SEPARATOR.split(selector) if part]) > _MAX_PARTS:
        return False
    try:
        # A parser of its own: a shared one is not safe to query from several threads.
        LexborHTMLParser("<p></p>").css(selector)
    except (SelectolaxError, ValueError):
        return False
    return True


def extract(page: Page, selector: str) -> Finding | None:
    """Price from the first matching element whose text (or content/value) parses as a price.

    Several matches with different prices make the finding ambiguous rather than a guess.
    """
    selector = selector.strip()
    tree = page.tree
    if tree is None or not is_valid(selector):
        return None
    finding = Finding(method="selector", confidence=0.9)
    for element in tree.css(selector)[:20]:
        raw = attr(element, "content") or attr(element, "value") or element_text(element, 200)
        parsed = parse_price(raw, language=page.language, url=page.url)
        if parsed is not None:
            finding.offers.append(Offer(parsed.amount, parsed.currency))
    return finding if finding.offers else None
