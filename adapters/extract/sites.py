"""Site rules for the shops people track most: where each keeps its price and stock state."""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

from adapters.extract import availability as stock
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.text import element_text
from core.model import Availability

SiteRule = Callable[[Page], Finding | None]


def _first_price(page: Page, elements: list[etree._Element]) -> Offer | None:
    for element in elements:
        raw = element.get("content") or element.get("value") or element_text(element, 120)
        parsed = parse_price(raw, language=page.language, url=page.url)
        if parsed is not None and parsed.amount > 0:
            return Offer(parsed.amount, parsed.currency)
    return None


# ----- Amazon (every locale) -------------------------------------------------------------

# In order of preference: the buy box's current price in the layouts Amazon has used since
# 2019, then the "deal"/"sale"/"our price" blocks, then the digital buy buttons.
# id() is answered from libxml2's id table; `//*[@id=...]` would walk the whole page.
_AMAZON_PRICE = [
    etree.XPath(path)
    for path in (
        "id('corePrice_feature_div')//*[contains(@class,'a-offscreen')]",
        "id('corePriceDisplay_desktop_feature_div')"
        "//*[contains(@class,'priceToPay')]//*[contains(@class,'a-offscreen')]",
        "id('apex_desktop')//*[contains(@class,'priceToPay')]//*[contains(@class,'a-offscreen')]",
        "id('priceblock_dealprice')",
        "id('priceblock_saleprice')",
        "id('priceblock_ourprice')",
        "id('price_inside_buybox')",
        "id('newBuyBoxPrice')",
        "id('kindle-price')",
        "id('buyNewSection')//*[contains(@class,'offer-price')]",
        "id('tmmSwatches')//*[contains(@class,'a-button-selected')]"
        "//*[contains(@class,'a-color-price') or contains(@class,'a-color-base')]",
        "id('dmusic_buy_box_group')//*[contains(@class,'a-text-bold')]",
        "id('digital-button-buy')//*[contains(@class,'a-text-bold')]",
    )
]
_AMAZON_TITLE = etree.XPath("id('productTitle ebooksProductTitle')")
_AMAZON_AVAILABILITY = etree.XPath("id('availability')")
_AMAZON_OUT = etree.XPath("id('outOfStock outOfStockBuyBox_feature_div')")
_AMAZON_BUY = etree.XPath("id('add-to-cart-button buy-now-button one-click-button')")
_AMAZON_NO_FEATURED_OFFER = etree.XPath("id('unqualifiedBuyBox buybox-see-all-buying-choices')")
_AMAZON_IMAGE = etree.XPath("id('landingImage imgBlkFront ebooksImgBlkFront')")
# Digital albums and videos: the buy button carries the ASIN in its id.
_AMAZON_DIGITAL_BUY = re.compile(r'id="(dmusic_digital_buy_button[^"]*|dv-action-box[^"]*)"')


def amazon(page: Page) -> Finding | None:
    tree = page.tree
    if tree is None:
        return None
    finding = Finding(method="site:amazon", confidence=0.95)
    titles = _AMAZON_TITLE(tree)
    finding.title = element_text(titles[0], 300) if titles else None
    images = _AMAZON_IMAGE(tree)
    if images:
        finding.image = images[0].get("data-old-hires") or images[0].get("src")
    digital = _AMAZON_DIGITAL_BUY.search(page.text)
    buyable = bool(_AMAZON_BUY(tree)) or digital is not None
    labels = _AMAZON_AVAILABILITY(tree)
    label_state = stock.from_text(element_text(labels[0], 300)) if labels else None
    if _AMAZON_OUT(tree) or (label_state is Availability.OUT_OF_STOCK and not buyable):
        finding.availability = Availability.OUT_OF_STOCK
    elif buyable or label_state is Availability.IN_STOCK:
        finding.availability = Availability.IN_STOCK
    elif _AMAZON_NO_FEATURED_OFFER(tree):
        # "See all buying options": only other sellers' offers, no price of Amazon's own.
        finding.availability = Availability.IN_STOCK
    if finding.availability is Availability.OUT_OF_STOCK or (
        not buyable and _AMAZON_NO_FEATURED_OFFER(tree)
    ):
        # Amazon keeps showing an old or another seller's price next to "Currently
        # unavailable" / "See all buying options"; that is not a price one can pay.
        finding.no_price = True
        return finding
    for path in _AMAZON_PRICE:
        offer = _first_price(page, path(tree))
        if offer is not None:
            finding.offers.append(offer)
            break
    if not finding.offers and digital is not None:
        button = tree.xpath(f"id('{digital.group(1)}')//*[contains(@class,'a-text-bold')]")
        offer = _first_price(page, button)
        if offer is not None:
            finding.offers.append(offer)
    return finding


_RULES: list[tuple[Callable[[str], bool], SiteRule]] = [
    (lambda host: host.startswith("amazon.") or ".amazon." in host, amazon),
]


def rule_for(page: Page) -> SiteRule | None:
    """The site rule for the page's shop, if we have one."""
    for matches, rule in _RULES:
        if matches(page.host):
            return rule
    return None
