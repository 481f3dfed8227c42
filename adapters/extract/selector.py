"""The price at a CSS selector the user gave for one watch."""

from __future__ import annotations

from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.text import attr, element_text

_PROBE = LexborHTMLParser("<p></p>")


@lru_cache(maxsize=256)
def is_valid(selector: str) -> bool:
    """Whether Lexbor accepts a selector (a bad one matches nothing instead of failing)."""
    if not selector.strip():
        return False
    try:
        _PROBE.css(selector)
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
        if parsed is not None and parsed.amount > 0:
            finding.offers.append(Offer(parsed.amount, parsed.currency))
    return finding if finding.offers else None
