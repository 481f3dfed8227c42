"""Price strings in every locale style -> exact Decimal and ISO currency."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.extract.prices import ParsedPrice, parse_amount, parse_price


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("1.234,56 €", "1234.56", "EUR"),
        ("1 234,56", "1234.56", None),
        ("1\u00a0234,56\u00a0€", "1234.56", "EUR"),
        ("1\u202f234,56 zł", "1234.56", "PLN"),
        ("$1,299.99", "1299.99", "USD"),
        ("CHF 1'299.90", "1299.90", "CHF"),
        ("CHF 1’299.90", "1299.90", "CHF"),
        ("¥12,800", "12800", "JPY"),
        ("Rs. 1,23,456.00", "123456.00", "INR"),
        ("₹1,23,456", "123456", "INR"),
        ("12.345 kr", "12345", "SEK"),
        ("R$ 1.759,99", "1759.99", "BRL"),
        ("£1,149.00", "1149.00", "GBP"),
        ("EUR 5,95", "5.95", "EUR"),
        ("US $11.19", "11.19", "USD"),
        ("131 990 ₸", "131990", "KZT"),
        ("44 890 тг.", "44890", "KZT"),
        ("12,-", "12", None),
        ("1.299,– €", "1299", "EUR"),
        ("ab 19,99 €*", "19.99", "EUR"),
        ("0,500 KD", "0.500", "KWD"),
        ("KD 1.250", "1.250", "KWD"),
        ("12 345,00 Kč", "12345.00", "CZK"),
        ("999,00 lei", "999.00", "RON"),
        ("1.234.567,89 ₽", "1234567.89", "RUB"),
        ("Price: 15.99 USD", "15.99", "USD"),
        ("CA$ 12.00", "12.00", "CAD"),
        ("NT$2,320", "2320", "TWD"),
    ],
)
def test_locale_formats(text: str, amount: str, currency: str | None) -> None:
    assert parse_price(text) == ParsedPrice(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("text", "url", "currency"),
    [
        ("$19.99", "https://www.bestbuy.ca/en-ca/product/1", "CAD"),
        ("$ 24.990", "https://www.paris.cl/x.html", "CLP"),
        ("$19.99", "https://shop.example.com/x", "USD"),
        ("12.345 kr", "https://www.elkjop.no/x", "NOK"),
        ("12.345 kr", "https://www.elgiganten.dk/x", "DKK"),
        ("¥12,800", "https://www.jd.cn/x", "CNY"),
        ("294 元", "https://www.pcstore.com.tw/x", "TWD"),
    ],
)
def test_ambiguous_symbols_resolve_by_the_shops_country(text: str, url: str, currency: str) -> None:
    parsed = parse_price(text, url=url)
    assert parsed is not None
    assert parsed.currency == currency


def test_structured_currency_hint_wins_over_a_bare_symbol() -> None:
    assert parse_price("$1,299", currency_hint="AUD") == ParsedPrice(Decimal("1299"), "AUD")


def test_three_decimal_digits_group_thousands_except_for_dinars() -> None:
    assert parse_amount("2.449", currency="ARS") == Decimal("2449")
    assert parse_amount("2.449", currency=None) == Decimal("2449")
    assert parse_amount("2.449", currency="KWD") == Decimal("2.449")
    # An English page groups with ",", even in dinars.
    assert parse_amount("1,250", currency="KWD", language="en") == Decimal("1250")


@pytest.mark.parametrize("text", ["", "Free", "Gratis", "Sold out", "—", None, "€", "1" * 250])
def test_no_number_no_price(text: str | None) -> None:
    assert parse_price(text) is None


# ----- property tests: format a Decimal in a locale's style, parse it back ---------------


def _group(integer: int, separator: str, indian: bool = False) -> str:
    digits = str(integer)
    if indian and len(digits) > 3:
        head, tail = digits[:-3], digits[-3:]
        pairs = []
        while len(head) > 2:
            pairs.insert(0, head[-2:])
            head = head[:-2]
        return separator.join([head, *pairs, tail])
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return separator.join([digits, *groups])


def _style(
    group: str, decimal: str, template: str, *, cents: bool = True, indian: bool = False
) -> Callable[[Decimal], str]:
    def render(amount: Decimal) -> str:
        whole = int(amount)
        number = _group(whole, group, indian)
        if cents:
            fraction = f"{amount:.2f}".split(".")[1]
            number = f"{number}{decimal}{fraction}"
        return template.format(number)

    return render


STYLES: dict[str, tuple[Callable[[Decimal], str], str, bool]] = {
    # name: (formatter, currency it must read, whether the style shows cents)
    "de 1.234,56 €": (_style(".", ",", "{} €"), "EUR", True),
    "fr 1 234,56 €": (_style("\u202f", ",", "{}\u00a0€"), "EUR", True),
    "pl 1 234,56 zł": (_style(" ", ",", "{} zł"), "PLN", True),
    "us $1,299.99": (_style(",", ".", "${}"), "USD", True),
    "uk £1,299.99": (_style(",", ".", "£{}"), "GBP", True),
    "ch CHF 1'299.90": (_style("'", ".", "CHF {}"), "CHF", True),
    "jp ¥12,800": (_style(",", ".", "¥{}", cents=False), "JPY", False),
    "in Rs. 1,23,456.00": (_style(",", ".", "Rs. {}", indian=True), "INR", True),
    "se 12.345 kr": (_style(".", ",", "{} kr", cents=False), "SEK", False),
    "br R$ 1.234,56": (_style(".", ",", "R$ {}"), "BRL", True),
    "nl € 1.234,56": (_style(".", ",", "€ {}"), "EUR", True),
    "cz 1 234,56 Kč": (_style("\u00a0", ",", "{} Kč"), "CZK", True),
}

amounts = st.integers(min_value=1, max_value=10**10).map(lambda cents: Decimal(cents).scaleb(-2))


@pytest.mark.parametrize("style", sorted(STYLES))
@given(amount=amounts)
def test_formatting_a_price_and_parsing_it_back_gives_the_same_value(
    style: str, amount: Decimal
) -> None:
    render, currency, shows_cents = STYLES[style]
    if not shows_cents:
        amount = amount.to_integral_value()
        if amount == 0:
            amount = Decimal(1)
    text = render(amount)
    parsed = parse_price(text)
    assert parsed is not None, text
    assert parsed.amount == amount, text
    assert parsed.currency == currency, text
