"""Money as Decimal with an ISO 4217 currency code; never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Currencies whose minor unit is not 1/100 (ISO 4217 exponent).
_MINOR_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "KWD": 3, "BHD": 3}

_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "PLN": "zł",
    "CHF": "CHF ",
    "SEK": "kr",
    "NOK": "kr",
    "DKK": "kr",
    "RUB": "₽",
    "TRY": "₺",
    "BRL": "R$",
    "CAD": "CA$",
    "AUD": "A$",
}


def minor_digits(currency: str) -> int:
    """Number of digits after the decimal point for a currency's smallest unit."""
    return _MINOR_DIGITS.get(currency.upper(), 2)


def minor_unit(currency: str) -> Decimal:
    """The smallest unit of a currency, e.g. 0.01 for EUR and 1 for JPY."""
    return Decimal(1).scaleb(-minor_digits(currency))


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError(f"not an ISO 4217 currency code: {self.currency!r}")

    def quantized(self) -> Money:
        return Money(
            self.amount.quantize(minor_unit(self.currency), rounding=ROUND_HALF_UP), self.currency
        )

    def format(self) -> str:
        """Human form, e.g. '€25.99', '$1,299.00', '¥12,800'."""
        digits = minor_digits(self.currency)
        value = f"{self.quantized().amount:,.{digits}f}"
        symbol = _SYMBOLS.get(self.currency)
        if symbol is None:
            return f"{value} {self.currency}"
        if symbol in ("kr", "zł"):
            return f"{value} {symbol}"
        return f"{symbol}{value}"

    def __str__(self) -> str:
        return self.format()


def percent_change(old: Decimal, new: Decimal) -> Decimal:
    """Change from old to new in percent, one decimal; 0 when old is zero."""
    if old == 0:
        return Decimal(0)
    return ((new - old) / old * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
