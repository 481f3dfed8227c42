"""Default seller fees per resale platform, as Decimal fractions of a sale, with their sources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class SellerFee:
    """What a platform keeps of a sale, as a fraction of the sale price. Flat fees cannot be
    fractions; `leaves_out` names what the fraction does not count."""

    fraction: Decimal
    source: str
    leaves_out: str = ""

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.fraction <= Decimal(1):
            raise ValueError(f"a seller fee is a fraction within 0..1, not {self.fraction}")


def stacked(*fractions: Decimal) -> Decimal:
    """Fees taken one after another, each from what the previous left: 9.5% then 2.9% of the
    rest is 12.1245%, not 12.4%."""
    kept = Decimal(1)
    for fraction in fractions:
        kept *= Decimal(1) - fraction
    return Decimal(1) - kept


DEFAULT_SELLER_FEES: Mapping[str, SellerFee] = MappingProxyType(
    {
        # StockX help centre, "What are StockX's fees for sellers?"
        # (https://stockx.com/help/articles/what-are-stockxs-fees-for-sellers; the page carries
        # no date, read 2026-12-05): a 3% payment processing fee on every sale plus the
        # transaction fee of the seller's level, 9% at Level 1 (8.5 / 8 / 7.5 / 7% at Levels
        # 2-5), both on the final sale price.
        "stockx": SellerFee(
            Decimal("0.12"),
            "https://stockx.com/help/articles/what-are-stockxs-fees-for-sellers",
            leaves_out="the minimum seller fee per region (10.00 USD in the US); Levels 2-5",
        ),
        # GOAT support, "Why is my commission fee higher than 9.5%?"
        # (https://support.goat.com/hc/zh-tw/articles/115004610507, undated, read 2026-12-05)
        # and GOAT's fee policy of 27 February - 13 December 2020 (https://www.goat.com/fees-old):
        # a seller in good standing pays a 9.5% commission plus a flat seller fee set by
        # location. GOAT's current fee page was not found.
        "goat": SellerFee(
            Decimal("0.095"),
            "https://support.goat.com/hc/zh-tw/articles/115004610507",
            leaves_out="the flat seller fee (5 USD in the US in 2020); any cash-out fee",
        ),
        # alias Fee Policy (https://www.alias.org/fees, "Last updated: May 10, 2024"): 9.5%
        # commission plus a flat seller fee, then a 2.9% cash-out fee on earnings deposited by
        # ACH or PayPal.
        "alias": SellerFee(
            stacked(Decimal("0.095"), Decimal("0.029")),
            "https://www.alias.org/fees",
            leaves_out="the flat seller fee by location",
        ),
        # Flight Club support, "What is the commission structure?"
        # (https://support.flightclub.com/hc/en-us/articles/360043032132, undated, read
        # 2026-12-05): 9.5% commission plus a 5 USD seller fee, and a 2.9% cash-out fee.
        "flightclub": SellerFee(
            stacked(Decimal("0.095"), Decimal("0.029")),
            "https://support.flightclub.com/hc/en-us/articles/360043032132",
            leaves_out="the 5 USD seller fee",
        ),
        # eBay: no page of eBay's own stating a final value fee rate could be found, so there is
        # no default; set the rate of your category with an override.
    }
)
