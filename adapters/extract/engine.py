"""The extraction chain: site rule -> JSON-LD -> microdata/RDFa -> meta tags -> heuristics,
with the user's selector first when it matches; first confident answer wins."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from urllib.parse import unquote

from adapters.extract import availability as stock
from adapters.extract import heuristics, jsonld, markup, selector, sites
from adapters.extract.budget import check, limited
from adapters.extract.clean import plain_text
from adapters.extract.currencies import currency_of_country, normalise_code
from adapters.extract.findings import Finding, Offer
from adapters.extract.page import Page
from adapters.extract.prices import checked_amount
from core.errors import AmbiguousPrice, NoPriceFound, PageTooComplex
from core.model import Availability, Observation
from core.text import clean_url

# Below this a finding is only used when nothing better answers, and never to break a tie.
_CONFIDENT = 0.6
# Different prices an AmbiguousPrice carries: the message shows six, and a catalogue page
# with thousands would only make the error (and everything that logs it) big.
_MAX_RIVALS = 20


def extract_observation(
    body: bytes, url: str, css_selector: str | None = None, *, budget: float | None = None
) -> Observation:
    """Reads the main product's current price, currency, stock, title and image from a page.

    A page that says the product is sold out and shows no price gives an Observation with
    price and currency None. Raises NoPriceFound when the page shows no price, AmbiguousPrice
    when it shows several prices for the product and nothing tells which one is current,
    PageTooComplex when reading it takes more than `budget` seconds (None: no limit) or its
    markup is beyond what can be read in linear time.
    """
    with limited(budget):
        return _extract(body, url, css_selector)


def _extract(body: bytes, url: str, css_selector: str | None) -> Observation:
    page = Page(body, url)
    steps: list[Callable[[Page], Finding | None]] = []
    if css_selector and css_selector.strip():
        # The user's selector goes first: they set it because the automatic answer was wrong
        # or ambiguous for this page. When it matches nothing the normal chain still runs.
        steps.append(lambda p: selector.extract(p, css_selector))
    rule = sites.rule_for(page)
    if rule is not None:
        steps.append(rule)
    steps += [
        jsonld.extract,
        markup.extract_microdata,
        markup.extract_opengraph,
        heuristics.extract,
    ]

    # Different prices seen so far, in page order; a dict finds repeats in one step.
    rivals: dict[tuple[Decimal, str | None], None] = {}
    for step in steps:
        check()
        finding = step(page)
        if finding is None:
            continue
        if finding.no_price:
            return _partial(page, finding)  # sold out, no price: data, not an error
        _keep_sane_offers(finding, page)
        if not finding.offers:
            continue  # only amounts that are no price (NaN, 0, 1e400): the next source
        chosen = _resolve(finding, page)
        if chosen is None:
            chosen = _settled_by_meta(finding, page)
        if chosen is None:
            for price in finding.distinct_prices():
                if len(rivals) >= _MAX_RIVALS:
                    break
                rivals.setdefault(price, None)
            continue
        if rivals and finding.confidence < _CONFIDENT:
            continue
        if rivals and chosen[0].amount not in {amount for amount, _ in rivals}:
            # A weaker source naming a price that the stronger one did not list does not
            # settle the question.
            if finding.confidence < 0.85:
                continue
        if finding.method == "microdata":
            # Microdata is often a template's stale "regular price" next to a visible sale;
            # the check needs the tree, so pages answered from JSON-LD alone skip it.
            shown = heuristics.shown_as_old_price(page, chosen[0].amount, finding.region)
            if shown is not None:
                amount = checked_amount(shown, _currency(page, chosen[0].currency))
                if amount is not None:
                    offer = replace(chosen[0], amount=amount)
                    return _observation(page, finding, offer, [offer])
        return _observation(page, finding, *chosen)
    if rivals:
        raise AmbiguousPrice([(amount, _currency(page, cur) or "") for amount, cur in rivals])
    if page.too_complex:
        raise PageTooComplex()  # its markup was never read: it is too deep to parse
    raise NoPriceFound()


def _keep_sane_offers(finding: Finding, page: Page) -> None:
    """Drops offers whose amount is no price in the currency the page's price is in, and
    writes the others to that currency's minor unit (29.990000000000002 is 29.99, 19 EUR is
    19.00). Offers of one page repeat their prices (sizes, colours), so each is checked once."""
    checked: dict[tuple[Decimal, str | None], Decimal | None] = {}
    kept: list[Offer] = []
    for offer in finding.offers:
        key = (offer.amount, offer.currency)
        if key not in checked:
            checked[key] = checked_amount(offer.amount, _currency(page, offer.currency))
        amount = checked[key]
        if amount is not None:
            kept.append(offer if amount is offer.amount else replace(offer, amount=amount))
    finding.offers = kept


def _resolve(finding: Finding, page: Page) -> tuple[Offer, list[Offer]] | None:
    """The offer whose price is the current one, with every offer at that price; None when
    the finding holds several prices that cannot be told apart."""
    offers = finding.selling_offers()
    if not offers:
        return None
    if finding.ambiguous:
        return None
    narrowed = _narrow(offers, page)
    prices = {(offer.amount, offer.currency) for offer in narrowed}
    if len({amount for amount, _ in prices}) != 1:
        return None
    first = narrowed[0]
    return first, [offer for offer in offers if offer.amount == first.amount]


def _settled_by_meta(finding: Finding, page: Page) -> tuple[Offer, list[Offer]] | None:
    """Several offers (sizes, sellers) at different prices: the price the page puts in its
    own meta tags (og/product price, twitter:data1) names the one it shows. Cheap: no DOM."""
    if finding.method == "opengraph" or finding.ambiguous:
        return None
    meta = markup.extract_opengraph(page)
    if meta is not None:
        _keep_sane_offers(meta, page)
    if meta is None or not meta.offers:
        return None
    shown = meta.offers[0].amount
    same = [offer for offer in finding.selling_offers() if offer.amount == shown]
    if not same:
        return None
    finding.confidence = min(finding.confidence, 0.85)
    return same[0], same


def _narrow(offers: list[Offer], page: Page) -> list[Offer]:
    if len({offer.amount for offer in offers}) == 1:
        return offers
    # The variant the link points to: its own URL, or its SKU in the link.
    address = unquote(page.url).lower()
    by_url = [
        offer
        for offer in offers
        if (offer.url and unquote(offer.url).lower().rstrip("/") == address.rstrip("/"))
        or (offer.sku and len(offer.sku) >= 4 and offer.sku.lower() in address)
    ]
    if by_url and len({offer.amount for offer in by_url}) == 1:
        return by_url
    # Prices in the shop's own currency, when the page also lists other currencies.
    local = currency_of_country(page.url)
    if local and len({offer.currency for offer in offers}) > 1:
        in_local = [offer for offer in offers if offer.currency == local]
        if in_local and len({offer.amount for offer in in_local}) == 1:
            return in_local
    # What can be bought now, when the other prices belong to sold-out variants.
    buyable = [offer for offer in offers if offer.availability is Availability.IN_STOCK]
    if buyable and len({offer.amount for offer in buyable}) == 1:
        return buyable
    return offers


# A currency stated anywhere in the page's structured data (microdata or JSON).
_STRUCTURED_CURRENCY = r"""priceCurrency["']?\s*(?:content\s*=\s*|:\s*)["']([A-Za-z]{3})["']"""
_STRUCTURED_CURRENCY_TEXT = re.compile(_STRUCTURED_CURRENCY)
_STRUCTURED_CURRENCY_BYTES = re.compile(_STRUCTURED_CURRENCY.encode("ascii"))


def _currency(page: Page, found: str | None) -> str | None:
    """Currency order: the finding's (structured data or symbol), any the page states in its
    meta tags, then the shop's country."""
    if found:
        return found
    if "currency" not in page.cache:  # once per page: every offer without one asks
        page.cache["currency"] = _page_currency(page)
    return page.cache["currency"]  # type: ignore[return-value]


