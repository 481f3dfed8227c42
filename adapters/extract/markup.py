"""Microdata, RDFa and OpenGraph / product meta tags -> the main product's offers."""

from __future__ import annotations

from typing import TypeVar

from selectolax.lexbor import LexborNode

from adapters.extract import availability as stock
from adapters.extract.budget import batches
from adapters.extract.currencies import normalise_code
from adapters.extract.findings import MAX_OFFERS, Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import parse_price
from adapters.extract.scan import microdata_elements
from adapters.extract.text import (
    MAX_CLIMB,
    element_text,
    in_other_products_region,
    parent_of,
    same,
)
from core.model import Availability

_T = TypeVar("_T")
# "Price" in the languages shops write their twitter:label in.
PRICE_LABELS = {
    "price",
    "preis",
    "prix",
    "precio",
    "prezzo",
    "preço",
    "preco",
    "cena",
    "prijs",
    "pris",
    "hinta",
    "cijena",
    "hind",
    "kaina",
    "cena:",
    "price:",
    "ár",
    "fiyat",
    "цена",
    "ціна",
    "価格",
    "价格",
    "價格",
    "가격",
    "mehir",
    "מחיר",
}
_PRICE_NAMES = {"price", "lowprice", "saleprice"}
_REFERENCE_NAMES = {"highprice", "listprice", "regularprice", "oldprice", "wasprice"}
# Scopes looked through above a scope (Offer in Product in ItemList...): real markup nests a
# handful; climbing a chain of 10,000 nested scopes for each of 10,000 prices would not be
# linear.
_MAX_SCOPE_LEVELS = 16


def _names(element: LexborNode) -> list[str]:
    attributes = element.attributes
    raw = (attributes.get("itemprop") or "") + " " + (attributes.get("property") or "")
    names = []
    for name in raw.split():
        name = name.rsplit("/", 1)[-1].rsplit(":", 1)[-1].rsplit("#", 1)[-1].lower()
        if name:
            names.append(name)
    return names


def _value(element: LexborNode) -> str:
    attributes = element.attributes
    for attribute in ("content", "value", "data-price", "href", "src", "datetime"):
        value = attributes.get(attribute)
        if value is not None and value.strip():
            return value.strip()
    return element_text(element)


class _Scopes:
    """The nearest itemscope/typeof element above each element of one page. The scopes are
    among the page's microdata elements, so climbing the tree compares node ids only, and
    each ancestor's answer is kept for the elements below it (deep pages with hundreds of
    properties climbed the same fifty ancestors for each one)."""

    def __init__(self, elements: list[LexborNode]) -> None:
        self._scopes: set[int] = set()
        for element in elements:
            attributes = element.attributes
            if "itemscope" in attributes or "typeof" in attributes:
                self._scopes.add(element.mem_id)
        # Node id -> the nearest scope at or above that node.
        self._at_or_above: dict[int, LexborNode | None] = {}

    def of(self, element: LexborNode) -> LexborNode | None:
        """The nearest scope strictly above `element` (within MAX_CLIMB levels)."""
        climbed: list[int] = []
        node = parent_of(element)
        found: LexborNode | None = None
        while node is not None and len(climbed) < MAX_CLIMB:
            key = node.mem_id
            if key in self._scopes:
                found = node
                break
            if key in self._at_or_above:
                found = self._at_or_above[key]
                break
            climbed.append(key)
            node = parent_of(node)
        for key in climbed:
            self._at_or_above[key] = found
        return found


def _kind(element: LexborNode) -> str:
    attributes = element.attributes
    return (attributes.get("itemtype") or attributes.get("typeof") or "").lower()


def _is_product_scope(element: LexborNode | None, scopes: _Scopes) -> bool:
    for _ in range(_MAX_SCOPE_LEVELS):
        if element is None:
            break
        kind = _kind(element)
        if any(word in kind for word in ("product", "offer", "vehicle", "book", "car")):
            return True
        if "review" in kind or "rating" in kind or "breadcrumb" in kind:
            return False
        element = scopes.of(element)
    return True  # a price outside any scope still names the page's price


