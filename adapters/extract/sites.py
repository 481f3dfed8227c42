"""Site rules for the shops people track most: where each keeps its price and stock state."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborNode

from adapters.extract import availability as stock
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.text import attr, element_text, next_element, parent_of, same
from core.model import Availability

SiteRule = Callable[[Page], Finding | None]
# Where a shop keeps something: the elements found from the page's root element.
Path = Callable[[LexborNode], list[LexborNode]]


def _css(selector: str, *, parent: bool = False) -> Path:
    """The elements matching a CSS selector, in document order (their parents with
    `parent`: shops often mark the label and leave the price to its container)."""

    def find(root: LexborNode) -> list[LexborNode]:
        found = root.css(selector)
        if not parent:
            return found
        parents: list[LexborNode] = []
        for element in found:
            above = parent_of(element)
            if above is not None and not any(same(above, known) for known in parents):
                parents.append(above)
        return parents

    return find


def _paths(*selectors: str) -> list[Path]:
    return [_css(selector) for selector in selectors]


def _parents(*selectors: str) -> list[Path]:
    return [_css(selector, parent=True) for selector in selectors]


def _first_price(page: Page, elements: list[LexborNode]) -> Offer | None:
    """The first element that holds a price: its content/value attribute (machine-readable)
    or its text; the currency from whichever of the two shows one."""
    for element in elements:
        text = element_text(element, 120)
        raw = attr(element, "content") or attr(element, "value") or text
        parsed = parse_price(raw, language=page.language, url=page.url)
        if parsed is None or parsed.amount <= 0:
            continue
        currency = parsed.currency
        if raw is not text and currency is None:
            shown = parse_price(text, url=page.url)
            currency = shown.currency if shown is not None else None
        return Offer(parsed.amount, currency)
    return None


# ----- Amazon (every locale) -------------------------------------------------------------

# In order of preference: the buy box's current price in the layouts Amazon has used since
# 2019, then the "deal"/"sale"/"our price" blocks, then the digital buy buttons.
# Substring class tests (`[class*=...]`) as the shop's own scripts use them.
_AMAZON_PRICE = _paths(
    "#corePrice_feature_div [class*=a-offscreen]",
    "#corePriceDisplay_desktop_feature_div [class*=priceToPay] [class*=a-offscreen]",
    "#apex_desktop [class*=priceToPay] [class*=a-offscreen]",
    "#priceblock_dealprice",
    "#priceblock_saleprice",
    "#priceblock_ourprice",
    "#price_inside_buybox",
    "#newBuyBoxPrice",
    "#kindle-price",
    "#buyNewSection [class*=offer-price]",
    "#tmmSwatches [class*=a-button-selected] [class*=a-color-price], "
    "#tmmSwatches [class*=a-button-selected] [class*=a-color-base]",
    "#dmusic_buy_box_group [class*=a-text-bold]",
    "#digital-button-buy [class*=a-text-bold]",
)
_AMAZON_TITLE = _css("#productTitle, #ebooksProductTitle")
_AMAZON_AVAILABILITY = _css("#availability")
_AMAZON_OUT = _css("#outOfStock, #outOfStockBuyBox_feature_div")
_AMAZON_BUY = _css("#add-to-cart-button, #buy-now-button, #one-click-button")
_AMAZON_NO_FEATURED_OFFER = _css("#unqualifiedBuyBox, #buybox-see-all-buying-choices")
_AMAZON_IMAGE = _css("#landingImage, #imgBlkFront, #ebooksImgBlkFront")
# Digital albums and videos: the buy button carries the ASIN in its id.
_AMAZON_DIGITAL_BUY = re.compile(rb'id="(dmusic_digital_buy_button[^"]*|dv-action-box[^"]*)"')


def _amazon_state(
    out: bool, buyable: bool, label: str | None, no_featured_offer: bool
) -> tuple[Availability, bool]:
    """Stock state and whether the page has no price one can pay, from Amazon's markers."""
    label_state = stock.from_text(label) if label else Availability.UNKNOWN
    if out or (label_state is Availability.OUT_OF_STOCK and not buyable):
        # Amazon keeps showing an old price next to "Currently unavailable".
        return Availability.OUT_OF_STOCK, True
    if buyable or label_state is Availability.IN_STOCK:
        return Availability.IN_STOCK, not buyable and no_featured_offer
    if no_featured_offer:
        # "See all buying options": other sellers' offers only, no price of the page's own.
        return Availability.IN_STOCK, True
    return Availability.UNKNOWN, False


