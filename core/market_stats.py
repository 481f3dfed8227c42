"""Market statistics from aggregates: mean, median and volatility of an item's prices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from core.money import minor_unit

STATS_DAYS = (7, 30)
_RATIO = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Window:
    """What an indexed query gives for one item, currency and period: the number of
    observations, the sum and sum of squares of their amounts in minor units, and the
    median's one or two middle values."""

    count: int
    sum_minor: int
    sum_squares: Decimal
    middle: tuple[int, ...]


def mean(window: Window, currency: str) -> Decimal | None:
    if window.count == 0:
        return None
    unit = minor_unit(currency)
    average = Decimal(window.sum_minor) / window.count * unit
    return average.quantize(unit, rounding=ROUND_HALF_UP)


def median(window: Window, currency: str) -> Decimal | None:
    """The middle value, or the mean of the two middle values of an even count."""
    if window.count == 0 or not window.middle:
        return None
    unit = minor_unit(currency)
    middle = window.middle if window.count % 2 == 0 else window.middle[:1]
    value = Decimal(sum(middle)) / len(middle) * unit
    return value.quantize(unit, rounding=ROUND_HALF_UP)


def volatility(window: Window) -> Decimal | None:
    """Standard deviation over mean (population), 0..1 (capped: a market that swings
    more than its own mean is as volatile as this scale says)."""
    if window.count < 2 or window.sum_minor <= 0:
        return None
    with localcontext() as context:
        context.prec = 34
        average = Decimal(window.sum_minor) / window.count
        variance = window.sum_squares / window.count - average * average
        if variance <= 0:
            return Decimal(0)
        ratio = variance.sqrt() / average
    return min(ratio, Decimal(1)).quantize(_RATIO, rounding=ROUND_HALF_UP)
