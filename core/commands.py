"""Parse chat text into typed commands; wrong input raises UsageError showing the right form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from price_parser import Price

from core.errors import UsageError
from core.model import RuleKind

TRACK_USAGE = (
    "Use: /track <link> [target]. Target is a price (25, 25.99, €25, 25,99 €), a drop like "
    "-10%, or 'stock' for restock alerts; leave it out to hear about any price drop."
)
UNTRACK_USAGE = "Use: /untrack <id> or /untrack all. /watches shows your ids."
TARGET_USAGE = "Use: /target <id> <price|-N%>, for example /target 3 19.99 or /target 3 -15%."
HISTORY_USAGE = "Use: /history <id> [30d|90d|1y], for example /history 3 90d."
WATCHES_USAGE = "Use: /watches [page]."

# Symbols people type, and the ISO 4217 codes each may stand for (first is the default).
SYMBOL_CURRENCIES: dict[str, tuple[str, ...]] = {
    "€": ("EUR",),
    "£": ("GBP",),
    "¥": ("JPY", "CNY"),
    "₹": ("INR",),
    "₩": ("KRW",),
    "zł": ("PLN",),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
    "$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "CLP", "COP", "ARS"),
    "US$": ("USD",),
    "CA$": ("CAD",),
    "C$": ("CAD",),
    "A$": ("AUD",),
    "AU$": ("AUD",),
    "R$": ("BRL",),
    "CHF": ("CHF",),
    "Fr.": ("CHF",),
}
_ISO_CODE = re.compile(r"^[A-Za-z]{3}$")
_PERCENT = re.compile(r"^-\s*(\d{1,2}(?:[.,]\d{1,2})?)\s*%$")
_PERIODS = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}
MAX_TARGET = Decimal("100000000")


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A parsed target before it meets the product: the currency may still be unknown."""

    kind: RuleKind
    amount: Decimal | None = None
    currencies: tuple[str, ...] = ()  # candidate ISO codes the user's symbol may mean
    percent: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Track:
    url: str
    target: TargetSpec


@dataclass(frozen=True, slots=True)
class Watches:
    page: int = 1


@dataclass(frozen=True, slots=True)
class Untrack:
    watch_id: int | None  # None means all


@dataclass(frozen=True, slots=True)
class SetTarget:
    watch_id: int
    target: TargetSpec


@dataclass(frozen=True, slots=True)
class History:
    watch_id: int
    days: int | None  # None: all time


@dataclass(frozen=True, slots=True)
class Settings:
    pass


@dataclass(frozen=True, slots=True)
class BareLink:
    url: str


Command = Start | Help | Track | Watches | Untrack | SetTarget | History | Settings | BareLink

# Command name -> one-line help; the order is the order /help lists them.
COMMAND_HELP: dict[str, str] = {
    "track": "track a product page: /track <link> [price | -N% | stock]",
    "watches": "list what you track",
    "untrack": "stop tracking: /untrack <id> or /untrack all",
    "target": "change a watch's target: /target <id> <price | -N%>",
    "history": "price history chart: /history <id> [30d|90d|1y]",
    "settings": "your settings and limits",
    "help": "this list",
    "start": "introduction",
}


def parse_target(text: str) -> TargetSpec:
    """`25`, `25.99`, `€25`, `25,99 €`, `EUR 25`, `-10%`, `stock`, or '' (any drop)."""
    text = text.strip()
    if not text:
        return TargetSpec(RuleKind.ANY_DROP)
    if text.lower() in {"stock", "restock", "instock", "in-stock"}:
        return TargetSpec(RuleKind.RESTOCK)
    if "%" in text:
        match = _PERCENT.match(text)
        if not match:
            raise UsageError(
                f"'{text}' is not a drop I understand. Write it as a minus sign, a number from "
                "1 to 99 and %, like -10%."
            )
        percent = Decimal(match.group(1).replace(",", "."))
        if not Decimal(0) < percent < Decimal(100):
            raise UsageError("A drop must be between -1% and -99%, like -10%.")
        return TargetSpec(RuleKind.DROP_PERCENT, percent=percent)
    if text.startswith("-") or text.startswith("−"):
        raise UsageError(
            f"'{text}' is a negative price. Give the price you want to pay, like 25.99, or a "
            "drop in percent, like -10%."
        )
    return _parse_price_target(text)


