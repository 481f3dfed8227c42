"""Amazon in every locale: price, stock and title from the page's bytes, else from its tree."""

from __future__ import annotations

import html
import re

from adapters.extract import availability as stock
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.site_paths import css, first_price, paths
from adapters.extract.text import attr, element_text
from core.model import Availability

# In order of preference: the buy box's current price in the layouts Amazon has used since
# 2019, then the "deal"/"sale"/"our price" blocks, then the digital buy buttons.
# Substring class tests (`[class*=...]`) as the shop's own scripts use them.
_AMAZON_PRICE = paths(
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
_AMAZON_TITLE = css("#productTitle, #ebooksProductTitle")
_AMAZON_AVAILABILITY = css("#availability")
_AMAZON_OUT = css("#outOfStock, #outOfStockBuyBox_feature_div")
_AMAZON_BUY = css("#add-to-cart-button, #buy-now-button, #one-click-button")
_AMAZON_NO_FEATURED_OFFER = css("#unqualifiedBuyBox, #buybox-see-all-buying-choices")
_AMAZON_IMAGE = css("#landingImage, #imgBlkFront, #ebooksImgBlkFront")
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
        if parsed is not None:
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
        offer = first_price(page, path(tree))
        if offer is not None:
            finding.offers.append(offer)
            break
    if not finding.offers and digital is not None:
        button = css(f'[id="{_css_string(digital)}"] [class*=a-text-bold]')(tree)
        offer = first_price(page, button)
        if offer is not None:
            finding.offers.append(offer)
    return finding


def _css_string(value: str) -> str:
    """A value made safe inside a double-quoted CSS string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