def extract_microdata(page: Page) -> Finding | None:
    """Offers read from itemprop/property attributes (schema.org microdata and RDFa)."""
    tree = page.tree
    if tree is None:
        return None
    finding = Finding(method="microdata", confidence=0.9)
    currency_by_scope: dict[LexborNode | None, str] = {}
    availability_by_scope: dict[LexborNode | None, Availability] = {}
    prices: list[tuple[LexborNode | None, str, bool]] = []
    first_product_scope: LexborNode | None = None
    details: list[tuple[LexborNode | None, str, str]] = []
    elements = microdata_elements(page)
    scopes = _Scopes(elements)
    for batch in batches(elements):
        for element in batch:
            kind = _kind(element)
            if first_product_scope is None and "product" in kind:
                first_product_scope = element
            names = _names(element)
            if not names:
                continue
            scope = scopes.of(element)
            key = scope
            for name in names:
                if name in _PRICE_NAMES or name in _REFERENCE_NAMES:
                    # The first MAX_OFFERS prices: a page with more lists other products.
                    if len(prices) < MAX_OFFERS and _is_product_scope(scope, scopes):
                        prices.append((scope, _value(element), name in _REFERENCE_NAMES))
                elif name == "pricecurrency":
                    code = normalise_code(_value(element))
                    if code:
                        currency_by_scope.setdefault(key, code)
                elif name == "availability":
                    state = stock.from_value(_value(element))
                    if state is Availability.UNKNOWN:
                        state = stock.from_text(_value(element))
                    if state is not Availability.UNKNOWN:
                        availability_by_scope.setdefault(key, state)
                elif name in ("name", "image") and len(details) < MAX_OFFERS:
                    details.append((scope, name, _value(element)))
    main = _main_product_scope(prices, first_product_scope, scopes)
    product = main if main is not None else first_product_scope
    finding.region = product
    if finding.region is None and prices:
        finding.region = prices[0][0]
    for scope, name, value in details:
        if value and (product is None or same(scope, product)):
            if name == "name" and finding.title is None:
                finding.title = value
            elif name == "image" and finding.image is None:
                finding.image = value
    currency_anywhere = _anywhere(currency_by_scope)
    availability_anywhere = _anywhere(availability_by_scope)
    for scope, raw, reference in prices:
        if main is not None and not same(_product_scope_of(scope, scopes), main):
            continue  # another product's price: related items, accessories, bundles
        key = scope
        currency = currency_by_scope.get(key) or _inherited(
            scope, currency_by_scope, scopes, currency_anywhere
        )
        parsed = parse_price(raw, currency_hint=currency, language=page.language, url=page.url)
        if parsed is None:
            continue
        state = availability_by_scope.get(key) or _inherited(
            scope, availability_by_scope, scopes, availability_anywhere
        )
        finding.offers.append(
            Offer(
                parsed.amount,
                parsed.currency or currency,
                state or Availability.UNKNOWN,
                reference=reference,
            )
        )
    if not finding.offers:
        return None
    states = {offer.availability for offer in finding.offers} - {Availability.UNKNOWN}
    if not states:
        states = set(availability_by_scope.values())
    if Availability.IN_STOCK in states:
        finding.availability = Availability.IN_STOCK
    elif states:
        finding.availability = Availability.OUT_OF_STOCK
    return finding


def _product_scope_of(scope: LexborNode | None, scopes: _Scopes) -> LexborNode | None:
    """The nearest product-typed scope at or around a scope (an Offer's Product); a carousel
    of other products nested inside the main product's scope has its own."""
    for _ in range(_MAX_SCOPE_LEVELS):
        if scope is None or "product" in _kind(scope):
            return scope
        scope = scopes.of(scope)
    return None


def _main_product_scope(
    prices: list[tuple[LexborNode | None, str, bool]],
    first: LexborNode | None,
    scopes: _Scopes,
) -> LexborNode | None:
    """The page's own product when several product scopes carry prices: the first one that
    is not in a related-products/carousel region (shops list the main product first)."""
    products: dict[int, LexborNode] = {}  # by node id, in page order
    for scope, _, _ in prices:
        product = _product_scope_of(scope, scopes)
        if product is not None:
            products.setdefault(product.mem_id, product)
    if len(products) <= 1:
        return None
    for product in products.values():
        if not in_other_products_region(product):
            return product
    return next(iter(products.values()))


def _inherited(
    scope: LexborNode | None,
    table: dict[LexborNode | None, _T],
    scopes: _Scopes,
    anywhere: _T | None,
) -> _T | None:
    # An Offer scope often leaves its currency to the Product scope around it, and vice versa
    # (a Product's availability in a meta next to the offer): look upwards, then anywhere.
    for _ in range(_MAX_SCOPE_LEVELS):
        if scope is None:
            break
        scope = scopes.of(scope)
        if scope is not None and scope in table:
            return table[scope]
    return anywhere


def _anywhere(table: dict[LexborNode | None, _T]) -> _T | None:
    """The value stated outside any scope, else the one value the page states everywhere."""
    if None in table:
        return table[None]
    values = set(map(str, table.values()))
    return next(iter(table.values())) if len(values) == 1 else None


def extract_opengraph(page: Page) -> Finding | None:
    """OpenGraph / Facebook product tags and other price metas in the head."""
    amount_text = page.meta_first(
        "product:sale_price:amount",
        "og:sale_price:amount",
        "product:price:amount",
        "og:price:amount",
        "product:price",
        "og:price",
        "price",
        "itemprop:price",
    )
    if amount_text is None:
        for number in ("1", "2"):
            label = (page.meta_first(f"twitter:label{number}") or "").strip().lower()
            if label in PRICE_LABELS:
                amount_text = page.meta_first(f"twitter:data{number}")
                break
    if amount_text is None:
        return None
    currency = normalise_code(
        page.meta_first(
            "product:sale_price:currency",
            "og:sale_price:currency",
            "product:price:currency",
            "og:price:currency",
            "pricecurrency",
            "currency",
        )
    )
    parsed = parse_price(amount_text, currency_hint=currency, language=page.language, url=page.url)
    if parsed is None:
        return None
    state = stock.from_value(page.meta_first("product:availability", "og:availability") or "")
    finding = Finding(method="opengraph", confidence=0.8, availability=state)
    finding.offers.append(Offer(parsed.amount, parsed.currency or currency, state))
    finding.title = page.meta_first("og:title", "twitter:title")
    finding.image = page.meta_first("og:image", "twitter:image")
    finding.canonical_url = page.meta_first("og:url")
    return finding
