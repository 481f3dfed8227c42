"""Text heuristics for pages without usable structured data: the price near the buy button,
the stock state from the buy button and out-of-stock phrases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from selectolax.lexbor import LexborNode

from adapters.extract import availability as stock
from adapters.extract.budget import batches, check
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.scan import scan, scan_region
from adapters.extract.text import (
    MAX_CLIMB,
    attr,
    class_words,
    element_text,
    has_attr,
    has_element_children,
    names_other_products,
    next_element,
    own_text,
    parent_of,
    previous_element,
    same,
    text_after,
)
from core.model import Availability


def buy_buttons(page: Page) -> list[LexborNode]:
    """Add-to-cart / buy-now controls of the page's own product (not of carousels)."""
    cached = page.cache.get("buy_buttons")
    if cached is None:
        cached = _own(scan(page).buy_buttons)
        page.cache["buy_buttons"] = cached
    return cached  # type: ignore[return-value]


# Class/id words of prices that are not the current selling price.
_NOT_SELLING = re.compile(
    r"(?<![a-z])(old|was|strike\w*|through|regular|list|before|original|compare\w*|crossed|"
    r"rrp|msrp|uvp|saving\w*|save|discount\w*|unit|per|shipping|delivery|instal\w*|"
    r"month\w*|financ\w*|tax|vat|deposit|points?|range|from|filter|slider|total|subtotal|"
    r"cart|basket|minicart|credit|loan)(?![a-z])"
)
_STRUCK_TAGS = {"del", "s", "strike"}
_CURRENT_HINT = re.compile(
    r"(?<![a-z])(current|sale|final|actual|now|special|our|selling|offer|main|big|large|value|"
    r"amount|new|live|promo|price)(?![a-z])"
)
# Any digit, in any script (str.isdigit's set): one search instead of a loop per character.
_DIGIT = re.compile(r"\d")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(element: LexborNode) -> str:
    """Class and id as lower-case words: "oldPrice price_now" -> "old-price price_now"."""
    return _CAMEL.sub("-", class_words(element)).lower()


# Labels of prices before tax (B2B shops and EU shops show both).
_NET_PRICE = re.compile(
    r"excl\.? vat|ex\.? vat|excluding vat|without vat|brez ddv|ohne mwst|exkl\. mwst|"
    r"netto|sans tva|\bht\b|hors taxes|excl\. btw|sin iva|senza iva|bez dph|bez vat|"
    r"sem iva|ilman alv|uden moms|utan moms|bez pdv"
)


# Listing-like pages carry hundreds of prices; the product's own comes early.
_MAX_CANDIDATE_ELEMENTS = 150


@dataclass(slots=True)
class _Candidate:
    element: LexborNode
    offer: Offer
    score: float
    # Struck through, or named like a was/list/unit price.
    marked_old: bool = False
    # Inside a related-products / carousel / thumbnail region.
    elsewhere: bool = False


def _struck_or_elsewhere(
    element: LexborNode,
    depth: int = 12,
    memo: dict[LexborNode, tuple[bool, bool]] | None = None,
) -> tuple[bool, bool]:
    """Whether an element is struck through (del/s/line-through) or sits in another
    product's region, looking `depth` levels up; `memo` shares work between siblings."""
    chain: list[LexborNode] = []
    node: LexborNode | None = element
    struck = elsewhere = False
    while node is not None and len(chain) < depth:
        if memo is not None and node in memo:
            struck, elsewhere = memo[node]
            break
        chain.append(node)
        node = parent_of(node)
    # Fold from the top of the chain down so each node's memo entry covers its ancestors.
    for node in reversed(chain):
        attributes = node.attributes
        style = attributes.get("style")
        if node.tag in _STRUCK_TAGS or (style and "line-through" in style.replace(" ", "")):
            struck = True
        classes = attributes.get("class")
        ident = attributes.get("id")
        if (classes or ident) and names_other_products(f"{classes or ''} {ident or ''}"):
            elsewhere = True
        if memo is not None:
            memo[node] = (struck, elsewhere)
    return struck, elsewhere


def _innermost(elements: list[LexborNode]) -> list[LexborNode]:
    # Keep elements that do not contain another candidate: "<div class=price><span
    # class=price-now>" should be read at the span.
    chosen = set(elements)
    containers = set()
    for element in elements:
        parent = parent_of(element)
        for _ in range(MAX_CLIMB):
            if parent is None:
                break
            if parent in chosen:
                containers.add(parent)
            parent = parent_of(parent)
    return [element for element in elements if element not in containers]


def _inside(element: LexborNode, area: LexborNode) -> bool:
    node: LexborNode | None = element
    for _ in range(MAX_CLIMB):
        if node is None:
            return False
        if same(node, area):
            return True
        node = parent_of(node)
    return False


def _ancestors(element: LexborNode) -> list[LexborNode]:
    """The element and the elements above it, at most MAX_CLIMB of them."""
    chain = []
    node: LexborNode | None = element
    while node is not None and len(chain) < MAX_CLIMB:
        chain.append(node)
        node = parent_of(node)
    return chain


