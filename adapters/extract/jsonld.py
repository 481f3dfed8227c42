"""JSON-LD schema.org Product / Offer / AggregateOffer, as real shops write it (not as spec'd)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from adapters.extract import availability as stock
from adapters.extract.budget import CHECK_EVERY, check
from adapters.extract.currencies import normalise_code
from adapters.extract.findings import MAX_OFFERS, Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import checked_amount, parse_amount, parse_price
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

# Line comments and HTML comment markers; block comments are cut by _without_comments (a
# pattern /\*.*?\*/ searches to the end again from every unclosed "/*": quadratic).
_LINE_COMMENTS = re.compile(r"^[ \t]*//[^\n]*$|<!--|-->", re.M)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PLAIN_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

# How much of a JSON-LD document is read. Shops nest a handful of levels (@graph, Product,
# offers, priceSpecification) and list at most a few hundred variants; deeper or longer
# structures are generated junk or an attack, and reading them would only cost time.
MAX_DEPTH = 32
MAX_LIST_ITEMS = 1000
MAX_NODES = 20_000
# A node with more types than this lists words, not types.
MAX_TYPES = 16


def load_blocks(sources: list[str]) -> list[Any]:
    """Parses each script leniently: CDATA wrappers, comments, trailing commas, raw newlines
    inside strings and several objects in one script all occur on real shops. A script
    nested deeper than the JSON parser recurses (100,000 "[") is unreadable and skipped."""
    blocks: list[Any] = []
    for source in sources:
        check()
        text = source.strip()
        if not text:
            continue
        try:
            data = _parse(text)
        except RecursionError:
            continue
        if data is not None:
            blocks.append(data)
    return blocks


def _parse(text: str) -> Any:
    data = _loads(text)
    if data is None:
        cleaned = _TRAILING_COMMA.sub(r"\1", _without_comments(text)).strip().rstrip(";")
        data = _loads(cleaned)
        if data is None:
            data = _load_concatenated(cleaned)
    return data


def _without_comments(text: str) -> str:
    """`text` without /* block */ comments (an unclosed one is left as it is), line comments
    and HTML comment markers, in one pass."""
    kept: list[str] = []
    position = 0
    while (start := text.find("/*", position)) >= 0:
        end = text.find("*/", start + 2)
        if end < 0:
            break
        kept.append(text[position:start])
        position = end + 2
    kept.append(text[position:])
    return _LINE_COMMENTS.sub("", "".join(kept))


def blocks(page: Page) -> list[Any]:
    """The page's JSON-LD documents, parsed once per page."""
    cached = page.cache.get("jsonld")
    if cached is None:
        cached = load_blocks(page.jsonld_sources)
        page.cache["jsonld"] = cached
    return cached  # type: ignore[return-value]


# strict=False lets control characters (raw newlines) through inside strings. Every number
# is a Decimal: prices stay exact, NaN and Infinity become Decimals that no sane-amount test
# passes (floats would slip through comparisons), and integers of any length parse (int()
# refuses more than 4,300 digits, which would lose the whole script).
_DECODER = json.JSONDecoder(
    strict=False, parse_float=Decimal, parse_int=Decimal, parse_constant=Decimal
)