def _page_currency(page: Page) -> str | None:
    stated = normalise_code(
        page.meta_first("product:price:currency", "og:price:currency", "pricecurrency")
    )
    if stated is None:
        if page.ascii_markup:
            found = _STRUCTURED_CURRENCY_BYTES.search(page.body)
            stated = normalise_code(found.group(1).decode("ascii")) if found else None
        else:
            match = _STRUCTURED_CURRENCY_TEXT.search(page.text)
            stated = normalise_code(match.group(1)) if match else None
    return stated or currency_of_country(page.url)


def _observation(
    page: Page, finding: Finding, offer: Offer, same_price: list[Offer]
) -> Observation:
    availability = _availability(page, finding, same_price)
    title = finding.title or page.meta_first("og:title", "twitter:title") or page.head_title
    image = finding.image or page.meta_first("og:image", "twitter:image")
    canonical = finding.canonical_url or page.canonical_link or page.meta_first("og:url")
    return Observation(
        price=offer.amount,  # checked and written to the minor unit by _keep_sane_offers
        currency=_currency(page, offer.currency),
        availability=availability,
        title=plain_text(title),
        image=clean_url(image),
        canonical_url=clean_url(canonical),
        method=finding.method,
        confidence=finding.confidence,
    )


def _partial(page: Page, finding: Finding) -> Observation:
    """What a page without a price to pay said: its stock state, title, image, address."""
    title = finding.title or page.meta_first("og:title") or page.head_title
    return Observation(
        price=None,
        currency=None,
        availability=finding.availability,
        title=plain_text(title),
        image=clean_url(finding.image),
        canonical_url=clean_url(finding.canonical_url or page.canonical_link),
        method=finding.method,
        confidence=finding.confidence,
    )


def _availability(page: Page, finding: Finding, same_price: list[Offer]) -> Availability:
    states = {offer.availability for offer in same_price} - {Availability.UNKNOWN}
    if Availability.IN_STOCK in states:
        return Availability.IN_STOCK
    if states:
        return Availability.OUT_OF_STOCK
    if finding.availability is not Availability.UNKNOWN:
        return finding.availability
    structured = jsonld.availability_anywhere(page)
    if structured is not Availability.UNKNOWN:
        return structured
    meta_state = stock.from_value(page.meta_first("product:availability", "og:availability") or "")
    if meta_state is not Availability.UNKNOWN:
        return meta_state
    return heuristics.page_availability(page, finding.region)
