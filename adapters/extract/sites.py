"""Site rules for the shops people track most: where each keeps its price and stock state."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal

from adapters.extract import availability as stock
from adapters.extract.amazon import amazon
from adapters.extract.budget import check
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import SCRIPT_END, Page
from adapters.extract.site_paths import (
    MAX_PATH_ELEMENTS,
    SiteRule,
    dig,
    dom_rule,
    first_price,
    json_object,
    parents,
    paths,
    query_value,
    structured_answer,
)
from adapters.extract.text import element_text, next_element
from core.model import Availability

# ----- eBay ------------------------------------------------------------------------------

# Plain substring tests: a case-insensitive alternation over a 1 MB page costs tens of ms.
_EBAY_ENDED = (
    "This listing has ended",
    "This listing was ended",
    "Dieses Angebot wurde beendet",
    "Cette annonce est terminée",
    "Esta publicación ha finalizado",
    "L'inserzione è terminata",
    "Deze advertentie is beëindigd",
)
_EBAY_PRICE = paths(
    "#prcIsum",
    "#mm-saleDscPrc",
    "#prcIsum_bidPrice",
    '#mainContent div[class*=x-price-primary] span[class="ux-textspans"]',
    '#mainContent div[class*=x-bin-price] span[class="ux-textspans"]',
)


def ebay(page: Page) -> Finding | None:
    """eBay item pages: the Buy It Now price (or the current bid); ended listings sold out."""
    finding = dom_rule(
        "ebay",
        _EBAY_PRICE,
        buy_paths=paths("#binBtn_btn, #isCartBtn_btn, #bidBtn_btn"),
        title_paths=paths("#itemTitle", "h1[class*=x-item-title]"),
    )(page)
    if finding is None:
        return None
    if finding.title:
        finding.title = re.sub(r"^(Details about|Détails sur|Details zu)\s+", "", finding.title)
    if any(phrase in page.text for phrase in _EBAY_ENDED):
        finding.availability = Availability.OUT_OF_STOCK
    return finding


# ----- Walmart and StockX: the page's Next.js state -----------------------------------------

# The start tag, then its end tag: one pattern with (.*?) would search to the end of the
# page again from every unclosed start tag.
_NEXT_DATA_START = re.compile(r"<script[^<>]*id=[\"']__NEXT_DATA__[\"'][^<>]*>", re.I)
_SCRIPT_END = re.compile(SCRIPT_END, re.I)


def _next_data(page: Page) -> dict | None:
    start = _NEXT_DATA_START.search(page.text)
    end = _SCRIPT_END.search(page.text, start.end()) if start else None
    if not start or not end:
        return None
    return json_object(page.text[start.end() : end.start()])


def walmart(page: Page) -> Finding | None:
    """Walmart: priceInfo.currentPrice of the product in the page's __NEXT_DATA__."""
    data = _next_data(page)
    product = dig(data, "props", "pageProps", "initialData", "data", "product")
    if isinstance(product, dict):
        price = dig(product, "priceInfo", "currentPrice", "price")
        if isinstance(price, int | Decimal) and price > 0:
            currency = dig(product, "priceInfo", "currentPrice", "currencyUnit")
            finding = Finding(method="site:walmart", confidence=0.95)
            status = str(product.get("availabilityStatus") or "")
            finding.availability = stock.from_value(status.replace("_", ""))
            finding.offers.append(
                Offer(Decimal(price), currency if isinstance(currency, str) else "USD")
            )
            name = product.get("name")
            finding.title = name if isinstance(name, str) else None
            return finding
    return structured_answer(page, "walmart")


# ----- the rest: shops whose markup names the price plainly ---------------------------------