# Amazon's ids are stable and its pages run to 1-2 MB: reading the few places it keeps the
# price straight from the bytes answers most pages without decoding or parsing them at all.
_AMAZON_PRICE_BYTES: list[tuple[bytes, tuple[bytes, ...]]] = [
    (b"corePrice_feature_div", (b'class="a-offscreen"',)),
    (b"corePriceDisplay_desktop_feature_div", (b"priceToPay", b'class="a-offscreen"')),
    (b"apex_desktop", (b"priceToPay", b'class="a-offscreen"')),
    (b"priceblock_dealprice", ()),
    (b"priceblock_saleprice", ()),
    (b"priceblock_ourprice", ()),
    (b"price_inside_buybox", ()),
    (b"newBuyBoxPrice", ()),
    (b"kindle-price", ()),
]
_NEAR = 4000  # bytes after an id within which its price must appear
_TAGS = re.compile(rb"<[^>]*>")


def _text_after(body: bytes, start: int, limit: int = 400) -> str:
    """Text content from the end of the tag that contains `start`, tags stripped."""
    open_end = body.find(b">", start)
    if open_end < 0:
        return ""
    chunk = body[open_end + 1 : open_end + 1 + limit]
    close = chunk.find(b"</")
    raw = chunk if close < 0 else chunk[:close]
    text = _TAGS.sub(b" ", raw).decode("utf-8", "replace")
    return " ".join(html.unescape(text).split())


# Every id the bytes reading looks at, found in one pass (a search per id would read a page
# of 1-2 MB a dozen times). The digital buy button carries the ASIN after its prefix.
_AMAZON_ID_NAMES = frozenset(
    {
        b"productTitle",
        b"dp-container",
        b"availability",
        b"add-to-cart-button",
        b"buy-now-button",
        b"one-click-button",
        b"outOfStock",
        b"outOfStockBuyBox_feature_div",
        b"unqualifiedBuyBox",
        b"buybox-see-all-buying-choices",
        *(marker for marker, _ in _AMAZON_PRICE_BYTES),
    }
)
_AMAZON_DIGITAL_PREFIX = b"dmusic_digital_buy_button"
# One pass over the page finds them all (a search per id would read 1-2 MB a dozen times).
_AMAZON_IDS = re.compile(
    rb'id="((?:'
    + b"|".join(re.escape(name) for name in sorted(_AMAZON_ID_NAMES | {_AMAZON_DIGITAL_PREFIX}))
    + rb')[^"]*)"'
)


def _amazon_ids(body: bytes) -> dict[bytes, int]:
    """Offset of the first `id="..."` of each id the bytes reading uses (the digital buy
    button under its prefix: the ASIN follows it)."""
    found: dict[bytes, int] = {}
    for match in _AMAZON_IDS.finditer(body):
        name = match.group(1)
        if name not in _AMAZON_ID_NAMES:
            if not name.startswith(_AMAZON_DIGITAL_PREFIX):
                continue
            name = _AMAZON_DIGITAL_PREFIX
        if name not in found:
            found[name] = match.start()
    return found


