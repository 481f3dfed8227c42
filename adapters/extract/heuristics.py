"""Text heuristics for pages without usable structured data: the price near the buy button,
the stock state from the buy button and out-of-stock phrases."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from adapters.extract import availability as stock
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import looks_like_money, parse_price
from adapters.extract.text import element_text
from core.model import Availability

_PRICE_ELEMENTS = etree.XPath(
    "//body//*[contains(translate(@class,'PRICE','price'),'price')"
    " or contains(translate(@id,'PRICE','price'),'price')"
    " or contains(translate(@class,'PREIS','preis'),'preis')"
    " or contains(translate(@class,'PRIX','prix'),'prix')"
    " or contains(translate(@class,'PRECO','preco'),'preco')"
    " or contains(translate(@class,'PRECIO','precio'),'precio')"
    " or contains(translate(@class,'CENA','cena'),'cena')"
    " or contains(translate(@class,'PRIJS','prijs'),'prijs')"
    " or contains(translate(@class,'AMOUNT','amount'),'amount')"
    " or contains(translate(@class,'COST','cost'),'cost')]"
)
_BUY_BUTTONS = etree.XPath(
    "//body//*[self::button or self::input[@type='submit' or @type='button' or @type='image']"
    " or self::a or @role='button']"
    "[contains(translate(@id,'ADTOCRBUYNW_-','adtocrbuynw'),'addtocart')"
    " or contains(translate(@class,'ADTOCRBUYNW_-','adtocrbuynw'),'addtocart')"
    " or contains(translate(@id,'ADTOCRBUYNW_-','adtocrbuynw'),'addtobasket')"
    " or contains(translate(@class,'ADTOCRBUYNW_-','adtocrbuynw'),'addtobasket')"
    " or contains(translate(@class,'ADTOCRBUYNW_-','adtocrbuynw'),'addtobag')"
    " or contains(translate(@id,'ADTOCRBUYNW_-','adtocrbuynw'),'buynow')"
    " or contains(translate(@class,'ADTOCRBUYNW_-','adtocrbuynw'),'buynow')"
    " or contains(translate(@name,'ADTOCRBUYNW_-','adtocrbuynw'),'addtocart')"
    " or @name='add' or @name='add-to-cart']"
)
_BUTTON_LIKE = etree.XPath(
    "//body//button | //body//input[@type='submit' or @type='button']"
    " | //body//*[@role='button'] | //body//a[contains(@class,'btn') or contains(@class,'button')]"
)
_H1 = etree.XPath("//body//h1")
_STOCK_LABELS = etree.XPath(
    "//body//*[contains(translate(@class,'STOCKAVIL','stockavil'),'stock')"
    " or contains(translate(@class,'STOCKAVIL','stockavil'),'availab')"
    " or contains(translate(@id,'STOCKAVIL','stockavil'),'stock')"
    " or contains(translate(@id,'STOCKAVIL','stockavil'),'availab')]"
)

# Class/id words of prices that are not the current selling price.
_NOT_SELLING = re.compile(
    r"old|was|strike|through|regular|list|before|original|compare|crossed|rrp|msrp|uvp|"
    r"saving|save|discount|unit|per-|shipping|delivery|instal|month|financ|tax|vat|"
    r"deposit|points|range|from-|filter|slider|total|subtotal|cart|basket|minicart",
    re.I,
)
_STRUCK_TAGS = {"del", "s", "strike"}
# Regions of a page that show other products' prices.
_ELSEWHERE = re.compile(
    r"related|recommend|similar|carousel|upsell|cross-?sell|recent|also|bought|accessor|"
    r"footer|header|\bnav|menu|sidebar|compare|bundle|sponsor|widget|slider|suggest|teaser|"
    r"tile|product-?list|productgrid|grid-item|listing",
    re.I,
)
_CURRENT_HINT = re.compile(
    r"current|sale|final|actual|now|special|our|selling|offer|main|big|large|value|amount", re.I
)


@dataclass(slots=True)
class _Candidate:
    element: etree._Element
    offer: Offer
    score: float


def _classes(element: etree._Element) -> str:
    return f"{element.get('class') or ''} {element.get('id') or ''}"


def _struck_or_elsewhere(element: etree._Element, depth: int = 12) -> tuple[bool, bool]:
    struck = elsewhere = False
    node: etree._Element | None = element
    level = 0
    while node is not None and level < depth:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag.lower() in _STRUCK_TAGS:
            struck = True
        style = (node.get("style") or "").replace(" ", "").lower()
        if "line-through" in style:
            struck = True
        if _ELSEWHERE.search(_classes(node)):
            elsewhere = True
        node = node.getparent()
        level += 1
    return struck, elsewhere


def _innermost(elements: list[etree._Element]) -> list[etree._Element]:
    # Keep elements that do not contain another candidate: "<div class=price><span
    # class=price-now>" should be read at the span.
    chosen = set(elements)
    result = []
    for element in elements:
        parent = element.getparent()
        nested = False
        while parent is not None:
            if parent in chosen:
                nested = True
                break
            parent = parent.getparent()
        result.append((element, nested))
    inner_parents = set()
    for element, _ in result:
        parent = element.getparent()
        while parent is not None:
            if parent in chosen:
                inner_parents.add(parent)
            parent = parent.getparent()
    return [element for element, _ in result if element not in inner_parents]


def _ancestors(element: etree._Element) -> list[etree._Element]:
    chain = []
    node = element
    while node is not None:
        chain.append(node)
        node = node.getparent()
    return chain


def main_area(page: Page) -> etree._Element | None:
    """The smallest element holding both the product title (h1) and a buy button."""
    tree = page.tree
    if tree is None:
        return None
    headings = _H1(tree)
    buttons = _BUY_BUTTONS(tree)
    if not headings or not buttons:
        return None
    heading_chain = _ancestors(headings[0])
    heading_set = {id(node): depth for depth, node in enumerate(heading_chain)}
    best: etree._Element | None = None
    best_depth = 10**6
    for button in buttons[:5]:
        for node in _ancestors(button):
            depth = heading_set.get(id(node))
            if depth is not None:
                if depth < best_depth:
                    best, best_depth = node, depth
                break
    return best


def extract(page: Page) -> Finding | None:
    """The most likely selling price among elements named like prices, near the product."""
    tree = page.tree
    if tree is None:
        return None
    area = page.cache.get("main_area")
    if "main_area" not in page.cache:
        area = main_area(page)
        page.cache["main_area"] = area
    area_nodes = set(area.iter()) if area is not None and len(area) < 5000 else set()
    elements = _innermost(_PRICE_ELEMENTS(tree))
    candidates: list[_Candidate] = []
    for position, element in enumerate(elements):
        text = element_text(element, 80)
        if not text or len(text) > 60:
            continue
        parsed = parse_price(text, language=page.language, url=page.url)
        if parsed is None or parsed.amount <= 0:
            continue
        classes = _classes(element)
        struck, elsewhere = _struck_or_elsewhere(element)
        score = 1.0
        if looks_like_money(text):
            score += 1.0
        if _NOT_SELLING.search(classes):
            score -= 2.0
        if _CURRENT_HINT.search(classes):
            score += 0.5
        if struck:
            score -= 3.0
        if elsewhere:
            score -= 1.5
        if element in area_nodes:
            score += 2.0
        score -= position * 0.01  # the first price on a product page is usually its price
        candidates.append(
            _Candidate(element, Offer(parsed.amount, parsed.currency, reference=struck), score)
        )
    if not candidates:
        return None
    candidates.sort(key=lambda c: c.score, reverse=True)
    best = candidates[0]
    if best.score < 0.5:
        return None
    finding = Finding(method="heuristic", confidence=min(0.7, 0.3 + best.score / 10))
    finding.offers.append(best.offer)
    rivals = [
        c
        for c in candidates[1:]
        if c.score >= best.score - 0.05 and c.offer.amount != best.offer.amount
    ]
    if rivals:
        finding.ambiguous = True
        finding.offers.extend(c.offer for c in rivals)
    headings = _H1(tree)
    if headings:
        finding.title = element_text(headings[0], 300) or None
    return finding


def page_availability(page: Page) -> Availability:
    """Stock state read from the page itself: stock labels, the buy button, phrases."""
    tree = page.tree
    if tree is None:
        return Availability.UNKNOWN
    if stock.looks_blocked(page.head_title or "") and not _BUY_BUTTONS(tree):
        return Availability.UNKNOWN
    for label in _STOCK_LABELS(tree)[:40]:
        _, elsewhere = _struck_or_elsewhere(label, 6)
        if elsewhere:
            continue
        text = element_text(label, 200)
        if not text or len(text) > 150:
            continue
        state = stock.from_text(text)
        if state is not Availability.UNKNOWN:
            return state
    for button in _BUY_BUTTONS(tree):
        disabled = button.get("disabled") is not None or "disabled" in (
            button.get("class") or ""
        ).lower().split()
        text = element_text(button, 100) or (button.get("value") or "")
        state = stock.from_text(text)
        if state is Availability.OUT_OF_STOCK or disabled:
            return Availability.OUT_OF_STOCK
        return Availability.IN_STOCK
    for button in _BUTTON_LIKE(tree)[:200]:
        text = element_text(button, 100) or (button.get("value") or "")
        if len(text) > 60:
            continue
        state = stock.from_text(text)
        if state is not Availability.UNKNOWN:
            return state
    return Availability.UNKNOWN