def _loads(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except ValueError:
        return None


def _load_concatenated(text: str) -> list[Any] | None:
    found: list[Any] = []
    position = 0
    while position < len(text) and len(found) < MAX_LIST_ITEMS:
        check()
        start = text.find("{", position)
        if start < 0:
            break
        try:
            value, position = _DECODER.raw_decode(text, start)
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
    values = raw[:MAX_TYPES] if isinstance(raw, list) else [raw]
    return {str(v).rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower() for v in values if v}


def walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON-LD document (through @graph, lists and nesting), keys lowered;
    at most MAX_NODES of them, MAX_DEPTH levels down and MAX_LIST_ITEMS into each list."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    yielded = 0
    while stack and yielded < MAX_NODES:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            continue
        if isinstance(item, list):
            stack.extend((value, depth + 1) for value in reversed(item[:MAX_LIST_ITEMS]))
        elif isinstance(item, dict):
            node = _lower_keys(item)
            yielded += 1
            if not yielded % CHECK_EVERY:
                check()
            yield node
            for value in node.values():
                if isinstance(value, dict | list):
                    stack.append((value, depth + 1))


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
    """A price from a JSON value (number or text); None when it is not a sane amount."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None, currency
    if isinstance(value, Decimal):  # every JSON number (_DECODER)
        return checked_amount(value, currency), currency
    text = str(value).strip()
    if not text:
        return None, currency
    if _PLAIN_NUMBER.fullmatch(text):
        amount = parse_amount(text, currency=currency)
        return (None if amount is None else checked_amount(amount, currency)), currency
    parsed = parse_price(text, currency_hint=currency, url=url)
    if parsed is None:
        return None, currency
    return parsed.amount, currency or parsed.currency


def _dicts(value: Any) -> list[dict[str, Any]]:
    """A JSON value that may be one object or a list of them, as a (bounded) list."""
    items = value[:MAX_OFFERS] if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _offers_of(node: dict[str, Any], url: str, inherited: Availability) -> Iterator[Offer]:
    """A node's offers (a dict or a list, AggregateOffers read inside), lazily: the caller
    takes at most MAX_OFFERS, and no more are read than it takes."""
    for raw in _dicts(node.get("offers")):
        yield from _read_offer(_lower_keys(raw), url, inherited)


def _product_offers(node: dict[str, Any], url: str) -> Iterator[Offer]:
    """A product's own offers, then its variants' (each with the variant's SKU and link)."""
    availability = stock.from_value(node.get("availability"))
    yield from _offers_of(node, url, availability)
    for variant in _dicts(node.get("hasvariant")):
        variant_node = _lower_keys(variant)
        for offer in _offers_of(variant_node, url, availability):
            sku = offer.sku or _text(variant_node.get("sku"))
            yield replace(offer, sku=sku, url=offer.url or _text(variant_node.get("url")))


# AggregateOffer -> offers -> Offer is two levels; shops nest no deeper.
_MAX_OFFER_NESTING = 4
# An offer states its price, a list price and perhaps a unit price.
_MAX_SPECIFICATIONS = 16


def _read_offer(
    offer: dict[str, Any], url: str, inherited: Availability, nesting: int = 0
) -> list[Offer]:
    currency = normalise_code(offer.get("pricecurrency"))
    availability = stock.from_value(offer.get("availability"))
    if availability is Availability.UNKNOWN:
        availability = inherited
    sku = _text(offer.get("sku"))
    offer_url = _text(offer.get("url"))
    nested = offer.get("offers")
    if isinstance(nested, dict | list) and nesting < _MAX_OFFER_NESTING:
        level = nesting + 1
        read = (_read_offer(_lower_keys(raw), url, availability, level) for raw in _dicts(nested))
        inner = list(islice(chain.from_iterable(read), MAX_OFFERS))
        if inner:
            return inner
    found: list[Offer] = []
    amount, currency = _amount(offer.get("price"), currency, url)
    if amount is not None:
        found.append(Offer(amount, currency, availability, sku, offer_url))
    for raw_spec in _dicts(offer.get("pricespecification"))[:_MAX_SPECIFICATIONS]:
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
    items = block[:MAX_LIST_ITEMS] if isinstance(block, list) else [block]
    for item in items:
        if isinstance(item, dict):
            node = _lower_keys(item)
            graph = node.get("@graph")
            if isinstance(graph, list):
                yield from (_lower_keys(g) for g in graph[:MAX_LIST_ITEMS] if isinstance(g, dict))
            else:
                yield node


def extract(page: Page) -> Finding | None:
    """The main product's offers from JSON-LD, or None when the page has none."""
    nodes = products(page)
    finding = Finding(method="jsonld", confidence=0.95)
    chosen: list[dict[str, Any]] = []
    for node in nodes:
        check()
        offers = list(islice(_product_offers(node, page.url), MAX_OFFERS - len(finding.offers)))
        if offers:
            chosen.append(node)
            finding.offers.extend(offers)
            if len(finding.offers) >= MAX_OFFERS:
                break
    if not finding.offers:
        loose = loose_offers(page)
        read = (_read_offer(node, page.url, Availability.UNKNOWN) for node in loose)
        finding.offers = list(islice(chain.from_iterable(read), MAX_OFFERS))
        finding.title = next(filter(None, (_name(node.get("name")) for node in loose)), None)
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