target = dom_rule(
    "target",
    paths('[data-test="product-price"]'),
    out_paths=paths('[data-test="soldOutBlock"], [data-test="outOfStockMessage"]'),
    buy_paths=paths('[data-test="shippingButton"], [data-test="orderPickupButton"]'),
    title_paths=paths('[data-test="product-title"]'),
    structured_first=True,
)
bestbuy = dom_rule(
    "bestbuy",
    paths(
        '[data-testid="customer-price"] > span:first-of-type',
        "div[class*=priceView-customer-price] > span:first-of-type",
        '[data-automation="product-price"] span:first-of-type',
    ),
    out_paths=paths('button[data-button-state="SOLD_OUT"]'),
    buy_paths=paths('button[data-button-state="ADD_TO_CART"]'),
    title_paths=paths("h1"),
    structured_first=True,
)
ikea = dom_rule(
    "ikea",
    parents("[class*=pip-temp-price__integral], [class*=pip-price__integer]"),
    title_paths=paths("h1"),
    structured_first=True,
)
zalando = dom_rule("zalando", [], structured_first=True)
zara = dom_rule(
    "zara",
    paths("[class*=price-current__amount]", "[class*=money-amount__main]"),
    structured_first=True,
)
johnlewis = dom_rule(
    "johnlewis",
    paths('[data-test="product-price"]') + paths("p[class*=price--large]"),
    out_paths=paths('[data-test="out-of-stock-message"]'),
    structured_first=True,
)
argos = dom_rule(
    "argos",
    paths('[data-test="product-price-primary"]') + paths('li[itemprop="price"]'),
    out_paths=paths('[data-test="component-att-out-of-stock"]'),
    buy_paths=paths('[data-test="add-to-trolley-button-button"]'),
    title_paths=paths('[data-test="product-title"]'),
    structured_first=True,
)
tcgplayer = dom_rule(
    "tcgplayer",
    paths(
        "[class*=price-points__upper__price]",
        "[class*=spotlight__price]",
        "[class*=product-details__price]",
    ),
    title_paths=paths("h1"),
    structured_first=True,
)
stockx = dom_rule(
    "stockx",
    paths('[data-testid="trade-box-buy-amount"]', '[data-testid="product-price"]'),
    title_paths=paths("h1"),
    structured_first=True,
)

# Cardmarket lists offers from many sellers; its "From" (lowest offer) and "Price Trend" sit
# in a definition list. The lowest offer is what one would pay now.
_CARDMARKET_LABELS = ("from", "ab", "à partir de", "desde", "da", "vanaf", "price trend")


def cardmarket(page: Page) -> Finding | None:
    tree = page.tree
    if tree is None:
        return None
    finding = Finding(method="site:cardmarket", confidence=0.85)
    for term in tree.css("dt")[:MAX_PATH_ELEMENTS]:
        label = element_text(term, 40).strip().rstrip(":").lower()
        if label in _CARDMARKET_LABELS:
            value = next_element(term)
            if value is not None and value.tag == "dd":
                offer = first_price(page, [value])
                if offer is not None:
                    finding.offers.append(offer)
                    break
    headings = tree.css("h1")
    finding.title = element_text(headings[0], 300) if headings else None
    if finding.offers:
        finding.availability = Availability.IN_STOCK
        return finding
    return None


# ----- shop platforms: recognised by their markup, wherever they are hosted -----------------

_SHOPIFY_META_START = "var meta = {"
_SHOPIFY_META_END = re.compile(r"\};\s*(?:\n|for|window)")


def _shopify_meta(text: str) -> dict | None:
    """The analytics `var meta = {...};` object: its first occurrence only (a pattern
    searched from every occurrence would read the page once per occurrence)."""
    start = text.find(_SHOPIFY_META_START)
    if start < 0:
        return None
    start += len(_SHOPIFY_META_START) - 1
    end = _SHOPIFY_META_END.search(text, start)
    return json_object(text[start : end.start() + 1]) if end else None


# Variant lists read from a Shopify page: a theme embeds its product JSON a few times; each
# read decodes JSON from that point on, so a page repeating the marker must not get more.
_MAX_VARIANT_LISTS = 20


def _shopify_variants(page: Page) -> list[dict]:
    """Variant objects from the theme's product JSON (`{{ product | json }}`), which carry
    "available" and the price in cents; empty when the theme does not embed it."""
    found: list[dict] = []
    decoder = json.JSONDecoder()
    text = page.text
    position = text.find('"variants":[')
    for _ in range(_MAX_VARIANT_LISTS):
        if position < 0 or len(found) >= 500:
            break
        check()
        try:
            value, _ = decoder.raw_decode(text, position + len('"variants":'))
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, list):
            found.extend(v for v in value[:500] if isinstance(v, dict) and "available" in v)
        position = text.find('"variants":[', position + 1)
    return found


def _shopify_availability(variants: list[dict], variant_id: str | None) -> Availability:
    chosen = [v for v in variants if str(v.get("id")) == variant_id] if variant_id else variants
    states = {bool(v.get("available")) for v in chosen}
    if True in states:
        return Availability.IN_STOCK
    return Availability.OUT_OF_STOCK if states else Availability.UNKNOWN