def main_area(page: Page) -> LexborNode | None:
    """The smallest element holding both the product title (h1) and a buy button."""
    tree = page.tree
    if tree is None:
        return None
    headings = scan(page).headings
    buttons = buy_buttons(page)
    if not headings or not buttons:
        return None
    heading_chain = _ancestors(headings[0])
    heading_set = {node: depth for depth, node in enumerate(heading_chain)}
    best: LexborNode | None = None
    best_depth = 10**6
    for button in buttons[:5]:
        for node in _ancestors(button):
            depth = heading_set.get(node)
            if depth is not None:
                if depth < best_depth:
                    best, best_depth = node, depth
                break
    return best


# Elements of one price candidate looked at for digits of their own: a price is a few
# elements; a "price" class on a container of the whole page must not cost a walk of it.
_MAX_LEAF_SEARCH = 200


def _leaves_with_digits(element: LexborNode) -> list[LexborNode]:
    """The element itself, or its innermost descendants that hold digits of their own:
    "<div class=price><s>49 890</s><span>44 890</span></div>" is two prices, not one."""
    found: list[LexborNode] = []
    for visited, node in enumerate(element.traverse()):  # the element, then descendants
        if visited >= _MAX_LEAF_SEARCH:
            break
        if node.tag in ("script", "style"):
            continue
        own = own_text(node)
        if _DIGIT.search(own):
            found.append(node)
        if len(found) > 8:
            break
    if len(found) <= 1:
        return [element]
    return found


def candidates(page: Page, region: LexborNode | None = None) -> list[_Candidate]:
    """Every visible price-like text on the page (or in one region of it), scored as the
    product's selling price."""
    key = ("price_candidates", region.mem_id if region is not None else None)
    cached = page.cache.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    tree = page.tree
    found: list[_Candidate] = []
    if tree is None:
        return found
    if region is None:
        if "main_area" not in page.cache:
            page.cache["main_area"] = main_area(page)
        area = page.cache["main_area"]
        elements = scan(page).prices
    else:
        area = None
        elements = scan_region(page, region).prices
    seen: set[LexborNode] = set()
    # Keyed by the elements themselves: node objects are created on demand, so an id() can
    # be reused by another node once one is dropped; nodes hash and compare by the node.
    memo: dict[LexborNode, tuple[bool, bool]] = {}
    position = 0
    # In a product's own region the price is among the first few; a page needs a wider net.
    limit = _MAX_CANDIDATE_ELEMENTS if region is None else _MAX_CANDIDATE_ELEMENTS // 3
    for outer in _innermost(elements[:limit]):
        check()
        for element in _leaves_with_digits(outer):
            if element in seen:
                continue
            seen.add(element)
            text = element_text(element, 80)
            if not text or len(text) > 60 or not _DIGIT.search(text):
                continue
            parsed = parse_price(text, language=page.language, url=page.url)
            if parsed is None:
                continue
            classes = _words(element) + " " + _words(outer)
            struck, elsewhere = _struck_or_elsewhere(element, memo=memo)
            marked_old = struck or bool(_NOT_SELLING.search(_words(element)))
            score = 1.0
            if parsed.currency is not None:
                score += 1.0  # a currency written next to the number
            if _NOT_SELLING.search(classes):
                score -= 1.5
            if _CURRENT_HINT.search(classes):
                score += 0.5
            if struck:
                score -= 3.0
            if elsewhere:
                score -= 1.5
            if area is not None and _inside(element, area):
                score += 2.0
            parent = parent_of(element)
            if parent is not None and _NET_PRICE.search(element_text(parent, 160).lower()):
                score -= 2.0  # a price before tax shown beside the real one
            score -= position * 0.01  # the first price on a product page is usually its price
            position += 1
            offer = Offer(parsed.amount, parsed.currency, reference=struck)
            found.append(_Candidate(element, offer, score, marked_old, elsewhere))
    page.cache[key] = found
    return found


# Elements with an inline style in pixels (the ones without child elements are kept).
_STYLED = "[style*=px]"
# A font or font-size declaration's value, then the first size in pixels in it. Two
# patterns where one lazy one ("font:[^;]*?(\d+)px") backtracks over every digit of a long
# value: possessive repeats, and a number that starts where a run of digits starts.
_FONT_DECLARATION = re.compile(r"font(?:-size)?\s*+:([^;]*+)", re.I)
_PIXELS = re.compile(r"(?<!\d)(\d++(?:\.\d++)?)px", re.I)
_MIN_HEADLINE_PX = 18.0


def _styled_candidates(page: Page) -> list[_Candidate]:
    """Old-style pages without price classes: a number in a big inline font, with its
    currency written inside or right next to it ("<span style='font:bold 27px'>294</span>元")."""
    tree = page.tree
    found: list[_Candidate] = []
    if tree is None:
        return found
    styled = [e for e in tree.css(_STYLED) if not has_element_children(e)][:2000]
    for batch in batches(styled):
        for candidate in batch:
            found.extend(_styled_candidate(page, candidate))
    return found


