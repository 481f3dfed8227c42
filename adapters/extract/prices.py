"""Price strings -> Decimal amount and ISO currency, in any common locale style."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from price_parser import Price

from adapters.extract.currencies import (
    COMMA_DECIMAL_LANGUAGES,
    DOT_DECIMAL_LANGUAGES,
    THREE_DECIMAL_CURRENCIES,
    normalise_code,
    resolve_symbol,
)
from core.money import sane_amount

# Spaces used as digit-group separators: normal, no-break, narrow no-break, thin, figure.
_GROUP_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})
# Swiss prices group with any apostrophe-like mark; price-parser only knows the ASCII one.
_APOSTROPHE_LIKE = str.maketrans({"’": "'", "ʼ": "'", "′": "'", "`": "'", "´": "'"})
_APOSTROPHES = "'’ʼ′`´"
_NUMBER = re.compile(r"\d[\d.,' ’ʼ′`´]*")
# Prices people write with a dash for zero cents: "12,-", "1.299,–".
_DASH_CENTS = re.compile(r"(\d)[.,][-–—]+")
# What may not follow the number price-parser picks: an exponent ("1e400", "1e-30": it reads
# the leading "1") or a digit separator of program code ("1_000": it reads "1"). Either way
# the text is a number written for machines, and what price-parser reads is not its value.
_NOT_A_PRICE_AFTER = re.compile(r"[eE][+\-−]?\d|_\d")
# A minus right before the number: a saving ("-5 €") or a negative amount, never a price to
# pay (price-parser drops the sign).
_MINUS_BEFORE = ("-", "−")


def checked_amount(amount: Decimal, currency: str | None) -> Decimal | None:
    """The one gate every amount read from a page goes through: `amount` rounded to the minor
    unit of `currency` when core.money.sane_amount calls it a price, else None (NaN, infinite,
    zero or less, a trillion or more, more decimals than the currency has).

    With the currency not known yet the test allows three decimals and the amount keeps the
    digits it was written with; the engine checks it again once the page's currency is known.
    """
    sane = sane_amount(amount, currency)
    if sane is None or currency is not None:
        return sane
    return amount if sane == amount else sane


@dataclass(frozen=True, slots=True)
class ParsedPrice:
    """A price read from text: the amount and, when the text or hints tell, its ISO currency."""

    amount: Decimal
    currency: str | None


def clean_text(text: str) -> str:
    """Collapses every kind of space (no-break, thin...) to one plain space."""
    return " ".join(text.translate(_GROUP_SPACES).split())


def parse_amount(
    number: str, *, currency: str | None = None, language: str | None = None
) -> Decimal | None:
    """Reads digits with group and decimal separators ("1.234,56", "1,23,456.00", "12.345").

    The decimal mark is the last of "." or "," when both appear; a mark that appears more than
    once groups digits; a single mark followed by exactly three digits groups thousands unless
    the currency really has three decimals (KWD, BHD...) or the integer part is 0. Spaces and
    apostrophes always group. `language` breaks the remaining tie (a lone "," or "." followed by
    three digits in a three-decimal currency).
    """
    text = number.strip().translate(_GROUP_SPACES)
    for mark in _APOSTROPHES:
        text = text.replace(mark, "")
    text = text.replace(" ", "").strip(".,")
    if not text or not text[0].isdigit():
        return None
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal_mark = "." if text.rfind(".") > text.rfind(",") else ","
        group_mark = "," if decimal_mark == "." else "."
        if text.count(decimal_mark) > 1:
            return None
        integer, _, fraction = text.partition(decimal_mark)
        integer = integer.replace(group_mark, "")
    elif dots > 1 or commas > 1:
        integer, fraction = text.replace(".", "").replace(",", ""), ""
    elif dots == 1 or commas == 1:
        mark = "." if dots else ","
        integer, _, fraction = text.partition(mark)
        if len(fraction) == 3 and not _three_digits_are_decimals(integer, currency, language, mark):
            integer, fraction = integer + fraction, ""
    else:
        integer, fraction = text, ""
    if not integer.isdigit() or (fraction and not fraction.isdigit()):
        return None
    try:
        return Decimal(f"{integer}.{fraction}" if fraction else integer)
    except InvalidOperation:
        return None


def _three_digits_are_decimals(
    integer: str, currency: str | None, language: str | None, mark: str
) -> bool:
    if integer.lstrip("0") == "":
        return True  # "0,500": nobody groups a leading zero
    if currency not in THREE_DECIMAL_CURRENCIES:
        return False  # three-decimal prices are so rare elsewhere that grouping is safer
    # A dinar price: "1.250" is one and a quarter, unless the page's language groups with
    # this very mark (an English page writes "1,250" for one thousand two hundred and fifty).
    return decimal_mark_for(language) in (None, mark)


def parse_price(
    text: str | None,
    *,
    currency_hint: str | None = None,
    language: str | None = None,
    url: str | None = None,
) -> ParsedPrice | None:
    """Parses "1.234,56 €", "$1,299.99", "CHF 1'299.90", "¥12,800", "Rs. 1,23,456.00"...

    `currency_hint` is an ISO code (or symbol) known from elsewhere, e.g. structured data; a
    currency written in the text wins over it only when the hint is a bare symbol. `url` is the
    shop's address: its country tells "$" in Canada from "$" in the US. None when the text holds
    no number.
    """
    if text is None:
        return None
    cleaned = _DASH_CENTS.sub(r"\1", clean_text(text)).translate(_APOSTROPHE_LIKE)
    if not cleaned or len(cleaned) > 200 or not any(ch.isdigit() for ch in cleaned):
        return None  # price-parser reads "Free" as 0; a price we track needs digits
    parsed = Price.fromstring(cleaned, currency_hint=None)
    hint_code = normalise_code(currency_hint) if currency_hint else None
    text_code = resolve_symbol(parsed.currency, url) if parsed.currency else None
    if text_code is None:
        text_code = _currency_code_in(cleaned, url)
    currency = hint_code if hint_code and len(currency_hint or "") == 3 else text_code or hint_code
    amount_text = parsed.amount_text
    if amount_text is None:
        match = _NUMBER.search(cleaned)
        amount_text = match.group(0) if match else None
    if amount_text is None or not _stands_alone(cleaned, amount_text):
        return None
    amount = parse_amount(amount_text, currency=currency, language=language)
    if amount is None:
        return None
    amount = checked_amount(amount, currency)
    if amount is None:
        return None
    return ParsedPrice(amount=amount, currency=currency)


def _stands_alone(text: str, amount_text: str) -> bool:
    """Whether the number read from `text` is the whole number written there: no exponent or
    code digit separator after it, no minus sign before it."""
    start = text.find(amount_text)
    if start < 0:
        return _NOT_A_PRICE_AFTER.search(text) is None
    if text[:start].rstrip().endswith(_MINUS_BEFORE):
        return False
    return _NOT_A_PRICE_AFTER.match(text, start + len(amount_text)) is None


_CODE_NEAR_NUMBER = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")


def _currency_code_in(text: str, url: str | None) -> str | None:
    """An ISO code or a symbol price-parser does not know ("zł" variants, "R", "kr.")."""
    for match in _CODE_NEAR_NUMBER.finditer(text):
        code = normalise_code(match.group(1))
        if code:
            return code
    for token in re.findall(r"[^\d\s.,]+", text):
        code = resolve_symbol(token, url)
        if code:
            return code
    return None


def decimal_mark_for(language: str | None) -> str | None:
    """ "," or "." as a language writes it, None when we do not know the language."""
    lang = (language or "").split("-")[0].lower()
    if lang in COMMA_DECIMAL_LANGUAGES:
        return ","
    if lang in DOT_DECIMAL_LANGUAGES:
        return "."
    return None
