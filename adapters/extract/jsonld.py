"""JSON-LD schema.org Product / Offer / AggregateOffer, as real shops write it (not as spec'd)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from adapters.extract import availability as stock
from adapters.extract.currencies import normalise_code
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_amount, parse_price
from core.model import Availability

PRODUCT_TYPES = {
    "product",
    "productgroup",
    "productmodel",
    "individualproduct",
    "someproducts",
    "vehicle",
    "car",
    "book",
    "motorizedbicycle",
    "wearableitem",
    "clothing",
    "shoes",
    "musicalbum",
    "musicrecording",
    "movie",
    "videogame",
    "softwareapplication",
    "mobileapplication",
}
OFFER_TYPES = {"offer", "aggregateoffer"}
# Price types that are not what one pays now.
REFERENCE_PRICE_TYPES = ("listprice", "strikethroughprice", "msrp", "srp", "invoiceprice", "was")

_COMMENTS = re.compile(r"/\*.*?\*/|<!--|-->|^\s*//[^\n]*$", re.S | re.M)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def load_blocks(sources: list[str]) -> list[Any]:
    """Parses each script leniently: CDATA wrappers, comments, trailing commas, raw newlines
    inside strings and several objects in one script all occur on real shops."""
    blocks: list[Any] = []
    for source in sources:
        text = source.strip()
        if not text:
            continue
        data = _loads(text)
        if data is None:
            cleaned = _TRAILING_COMMA.sub(r"\1", _COMMENTS.sub("", text)).strip().rstrip(";")
            data = _loads(cleaned)
            if data is None:
                data = _load_concatenated(cleaned)
        if data is not None:
            blocks.append(data)
    return blocks


def blocks(page: Page) -> list[Any]:
    """The page's JSON-LD documents, parsed once per page."""
    cached = page.cache.get("jsonld")
    if cached is None:
        cached = load_blocks(page.jsonld_sources)
        page.cache["jsonld"] = cached
    return cached  # type: ignore[return-value]


def _loads(text: str) -> Any:
    try:
        # strict=False lets control characters (raw newlines) through inside strings;
        # parse_float keeps prices exact.
        return json.loads(text, strict=False, parse_float=Decimal)
    except ValueError:
        return None


def _load_concatenated(text: str) -> list[Any] | None:
    decoder = json.JSONDecoder(strict=False, parse_float=Decimal)
    found: list[Any] = []
    position = 0
    while position < len(text):
        start = text.find("{", position)
        if start < 0:
            break
        try:
            value, position = decoder.raw_decode(text, start)
        except ValueError:
            break
        found.append(value)
    return found or None


def _lower_keys(node: dict[str, Any]) -> dict[str, Any]:
    # Some shops write "Offers", "Price", "@Type": schema.org terms are case-sensitive, but a
    # human reading the page would not care, so neither do we.
    return {key.lower(): value for key, value in node.items()}


def types_of(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type", node.get("type"))
    values = raw if isinstance(raw, list) else [raw]
    return {str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for v in values if v}


def walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON-LD document (through @graph, lists and nesting), keys lowered."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            node = _lower_keys(item)
            yield node
            for value in node.values():
                if isinstance(value, dict | list):
                    stack.append(value)


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if v), None)
    if isinstance(value, dict):
        node = _lower_keys(value)
        value = node.get("name") or node.get("@value") or node.get("url") or node.get("@id")
    if value is None or isinstance(value, dict | list):
        return None
    text = " ".join(str(value).split())
    return text or None


_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def _name(value: Any) -> str | None:
    """A product name; many shops HTML-escape inside their JSON ("Black &amp; Silver"), so
    entities are decoded once. What remains is plain text, never markup."""
    text = _text(value)
    if text and _ENTITY.search(text):
        text = html.unescape(text)
    return text


def _amount(value: Any, currency: str | None, url: str) -> tuple[Decimal | None, str | None]:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None, currency
    if isinstance(value, int | Decimal):
        return Decimal(value), currency
    if isinstance(value, float):
        return Decimal(str(value)), currency
    text = str(value).strip()
    if not text:
        return None, currency
    if re.fullmatch(r"\d+(?:[.,]\d+)?", text):
        return parse_amount(text, currency=currency), currency
    parsed = parse_price(text, currency_hint=currency, url=url)
    if parsed is None:
        return None, currency
    return parsed.amount, currency or parsed.currency


def offers_of(node: dict[str, Any], url: str, inherited: Availability) -> list[Offer]:
    """Offers of a product node: offers (dict or list, nested AggregateOffer) and variants."""
    found: list[Offer] = []
    raw_offers = node.get("offers")
    queue = raw_offers if isinstance(raw_offers, list) else [raw_offers]
    for raw in queue:
        if isinstance(raw, dict):
            found.extend(_read_offer(_lower_keys(raw), url, inherited))
    return found


