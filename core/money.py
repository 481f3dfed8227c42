"""Money as Decimal with an ISO 4217 currency code, never float; the one test of a sane price."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.currency import DISPLAY_SYMBOLS, SUFFIX_SYMBOLS, minor_digits

__all__ = ["MAX_AMOUNT", "Money", "minor_digits", "minor_unit", "percent_change", "sane_amount"]

# No product page sells anything for a trillion (a car in dong is a few billion); a bigger
# number is a page's placeholder or an attack, and would not fit a sane display either.
MAX_AMOUNT = Decimal(10) ** 12
# Prices that went through a float (29.990000000000002) are still the price they meant.
_FLOAT_NOISE = Decimal("1e-6")
# Unknown currency: allow the most decimals any common currency has (dinars: 3).
_UNKNOWN_CURRENCY_UNIT = Decimal("0.001")


def minor_unit(currency: str) -> Decimal:
    """The smallest unit of a currency, e.g. 0.01 for EUR and 1 for JPY."""
    return Decimal(1).scaleb(-minor_digits(currency))


def sane_amount(amount: object, currency: str | None) -> Decimal | None:
    """`amount` as a price in `currency` (at most its minor digits), or None when it is no
    price: not a finite Decimal, not above zero once rounded to the minor unit, at or above
    MAX_AMOUNT, or with more decimals than the currency has (beyond float noise)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        return None
    if amount <= 0 or amount >= MAX_AMOUNT:
        return None
    unit = minor_unit(currency) if currency else _UNKNOWN_CURRENCY_UNIT
    try:
        rounded = amount.quantize(unit, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    if rounded <= 0:
        return None  # 1e-30 is not a price of 0.00
    if rounded != amount and abs(rounded - amount) > unit * _FLOAT_NOISE:
        return None  # 12.345 EUR: a unit price or a computation, not what one pays
    return rounded


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        if not self.amount.is_finite():
            raise ValueError(f"not a finite amount: {self.amount}")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    def quantized(self) -> Money:
        try:
            amount = self.amount.quantize(minor_unit(self.currency), rounding=ROUND_HALF_UP)
        except InvalidOperation:  # more digits than Decimal's precision: shown as it is
            return self
        return Money(amount, self.currency)

    def format(self) -> str:
        """Human form, e.g. '€25.99', '$1,299.00', '¥12,800', '12.345 OMR'."""
        digits = minor_digits(self.currency)
        value = f"{self.quantized().amount:,.{digits}f}"
        symbol = DISPLAY_SYMBOLS.get(self.currency)
        if symbol is None:
            return f"{value} {self.currency}"
        if symbol in SUFFIX_SYMBOLS:
            return f"{value} {symbol}"
        return f"{symbol}{value}"

    def __str__(self) -> str:
        return self.format()


def percent_change(old: Decimal, new: Decimal) -> Decimal:
    """Change from old to new in percent, one decimal; 0 when old is zero."""
    if old == 0:
        return Decimal(0)
    return ((new - old) / old * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
