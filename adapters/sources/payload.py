"""Reading a source's JSON: required fields or SourceError("malformed"); prices via sane_amount."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.currency import is_currency
from core.market import MarketQuote, SourceError
from core.money import Money, sane_amount

# A price as the APIs write it: digits with an optional fraction ("2.15", "0", "12.99").
# Decimal() alone would also take "1_000", "1e3" and "NaN".
_PRICE_TEXT = re.compile(r"-?\d{1,15}(?:\.\d{1,12})?")


def mapping(value: object, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError(source, "malformed")
    return value


def sequence(value: object, source: str) -> list[Any]:
    if not isinstance(value, list):
        raise SourceError(source, "malformed")
    return value


def required_text(data: dict[str, Any], key: str, source: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SourceError(source, "malformed")
    return value


def optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # localId and friends may come as numbers
    return value if isinstance(value, str) and value.strip() else None


def amount(value: object) -> Decimal | None:
    """A price field as a Decimal: a numeric string or a JSON number; None otherwise (null,
    "", "N/A", booleans...)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, str) and _PRICE_TEXT.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


def money(value: object, currency: str) -> Money | None:
    """The price in `currency`, or None when the value is no sane price (null, zero, negative,
    absurdly large, more decimals than the currency has) or the currency is not ISO 4217."""
    if not is_currency(currency):
        return None
    sane = sane_amount(amount(value), currency)
    return Money(sane, currency) if sane is not None else None


def timestamp(value: object) -> datetime | None:
    """An ISO 8601 time as aware UTC; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def quote(
    *,
    source: str,
    market: str,
    item_id: str,
    finish: str,
    kind: str,
    value: object,
    currency: str,
    as_of: datetime,
) -> MarketQuote | None:
    """A MarketQuote for a sane price, None for anything else."""
    price = money(value, currency)
    if price is None:
        return None
    return MarketQuote(
        source=source,
        market=market,
        item_id=item_id,
        finish=finish,
        kind=kind,
        price=price,
        as_of=as_of,
    )
