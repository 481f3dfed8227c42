"""Market statistics from aggregates: the mean of an item's prices over the last 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from core.money import minor_unit

# The period an item's average market price is taken over (deviation alerts compare with it).
MEAN_WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Window:
    """What an indexed query gives for one item, currency and period: the number of
    observations and the sum of their amounts in minor units."""

    count: int
    sum_minor: int


def mean(window: Window, currency: str) -> Decimal | None:
    if window.count == 0:
        return None
    unit = minor_unit(currency)
    average = Decimal(window.sum_minor) / window.count * unit
    return average.quantize(unit, rounding=ROUND_HALF_UP)
