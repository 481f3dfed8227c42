"""Parameter converters: chat text -> typed values; a bad value raises UsageError saying why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from price_parser import Price

from core.currency import is_currency, symbol_candidates
from core.errors import InvalidUrl, UsageError
from core.model import RuleKind
from core.urls import canonical_url, with_scheme

_PERCENT = re.compile(r"^-\s*(\d{1,2}(?:[.,]\d{1,2})?)\s*%$")
_AVERAGE = re.compile(
    r"^(?:avg|average)\s*(\+-|\+/-|±|[+-]?)\s*(\d{1,2}(?:[.,]\d{1,2})?)\s*%$", re.I
)
_AVERAGE_SIGNS = {
    "-": RuleKind.BELOW_AVERAGE,
    "+": RuleKind.ABOVE_AVERAGE,
    "": RuleKind.DEVIATION,
    "±": RuleKind.DEVIATION,
    "+-": RuleKind.DEVIATION,
    "+/-": RuleKind.DEVIATION,
}
_PERIODS = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}
_EXPONENT = re.compile(r"\d[eE][+-]?\d")
_ISO_WORD = re.compile(r"\b[a-z]{3}\b")
MAX_TARGET = Decimal("100000000")
MAX_SNOOZE_HOURS = 24 * 30
PERIOD_CHOICES = tuple(_PERIODS)


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A parsed target before it meets the product: the currency may still be unknown."""

    kind: RuleKind
    amount: Decimal | None = None
    currencies: tuple[str, ...] = ()  # candidate ISO codes the user's symbol may mean
    percent: Decimal | None = None
    given: bool = True  # False when the user wrote no target at all


NO_TARGET = TargetSpec(RuleKind.ANY_DROP, given=False)


def link(text: str) -> str:
    """A product link in canonical form; `shop.example/item` is taken as https."""
    try:
        return canonical_url(with_scheme(text))
    except InvalidUrl as error:
        raise UsageError(
            f"'{_shown(text)}' is not a web address I can open. {error.user_message}"
        ) from None


def target(text: str) -> TargetSpec:
    """`25`, `25.99`, `€25`, `25,99 €`, `EUR 25`, `-10%`, `stock`, or '' (any drop)."""
    text = text.strip()
    if not text:
        return NO_TARGET
    if text.lower() in {"stock", "restock", "instock", "in-stock"}:
        return TargetSpec(RuleKind.RESTOCK)
    if text.lower().startswith(("avg", "average")):
        return average_deviation(text)
    if "%" in text:
        return TargetSpec(RuleKind.DROP_PERCENT, percent=drop_percent(text))
    if text.startswith(("-", "−")):
        raise UsageError(
            f"'{_shown(text)}' is a negative price. Give the price you want to pay, like 25.99, "
            "or a drop in percent, like -10%."
        )
    return price_target(text)


def average_deviation(text: str) -> TargetSpec:
    """`avg -15%` (15 % or more below the 30-day average), `avg +10%` (above), `avg ±15%`
    (either way)."""
    match = _AVERAGE.match(" ".join(text.split()))
    if not match:
        raise UsageError(
            f"'{_shown(text)}' is not a deviation I understand. Write avg -15% (below the "
            "30-day average), avg +15% (above) or avg ±15% (either way)."
        )
    percent = Decimal(match.group(2).replace(",", "."))
    if not Decimal(0) < percent < Decimal(100):
        raise UsageError("A deviation must be between 1% and 99%, like avg -15%.")
    return TargetSpec(_AVERAGE_SIGNS[match.group(1)], percent=percent)


def price_or_drop(text: str) -> TargetSpec:
    """A price or a -N% drop (what /target accepts)."""
    spec = target(text)
    if spec.kind not in (RuleKind.TARGET, RuleKind.DROP_PERCENT):
        raise UsageError(f"'{_shown(text)}' is neither a price nor a drop like -10%.")
    return spec


def drop_percent(text: str) -> Decimal:
    match = _PERCENT.match(text.strip())
    if not match:
        raise UsageError(
            f"'{_shown(text)}' is not a drop I understand. Write it as a minus sign, a number "
            "from 1 to 99 and %, like -10%."
        )
    percent = Decimal(match.group(1).replace(",", "."))
    if not Decimal(0) < percent < Decimal(100):
        raise UsageError("A drop must be between -1% and -99%, like -10%.")
    return percent