def shopify(page: Page) -> Finding | None:
    """Shopify stores: the variant named by ?variant= (or the only price); the store's
    analytics meta and product JSON list every variant's price in cents and its stock."""
    variant_id = query_value(page.url, "variant")
    structured = structured_answer(page, "shopify")
    product_variants = _shopify_variants(page)
    if structured is not None and variant_id is None:
        if structured.availability is Availability.UNKNOWN and not any(
            o.availability is not Availability.UNKNOWN for o in structured.offers
        ):
            structured.availability = _shopify_availability(product_variants, None)
        return structured
    variants: list[dict] = []
    meta = _shopify_meta(page.text)
    listed = dig(meta, "product", "variants")
    if isinstance(listed, list):
        variants = [v for v in listed[:500] if isinstance(v, dict)]
    variants = variants or product_variants
    chosen = next((v for v in variants if str(v.get("id")) == variant_id), None)
    if chosen is None and variants and variant_id is None:
        prices = {v.get("price") for v in variants}
        chosen = variants[0] if len(prices) == 1 else None
    if chosen is not None and isinstance(chosen.get("price"), int):
        currency = page.meta_first("og:price:currency", "product:price:currency")
        finding = Finding(method="site:shopify", confidence=0.9)
        finding.offers.append(Offer(Decimal(chosen["price"]).scaleb(-2), currency))
        finding.title = chosen.get("name") if isinstance(chosen.get("name"), str) else None
        finding.availability = _shopify_availability(product_variants, variant_id)
        if structured is not None:
            if finding.availability is Availability.UNKNOWN:
                finding.availability = structured.availability
            finding.title = structured.title or finding.title
        return finding
    return structured


woocommerce = dom_rule(
    "woocommerce",
    paths(
        "p[class*=price] > ins span[class*=woocommerce-Price-amount]",
        "p[class*=price] span[class*=woocommerce-Price-amount]",
    ),
    out_paths=paths("p[class*=stock][class*=out-of-stock]"),
    buy_paths=paths("button[class*=single_add_to_cart_button]"),
    title_paths=paths("h1[class*=product_title]"),
    structured_first=True,
)
magento = dom_rule(
    "magento",
    paths('[data-price-type="finalPrice"][data-price-amount]'),
    out_paths=paths("div[class*=stock][class*=unavailable]"),
    buy_paths=paths("#product-addtocart-button"),
    title_paths=paths("h1[class*=page-title]"),
    structured_first=True,
)


def _host_is(*names: str) -> Callable[[str], bool]:
    """Matches a shop's domains in every country: "ebay" matches ebay.com, ebay.co.uk..."""

    def matches(host: str) -> bool:
        labels = host.split(".")
        return any(name in labels for name in names)

    return matches


_RULES: list[tuple[Callable[[str], bool], SiteRule]] = [
    (_host_is("amazon"), amazon),
    (_host_is("ebay"), ebay),
    (_host_is("walmart"), walmart),
    (_host_is("target"), target),
    (_host_is("bestbuy"), bestbuy),
    (_host_is("ikea"), ikea),
    (_host_is("zalando"), zalando),
    (_host_is("zara"), zara),
    (_host_is("johnlewis"), johnlewis),
    (_host_is("argos"), argos),
    (_host_is("tcgplayer"), tcgplayer),
    (_host_is("cardmarket"), cardmarket),
    (_host_is("stockx"), stockx),
]
# Platforms are recognised from the page, not the host: any domain can run them. Their
# markers sit at the top of the page or in its <body> tag (Page.marked).
_SHOPIFY_MARKERS = (b"cdn.shopify.com", b"Shopify.theme", b"ShopifyAnalytics")
# In every Shopify marker: one search rules the platform out on most pages, not three.
_SHOPIFY_COMMON = b"hopify"
_MAGENTO_MARKERS = (b"Magento_", b'data-price-type="finalPrice"')


def _is_amazon(page: Page) -> bool:
    """Amazon's own pages (on any host: the rule reads Amazon's markup, not its address):
    its page-event script and its image host, both in the head."""
    return page.marked(b"ue_sid") and (
        page.marked(b"media-amazon.com") or page.marked(b"images-amazon.com")
    )


_PLATFORMS: list[tuple[Callable[[Page], bool], SiteRule]] = [
    (_is_amazon, amazon),
    (
        lambda page: page.marked(_SHOPIFY_COMMON) and any(page.marked(m) for m in _SHOPIFY_MARKERS),
        shopify,
    ),
    (lambda page: page.marked(b"woocommerce"), woocommerce),
    (lambda page: any(page.marked(m) for m in _MAGENTO_MARKERS), magento),
]


def rule_for(page: Page) -> SiteRule | None:
    """The site rule for the page's shop (by host), else for its platform (by markup)."""
    for matches, rule in _RULES:
        if matches(page.host):
            return rule
    for detects, rule in _PLATFORMS:
        if detects(page):
            return rule
    return None
