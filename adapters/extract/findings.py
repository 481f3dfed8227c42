"""What one extractor found on a page: candidate offers for the main product, plus details."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.model import Availability

# Offers one extractor reads for a page. A product has tens of variants (sizes times colours)
# and a marketplace tens of sellers; a page with more offers than this is a catalogue, whose
# first few hundred offers already show whether it has one price or several. Reading further
# only costs time (a page can list 100,000 offers in its JSON-LD).
MAX_OFFERS = 500


@dataclass(frozen=True, slots=True)
class Offer:
    """One price the page states for the product (a variant, a seller, a was/now price...)."""

    amount: Decimal
    currency: str | None
    availability: Availability = Availability.UNKNOWN
    sku: str | None = None
    url: str | None = None
    # True for prices that are not the selling price: list/was/strikethrough prices.
    reference: bool = False


@dataclass(slots=True)
class Finding:
    """One extractor's answer. `offers` may hold several prices; the engine decides."""

    method: str
    confidence: float
    offers: list[Offer] = field(default_factory=list)
    availability: Availability = Availability.UNKNOWN
    title: str | None = None
    image: str | None = None
    canonical_url: str | None = None
    # Set when the extractor itself knows the page shows several prices it cannot tell apart.
    ambiguous: bool = False
    # Set by a site rule that knows the page has no price to pay now (sold out, only other
    # sellers' offers): the chain stops instead of picking up a stale price elsewhere.
    no_price: bool = False
    # The DOM subtree the offers were read from (a microdata product scope), when there is
    # one: checks against the visible page can then look there instead of everywhere.
    region: Any = None

    def selling_offers(self) -> list[Offer]:
        current = [offer for offer in self.offers if not offer.reference and offer.amount > 0]
        return current

    def distinct_prices(self) -> list[tuple[Decimal, str | None]]:
        """Each different (amount, currency) among the selling offers, in page order. Equal
        Decimals hash alike (12.0 and 12.00), so a dict finds repeats in one pass."""
        seen: dict[tuple[Decimal, str | None], None] = {}
        for offer in self.selling_offers():
            seen.setdefault((offer.amount, offer.currency), None)
        return list(seen)