def price_target(text: str) -> TargetSpec:
    if text.strip().startswith(("-", "−")):
        raise UsageError(
            f"'{_shown(text)}' is a negative price. Give a price above zero, like 25.99."
        )
    not_a_price = UsageError(f"'{_shown(text)}' is not a price I understand, like 25 or €19.99.")
    if _EXPONENT.search(text):
        raise not_a_price  # "1e10" is not a price of 1
    # price-parser knows ISO codes only in capitals ("usd 10" -> "USD 10").
    upper = _ISO_WORD.sub(lambda code: code.group(0).upper(), text)
    parsed = Price.fromstring(upper)
    leftover = re.sub(r"[\d\s.,'’]", "", upper)
    if parsed.currency:
        leftover = leftover.replace(parsed.currency.replace(" ", ""), "", 1)
    if parsed.amount is None or leftover:
        raise not_a_price
    try:
        amount = Decimal(parsed.amount)
    except InvalidOperation:
        raise not_a_price from None
    if amount <= 0:
        raise UsageError("A target price must be more than zero, like 25 or 19.99.")
    if amount >= MAX_TARGET:
        raise UsageError("That target is too large. Give the price you want to pay, like 25.99.")
    currencies: tuple[str, ...] = ()
    if parsed.currency:
        currencies = symbol_candidates(parsed.currency)
        if not currencies:
            raise UsageError(
                f"I do not know the currency '{_shown(parsed.currency.strip())}'. Use a symbol "
                "like € or $, or a code like EUR, or leave it out to use the shop's currency."
            )
    return TargetSpec(RuleKind.TARGET, amount=amount, currencies=currencies)


def watch_id(text: str) -> int:
    cleaned = text.strip().lstrip("#")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise UsageError(f"'{_shown(text)}' is not a watch id; /watches shows them.")
    return int(cleaned)


def watch_id_or_all(text: str) -> int | None:
    """A watch id, or None for 'all'."""
    return None if text.strip().lower() == "all" else watch_id(text)


def period(text: str) -> int | None:
    """Days of history: 7d, 30d, 90d, 1y; None for all."""
    key = text.strip().lower()
    if key not in _PERIODS:
        raise UsageError(f"'{_shown(text)}' is not a period I know: 7d, 30d, 90d, 1y or all.")
    return _PERIODS[key]


def page_number(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 10_000:
        raise UsageError(f"'{_shown(text)}' is not a page number.")
    return int(text)


def snooze_hours(text: str) -> int:
    """Hours from 1 to 720; 'off' (0) ends a snooze."""
    if text.strip().lower() in {"off", "0", "end"}:
        return 0
    cleaned = text.strip().lower().removesuffix("h")
    if not cleaned.isdigit() or not 0 < int(cleaned) <= MAX_SNOOZE_HOURS:
        raise UsageError(
            f"'{_shown(text)}' is not a number of hours from 1 to {MAX_SNOOZE_HOURS}, or off."
        )
    return int(cleaned)


def css_selector(text: str) -> str | None:
    """A CSS selector, or None for 'off'."""
    cleaned = text.strip()
    if cleaned.lower() in {"off", "none", "clear"}:
        return None
    if len(cleaned) > 300:
        raise UsageError("That selector is too long; a selector for one price is short.")
    return cleaned


def _shown(text: str) -> str:
    """User text quoted back as they wrote it, shortened."""
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:59] + "…"


def currency(text: str) -> str:
    """An ISO 4217 code (eur, USD)."""
    code = text.strip().upper()
    if not is_currency(code):
        raise UsageError(f"'{_shown(text)}' is not a currency code I know, like EUR or USD.")
    return code


def percent_or_off(text: str) -> Decimal | None:
    """15% (or 15) from 1 to 99; None for 'off'."""
    cleaned = text.strip().lower()
    if cleaned in {"off", "none", "0", "0%"}:
        return None
    match = re.fullmatch(r"[±+-]?\s*(\d{1,3}(?:[.,]\d{1,2})?)\s*%?", cleaned)
    if not match:
        raise UsageError(f"'{_shown(text)}' is not a percentage like 15%, or off.")
    percent = Decimal(match.group(1).replace(",", "."))
    if not Decimal(0) < percent < Decimal(100):
        raise UsageError("Give a percentage from 1% to 99%, like 15%.")
    return percent


def platform_name(text: str) -> str:
    """A marketplace's name as one word (stockx, goat, ebay)."""
    cleaned = text.strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_.-]{1,31}", cleaned):
        raise UsageError(f"'{_shown(text)}' is not a marketplace name like stockx or goat.")
    return cleaned


def price_or_off(text: str) -> TargetSpec | None:
    """A price (with or without its currency), or None for 'off'."""
    if text.strip().lower() in {"off", "none"}:
        return None
    return price_target(text)


def quantity(text: str) -> int:
    cleaned = text.strip().lower().removeprefix("x").removesuffix("x")
    if not cleaned.isdigit() or not 0 < int(cleaned) <= 1_000_000:
        raise UsageError(f"'{_shown(text)}' is not a quantity: a whole number from 1, like 2.")
    return int(cleaned)