def _amazon_from_bytes(page: Page) -> Finding | None:
    body = page.body
    ids = _amazon_ids(body)
    if b"productTitle" not in ids and b"dp-container" not in ids:
        return None
    finding = Finding(method="site:amazon", confidence=0.95)
    title_at = ids.get(b"productTitle", -1)
    if title_at >= 0:
        finding.title = _text_after(body, title_at, 1000) or None
    label_at = ids.get(b"availability", -1)
    label = None
    if label_at >= 0:
        chunk = body[label_at : label_at + 1500]
        end = chunk.find(b"</div>")
        label = _TAGS.sub(b" ", chunk[chunk.find(b">") + 1 : end if end > 0 else None])
        label = " ".join(html.unescape(label.decode("utf-8", "replace")).split())
    buyable = any(
        marker in ids
        for marker in (
            b"add-to-cart-button",
            b"buy-now-button",
            b"one-click-button",
            _AMAZON_DIGITAL_PREFIX,
        )
    )
    out = b"outOfStock" in ids or b"outOfStockBuyBox_feature_div" in ids
    no_offer = b"unqualifiedBuyBox" in ids or b"buybox-see-all-buying-choices" in ids
    finding.availability, finding.no_price = _amazon_state(out, buyable, label, no_offer)
    if finding.no_price:
        return finding
    for marker, steps in _AMAZON_PRICE_BYTES:
        at = ids.get(marker, -1)
        if at < 0:
            continue
        limit = at + _NEAR
        for step in steps:
            at = body.find(step, at, limit)
            if at < 0:
                break
        if at < 0:
            continue
        parsed = parse_price(_text_after(body, at, 200), url=page.url)
        if parsed is not None and parsed.amount > 0:
            finding.offers.append(Offer(parsed.amount, parsed.currency))
            return finding
    return None  # an unusual layout: the DOM rule looks further


def amazon(page: Page) -> Finding | None:
    fast = _amazon_from_bytes(page)
    if fast is not None:
        return fast
    tree = page.tree
    if tree is None:
        return None
    finding = Finding(method="site:amazon", confidence=0.95)
    titles = _AMAZON_TITLE(tree)
    finding.title = element_text(titles[0], 300) if titles else None
    images = _AMAZON_IMAGE(tree)
    if images:
        finding.image = attr(images[0], "data-old-hires") or attr(images[0], "src")
    found = _AMAZON_DIGITAL_BUY.search(page.body)
    digital = found.group(1).decode("ascii", "replace") if found else None
    buyable = bool(_AMAZON_BUY(tree)) or digital is not None
    labels = _AMAZON_AVAILABILITY(tree)
    label = element_text(labels[0], 300) if labels else None
    no_offer = bool(_AMAZON_NO_FEATURED_OFFER(tree))
    finding.availability, finding.no_price = _amazon_state(
        bool(_AMAZON_OUT(tree)), buyable, label, no_offer
    )
    if finding.no_price:
        return finding
    for path in _AMAZON_PRICE:
        offer = _first_price(page, path(tree))
        if offer is not None:
            finding.offers.append(offer)
            break
    if not finding.offers and digital is not None:
        button = _css(f'[id="{_css_string(digital)}"] [class*=a-text-bold]')(tree)
        offer = _first_price(page, button)
        if offer is not None:
            finding.offers.append(offer)
    return finding