def _font_size(style: str) -> float | None:
    """The first font size in pixels a style's font or font-size declarations give."""
    for declaration in _FONT_DECLARATION.finditer(style):
        size = _PIXELS.search(declaration.group(1))
        if size is not None:
            return float(size.group(1))
    return None


def _styled_candidate(page: Page, element: LexborNode) -> list[_Candidate]:
    """The element as a candidate when it shows a number in a big font with a currency."""
    size = _font_size(attr(element, "style") or "")
    if size is None or size < _MIN_HEADLINE_PX:
        return []
    text = element_text(element, 40)
    if not text or len(text) > 20 or not _DIGIT.search(text):
        return []
    after = text_after(element)
    sibling = next_element(element)
    if not after.strip() and sibling is not None:
        after = element_text(sibling, 20)
    before = ""
    previous = previous_element(element)
    if previous is not None:
        before = text_after(previous)[-10:]
    parsed = parse_price(f"{before} {text} {after[:10]}", language=page.language, url=page.url)
    if parsed is None or parsed.currency is None:
        return []
    struck, elsewhere = _struck_or_elsewhere(element)
    if struck or elsewhere:
        return []
    return [_Candidate(element, Offer(parsed.amount, parsed.currency), size / 10)]


def extract(page: Page) -> Finding | None:
    """The most likely selling price among elements named like prices, near the product."""
    tree = page.tree
    if tree is None:
        return None
    ranked = sorted(candidates(page), key=lambda c: c.score, reverse=True)
    if not ranked or ranked[0].score < 0.5:
        ranked = sorted(_styled_candidates(page), key=lambda c: c.score, reverse=True)
    if not ranked or ranked[0].score < 0.5:
        return None
    best = ranked[0]
    finding = Finding(method="heuristic", confidence=min(0.7, 0.3 + best.score / 10))
    finding.offers.append(best.offer)
    rivals = [
        c
        for c in ranked[1:]
        if c.score >= best.score - 0.05
        and c.offer.amount != best.offer.amount
        and (best.elsewhere or not c.elsewhere)
    ]
    if rivals:
        finding.ambiguous = True
        finding.offers.extend(c.offer for c in rivals)
    headings = scan(page).headings
    if headings:
        finding.title = element_text(headings[0], 300) or None
    return finding


def shown_as_old_price(
    page: Page, amount: Decimal, region: LexborNode | None = None
) -> Decimal | None:
    """When the page shows `amount` only struck through or labelled as the old price, and a
    current price next to it, that current price: shops forget to update structured data
    when a sale starts. None when the page does not contradict `amount`."""
    ranked = sorted(candidates(page, region), key=lambda c: c.score, reverse=True)
    if not ranked:
        return None
    same = [c for c in ranked if c.offer.amount == amount]
    if not same or not all(c.marked_old for c in same):
        return None
    best = ranked[0]
    if best.score >= 2.0 and best.offer.amount < amount and not best.marked_old:
        return best.offer.amount
    return None


def page_availability(page: Page, region: LexborNode | None = None) -> Availability:
    """Stock state read from the page itself: stock labels, the buy button, phrases.

    With a `region` (the product's own markup) that region is read first: it is cheaper than
    the whole page and cannot mistake a carousel's "sold out" for the product's."""
    tree = page.tree
    if tree is None:
        return Availability.UNKNOWN
    if region is not None:
        found = scan_region(page, region)
        state = _availability_from(found.stock_labels, _own(found.buy_buttons), found.buttons)
        if state is not Availability.UNKNOWN:
            return state
    if stock.looks_blocked(page.head_title or "") and not buy_buttons(page):
        return Availability.UNKNOWN
    found = scan(page)
    return _availability_from(found.stock_labels, buy_buttons(page), found.buttons)


def _own(buttons: list[LexborNode]) -> list[LexborNode]:
    return [b for b in buttons[:30] if not names_other_products(class_words(b))]


def _availability_from(
    labels: list[LexborNode], buy: list[LexborNode], buttons: list[LexborNode]
) -> Availability:
    for label in labels[:40]:
        _, elsewhere = _struck_or_elsewhere(label, 6)
        if elsewhere:
            continue
        text = element_text(label, 200)
        if not text or len(text) > 150:
            continue
        state = stock.from_text(text)
        if state is not Availability.UNKNOWN:
            return state
    for button in buy:
        disabled = (
            has_attr(button, "disabled")
            or "disabled" in (attr(button, "class") or "").lower().split()
        )
        text = element_text(button, 100) or (attr(button, "value") or "")
        state = stock.from_text(text)
        if state is Availability.OUT_OF_STOCK or disabled:
            return Availability.OUT_OF_STOCK
        return Availability.IN_STOCK
    for button in buttons[:200]:
        text = element_text(button, 100) or (attr(button, "value") or "")
        if len(text) > 60:
            continue
        state = stock.from_text(text)
        if state is not Availability.UNKNOWN:
            return state
    return Availability.UNKNOWN