def _parse_price_target(text: str) -> TargetSpec:
    # price-parser knows ISO codes only in capitals ("usd 10" -> "USD 10").
    text = re.sub(r"\b[a-z]{3}\b", lambda code: code.group(0).upper(), text)
    parsed = Price.fromstring(text)
    leftover = re.sub(r"[\d\s.,'’]", "", text)
    if parsed.currency:
        leftover = leftover.replace(parsed.currency.replace(" ", ""), "", 1)
    if parsed.amount is None or leftover:
        raise UsageError(f"'{text}' is not a price I understand. {TRACK_USAGE}")
    try:
        amount = Decimal(parsed.amount)
    except InvalidOperation:
        raise UsageError(f"'{text}' is not a price I understand. {TRACK_USAGE}") from None
    if amount <= 0:
        raise UsageError("A target price must be more than zero, like 25 or 19.99.")
    if amount >= MAX_TARGET:
        raise UsageError("That target is too large. Give the price you want to pay, like 25.99.")
    currencies: tuple[str, ...] = ()
    if parsed.currency:
        symbol = parsed.currency.strip()
        if symbol in SYMBOL_CURRENCIES:
            currencies = SYMBOL_CURRENCIES[symbol]
        elif _ISO_CODE.match(symbol):
            currencies = (symbol.upper(),)
        else:
            raise UsageError(
                f"I do not know the currency '{symbol}'. Use a symbol like € or $, or a code "
                "like EUR, or leave it out to use the shop's currency."
            )
    return TargetSpec(RuleKind.TARGET, amount=amount, currencies=currencies)


def _parse_id(text: str, usage: str) -> int:
    cleaned = text.strip().lstrip("#")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise UsageError(f"'{text}' is not a watch id. {usage}")
    return int(cleaned)


def split_command(text: str) -> tuple[str, str] | None:
    """('track', 'rest of line') for '/track@PriceBot rest...' or '!track ...'; None otherwise."""
    text = text.strip()
    if not text or text[0] not in "/!":
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name or not re.fullmatch(r"[a-z_]{1,32}", name):
        return None
    return name, rest.strip()


def parse(text: str) -> Command | None:
    """A typed command for a command line; None when the text is not a command at all.

    Raises UsageError for a known command with wrong arguments, or an unknown command.
    """
    split = split_command(text)
    if split is None:
        return None
    name, rest = split
    args = rest.split()
    if name == "start":
        return Start()
    if name == "help":
        return Help()
    if name == "settings":
        return Settings()
    if name == "track":
        if not args:
            raise UsageError(f"Send the product link after /track. {TRACK_USAGE}")
        return Track(url=args[0], target=parse_target(" ".join(args[1:])))
    if name in {"watches", "list"}:
        if not args:
            return Watches()
        if len(args) == 1 and args[0].isdigit() and 0 < int(args[0]) < 10_000:
            return Watches(page=int(args[0]))
        raise UsageError(WATCHES_USAGE)
    if name == "untrack":
        if len(args) != 1:
            raise UsageError(UNTRACK_USAGE)
        if args[0].lower() == "all":
            return Untrack(None)
        return Untrack(_parse_id(args[0], UNTRACK_USAGE))
    if name == "target":
        if len(args) < 2:
            raise UsageError(TARGET_USAGE)
        spec = parse_target(" ".join(args[1:]))
        if spec.kind not in (RuleKind.TARGET, RuleKind.DROP_PERCENT):
            raise UsageError(TARGET_USAGE)
        return SetTarget(_parse_id(args[0], TARGET_USAGE), spec)
    if name == "history":
        if not args or len(args) > 2:
            raise UsageError(HISTORY_USAGE)
        period = args[1].lower() if len(args) == 2 else "30d"
        if period not in _PERIODS:
            raise UsageError(f"'{args[1]}' is not a period I know. {HISTORY_USAGE}")
        return History(_parse_id(args[0], HISTORY_USAGE), _PERIODS[period])
    raise UsageError(f"I do not know the command /{name}. Send /help to see what I can do.")