def _css_string(value: str) -> str:
    """A value made safe inside a double-quoted CSS string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


# ----- helpers for the other shops -------------------------------------------------------


def _dom_rule(
    name: str,
    price_paths: list[Path],
    *,
    out_paths: list[Path] = (),  # type: ignore[assignment]
    buy_paths: list[Path] = (),  # type: ignore[assignment]
    title_paths: list[Path] = (),  # type: ignore[assignment]
    structured_first: bool = False,
) -> SiteRule:
    """A rule from the shop's own markup: the first price path that yields a price wins;
    stock from the shop's sold-out marker or its buy button. With `structured_first` the
    shop's JSON-LD is tried first (shops whose structured data is reliable) and the paths
    are the fallback for its pages without it."""

    def rule(page: Page) -> Finding | None:
        if structured_first:
            structured = _structured(page, name)
            if structured is not None:
                return structured
        tree = page.tree
        if tree is None:
            return None
        finding = Finding(method=f"site:{name}", confidence=0.9)
        for path in price_paths:
            offer = _first_price(page, path(tree))
            if offer is not None:
                finding.offers.append(offer)
                break
        for path in out_paths:
            for element in path(tree):
                text = element_text(element, 200)
                if not text or stock.from_text(text) is Availability.OUT_OF_STOCK:
                    finding.availability = Availability.OUT_OF_STOCK
                    break
        if finding.availability is Availability.UNKNOWN and any(p(tree) for p in buy_paths):
            finding.availability = Availability.IN_STOCK
        for path in title_paths:
            titles = path(tree)
            if titles:
                finding.title = element_text(titles[0], 300) or None
                break
        return finding if finding.offers else None

    return rule


def _structured(page: Page, name: str) -> Finding | None:
    """The page's JSON-LD answer relabelled as the shop's rule, when it names one price
    (after the shop's own meta price settles variants)."""
    from adapters.extract import jsonld, markup  # local: jsonld is a peer, not a dependency

    finding = jsonld.extract(page)
    if finding is None:
        return None
    prices = {offer.amount for offer in finding.selling_offers()}
    if len(prices) > 1:
        meta = markup.extract_opengraph(page)
        shown = meta.offers[0].amount if meta is not None and meta.offers else None
        if shown not in prices:
            return None
        finding.offers = [o for o in finding.offers if o.amount == shown or o.reference]
    finding.method = f"site:{name}"
    return finding


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
_EBAY_PRICE = _paths(
    "#prcIsum",
    "#mm-saleDscPrc",
    "#prcIsum_bidPrice",
    '#mainContent div[class*=x-price-primary] span[class="ux-textspans"]',
    '#mainContent div[class*=x-bin-price] span[class="ux-textspans"]',
)


def ebay(page: Page) -> Finding | None:
    """eBay item pages: the Buy It Now price (or the current bid); ended listings sold out."""
    finding = _dom_rule(
        "ebay",
        _EBAY_PRICE,
        buy_paths=_paths("#binBtn_btn, #isCartBtn_btn, #bidBtn_btn"),
        title_paths=_paths("#itemTitle", "h1[class*=x-item-title]"),
    )(page)
    if finding is None:
        return None
    if finding.title:
        finding.title = re.sub(r"^(Details about|Détails sur|Details zu)\s+", "", finding.title)
    if any(phrase in page.text for phrase in _EBAY_ENDED):
        finding.availability = Availability.OUT_OF_STOCK
    return finding


# ----- Walmart and StockX: the page's Next.js state -----------------------------------------

_NEXT_DATA = re.compile(r"<script[^>]*id=[\"']__NEXT_DATA__[\"'][^>]*>(.*?)</script>", re.S | re.I)


def _next_data(page: Page) -> dict | None:
    match = _NEXT_DATA.search(page.text)
    if not match:
        return None
    try:
        return json.loads(match.group(1), parse_float=Decimal)
    except ValueError:
        return None


def _dig(data: object, *path: str) -> object:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def walmart(page: Page) -> Finding | None:
    """Walmart: priceInfo.currentPrice of the product in the page's __NEXT_DATA__."""
    data = _next_data(page)
    product = _dig(data, "props", "pageProps", "initialData", "data", "product")
    if isinstance(product, dict):
        price = _dig(product, "priceInfo", "currentPrice", "price")
        if isinstance(price, int | Decimal) and price > 0:
            currency = _dig(product, "priceInfo", "currentPrice", "currencyUnit")
            finding = Finding(method="site:walmart", confidence=0.95)
            status = str(product.get("availabilityStatus") or "")
            finding.availability = stock.from_value(status.replace("_", ""))
            finding.offers.append(
                Offer(Decimal(price), currency if isinstance(currency, str) else "USD")
            )
            name = product.get("name")
            finding.title = name if isinstance(name, str) else None
            return finding
    return _structured(page, "walmart")


# ----- the rest: shops whose markup names the price plainly ---------------------------------

target = _dom_rule(
    "target",
    _paths('[data-test="product-price"]'),
    out_paths=_paths('[data-test="soldOutBlock"], [data-test="outOfStockMessage"]'),
    buy_paths=_paths('[data-test="shippingButton"], [data-test="orderPickupButton"]'),
    title_paths=_paths('[data-test="product-title"]'),
    structured_first=True,
)
bestbuy = _dom_rule(
    "bestbuy",
    _paths(
        '[data-testid="customer-price"] > span:first-of-type',
        "div[class*=priceView-customer-price] > span:first-of-type",
        '[data-automation="product-price"] span:first-of-type',
    ),
    out_paths=_paths('button[data-button-state="SOLD_OUT"]'),
    buy_paths=_paths('button[data-button-state="ADD_TO_CART"]'),
    title_paths=_paths("h1"),
    structured_first=True,
)
ikea = _dom_rule(
    "ikea",
    _parents("[class*=pip-temp-price__integral], [class*=pip-price__integer]"),
    title_paths=_paths("h1"),
    structured_first=True,
)
zalando = _dom_rule("zalando", [], structured_first=True)
zara = _dom_rule(
    "zara",
    _paths("[class*=price-current__amount]", "[class*=money-amount__main]"),
    structured_first=True,
)
johnlewis = _dom_rule(
    "johnlewis",
    _paths('[data-test="product-price"]') + _paths("p[class*=price--large]"),
    out_paths=_paths('[data-test="out-of-stock-message"]'),
    structured_first=True,
)
argos = _dom_rule(
    "argos",
    _paths('[data-test="product-price-primary"]') + _paths('li[itemprop="price"]'),
    out_paths=_paths('[data-test="component-att-out-of-stock"]'),
    buy_paths=_paths('[data-test="add-to-trolley-button-button"]'),
    title_paths=_paths('[data-test="product-title"]'),
    structured_first=True,
)
tcgplayer = _dom_rule(
    "tcgplayer",
    _paths(
        "[class*=price-points__upper__price]",
        "[class*=spotlight__price]",
        "[class*=product-details__price]",
    ),
    title_paths=_paths("h1"),
    structured_first=True,
)
stockx = _dom_rule(
    "stockx",
    _paths('[data-testid="trade-box-buy-amount"]', '[data-testid="product-price"]'),
    title_paths=_paths("h1"),
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
    for term in tree.css("dt"):
        label = element_text(term, 40).strip().rstrip(":").lower()
        if label in _CARDMARKET_LABELS:
            value = next_element(term)
            if value is not None and value.tag == "dd":
                offer = _first_price(page, [value])
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

_SHOPIFY_META = re.compile(r"var meta = (\{.*?\});\s*(?:\n|for|window)", re.S)


def _shopify_variants(page: Page) -> list[dict]:
    """Variant objects from the theme's product JSON (`{{ product | json }}`), which carry
    "available" and the price in cents; empty when the theme does not embed it."""
    found: list[dict] = []
    decoder = json.JSONDecoder()
    text = page.text
    position = text.find('"variants":[')
    while position >= 0 and len(found) < 500:
        try:
            value, _ = decoder.raw_decode(text, position + len('"variants":'))
        except ValueError:
            value = None
        if isinstance(value, list):
            found.extend(v for v in value if isinstance(v, dict) and "available" in v)
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
    variant_id = _query_value(page.url, "variant")
    structured = _structured(page, "shopify")
    product_variants = _shopify_variants(page)
    if structured is not None and variant_id is None:
        if structured.availability is Availability.UNKNOWN and not any(
            o.availability is not Availability.UNKNOWN for o in structured.offers
        ):
            structured.availability = _shopify_availability(product_variants, None)
        return structured
    match = _SHOPIFY_META.search(page.text)
    variants: list[dict] = []
    if match:
        try:
            meta = json.loads(match.group(1))
            variants = [v for v in _dig(meta, "product", "variants") or [] if isinstance(v, dict)]
        except ValueError:
            variants = []
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


woocommerce = _dom_rule(
    "woocommerce",
    _paths(
        "p[class*=price] > ins span[class*=woocommerce-Price-amount]",
        "p[class*=price] span[class*=woocommerce-Price-amount]",
    ),
    out_paths=_paths("p[class*=stock][class*=out-of-stock]"),
    buy_paths=_paths("button[class*=single_add_to_cart_button]"),
    title_paths=_paths("h1[class*=product_title]"),
    structured_first=True,
)
magento = _dom_rule(
    "magento",
    _paths('[data-price-type="finalPrice"][data-price-amount]'),
    out_paths=_paths("div[class*=stock][class*=unavailable]"),
    buy_paths=_paths("#product-addtocart-button"),
    title_paths=_paths("h1[class*=page-title]"),
    structured_first=True,
)


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


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