def _read_offer(offer: dict[str, Any], url: str, inherited: Availability) -> list[Offer]:
    currency = normalise_code(offer.get("pricecurrency"))
    availability = stock.from_value(offer.get("availability"))
    if availability is Availability.UNKNOWN:
        availability = inherited
    sku = _text(offer.get("sku"))
    offer_url = _text(offer.get("url"))
    nested = offer.get("offers")
    if isinstance(nested, dict | list):
        inner: list[Offer] = []
        for raw in nested if isinstance(nested, list) else [nested]:
            if isinstance(raw, dict):
                inner.extend(_read_offer(_lower_keys(raw), url, availability))
        if inner:
            return inner
    found: list[Offer] = []
    amount, currency = _amount(offer.get("price"), currency, url)
    if amount is not None:
        found.append(Offer(amount, currency, availability, sku, offer_url))
    specs = offer.get("pricespecification")
    for raw_spec in specs if isinstance(specs, list) else [specs]:
        if not isinstance(raw_spec, dict):
            continue
        spec = _lower_keys(raw_spec)
        spec_currency = normalise_code(spec.get("pricecurrency")) or currency
        spec_amount, spec_currency = _amount(spec.get("price"), spec_currency, url)
        if spec_amount is None:
            continue
        price_type = str(spec.get("pricetype") or "").lower()
        reference = any(kind in price_type for kind in REFERENCE_PRICE_TYPES)
        if amount is None or reference or spec_amount != amount:
            found.append(Offer(spec_amount, spec_currency, availability, sku, offer_url, reference))
    if not found:
        low, low_currency = _amount(offer.get("lowprice"), currency, url)
        if low is not None:
            found.append(Offer(low, low_currency, availability, sku, offer_url))
        else:
            high, high_currency = _amount(offer.get("highprice"), currency, url)
            if high is not None:
                found.append(Offer(high, high_currency, availability, sku, offer_url))
    return found


def _image(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        node = _lower_keys(value)
        value = node.get("url") or node.get("contenturl") or node.get("@id")
    return value.strip() if isinstance(value, str) and value.strip() else None


def products(page: Page) -> list[dict[str, Any]]:
    """Product-like nodes (typed as a product, or carrying offers), in page order."""
    found: list[dict[str, Any]] = []
    for block in blocks(page):
        for node in walk(block):
            kinds = types_of(node)
            if kinds & PRODUCT_TYPES or ("offers" in node and not kinds & OFFER_TYPES):
                found.append(node)
    return found


def loose_offers(page: Page) -> list[dict[str, Any]]:
    """Offer nodes that are not inside any product node (some shops publish only the Offer)."""
    found: list[dict[str, Any]] = []
    for block in blocks(page):
        for node in _top_level(block):
            if types_of(node) & OFFER_TYPES:
                found.append(node)
    return found


def _top_level(block: Any) -> Iterator[dict[str, Any]]:
    items = block if isinstance(block, list) else [block]
    for item in items:
        if isinstance(item, dict):
            node = _lower_keys(item)
            graph = node.get("@graph")
            if isinstance(graph, list):
                yield from (_lower_keys(g) for g in graph if isinstance(g, dict))
            else:
                yield node


def extract(page: Page) -> Finding | None:
    """The main product's offers from JSON-LD, or None when the page has none."""
    nodes = products(page)
    finding = Finding(method="jsonld", confidence=0.95)
    chosen: list[dict[str, Any]] = []
    for node in nodes:
        product_availability = stock.from_value(node.get("availability"))
        offers = offers_of(node, page.url, product_availability)
        variants = node.get("hasvariant")
        for variant in variants if isinstance(variants, list) else [variants]:
            if isinstance(variant, dict):
                variant_node = _lower_keys(variant)
                for offer in offers_of(variant_node, page.url, product_availability):
                    sku = offer.sku or _text(variant_node.get("sku"))
                    url = offer.url or _text(variant_node.get("url"))
                    offers.append(
                        Offer(
                            offer.amount,
                            offer.currency,
                            offer.availability,
                            sku,
                            url,
                            offer.reference,
                        )
                    )
        if offers:
            chosen.append(node)
            finding.offers.extend(offers)
    if not finding.offers:
        for node in loose_offers(page):
            finding.offers.extend(_read_offer(node, page.url, Availability.UNKNOWN))
            if finding.title is None:
                finding.title = _name(node.get("name"))
    if not finding.offers:
        return None
    main = chosen[0] if chosen else (nodes[0] if nodes else {})
    if main:
        finding.title = _name(main.get("name")) or finding.title
        finding.image = _image(main.get("image"))
        finding.canonical_url = _text(main.get("url"))
    return finding


def availability_anywhere(page: Page) -> Availability:
    """Any availability stated in the page's JSON-LD (for pages whose price came from
    elsewhere): one state if all agree, else InStock when some offer can be bought."""
    states = set()
    for block in blocks(page):
        for node in walk(block):
            if "availability" in node:
                states.add(stock.from_value(node.get("availability")))
    states.discard(Availability.UNKNOWN)
    if not states:
        return Availability.UNKNOWN
    if Availability.IN_STOCK in states:
        return Availability.IN_STOCK
    return Availability.OUT_OF_STOCK
