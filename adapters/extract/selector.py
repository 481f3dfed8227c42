"""The price at a CSS selector the user gave for one watch."""

from __future__ import annotations

from functools import lru_cache

from cssselect import SelectorError
from lxml import etree
from lxml.cssselect import CSSSelector

from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.text import element_text


@lru_cache(maxsize=256)
def _compile(selector: str) -> CSSSelector | None:
    try:
        return CSSSelector(selector)
    except (SelectorError, SyntaxError, ValueError, etree.XPathError):
        return None


def is_valid(selector: str) -> bool:
    """Whether a selector compiles (for the chat command that stores it)."""
    return _compile(selector) is not None


def extract(page: Page, selector: str) -> Finding | None:
    """Price from the first matching element whose text (or content/value) parses as a price.

    Several matches with different prices make the finding ambiguous rather than a guess.
    """
    compiled = _compile(selector.strip())
    tree = page.tree
    if compiled is None or tree is None:
        return None
    finding = Finding(method="selector", confidence=0.9)
    for element in compiled(tree)[:20]:
        raw = element.get("content") or element.get("value") or element_text(element, 200)
        parsed = parse_price(raw, language=page.language, url=page.url)
        if parsed is not None and parsed.amount > 0:
            finding.offers.append(Offer(parsed.amount, parsed.currency))
    return finding if finding.offers else None
