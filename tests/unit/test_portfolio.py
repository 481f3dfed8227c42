"""Portfolio arithmetic in Decimal: values, costs, profit, stale prices, totals, conversion."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.market import RateTable
from core.market_stats import Window, mean
from core.model import ChatAddress
from core.money import Money
from core.portfolio import (
    Holding,
    ItemKind,
    MarketItem,
    MarketPrice,
    MarketStats,
    to_minor,
    totals,
    value_holding,
)

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
ITEM = MarketItem(1, ItemKind.CARD, "Black Lotus", "scryfall", "abc", "normal")
RATES = RateTable("EUR", date(2026, 1, 5), {"USD": Decimal("1.0850"), "JPY": Decimal("160")})
STALE_AFTER = timedelta(days=2)


def holding(quantity: int, cost: str | None, currency: str = "USD") -> Holding:
    unit = Money(Decimal(cost), currency) if cost is not None else None
    return Holding(1, "t:1", ChatAddress("t", "1"), 1, quantity, NOW, unit_cost=unit)


def price(amount: str, currency: str = "USD", age: timedelta = timedelta(hours=1)) -> MarketPrice:
    return MarketPrice(
        1, "scryfall", "tcgplayer", "market", Money(Decimal(amount), currency), NOW - age
    )


@pytest.mark.parametrize(
    ("quantity", "cost", "market", "value", "profit", "percent"),
    [
        (2, "100.00", "150.00", "300.00", "100.00", "50.0"),
        (3, "19.99", "9.99", "29.97", "-30.00", "-50.0"),
        (1, "0.00", "5.00", "5.00", "5.00", None),  # free: no percentage of nothing
        (5, None, "1.10", "5.50", None, None),  # cost unknown: value only
        (7, "0.33", "0.335", "2.35", "0.04", "1.7"),  # half a cent rounds up, once, at the end
    ],
)
def test_value_cost_and_profit(quantity, cost, market, value, profit, percent):
    line = value_holding(
        holding(quantity, cost), ITEM, price(market), now=NOW, stale_after=STALE_AFTER
    )
    assert line.value == Money(Decimal(value), "USD")
    assert (line.profit.amount if line.profit else None) == (Decimal(profit) if profit else None)
    assert line.profit_percent == (Decimal(percent) if percent else None)
    assert not line.stale


def test_no_market_price_is_no_value_never_zero():
    line = value_holding(holding(2, "10"), ITEM, None, now=NOW, stale_after=STALE_AFTER)
    assert (line.value, line.profit, line.cost) == (None, None, Money(Decimal("20.00"), "USD"))


def test_an_old_price_is_kept_and_marked_stale():
    old = price("120.00", age=timedelta(days=3))
    line = value_holding(holding(1, "100"), ITEM, old, now=NOW, stale_after=STALE_AFTER)
    assert line.stale and line.value == Money(Decimal("120.00"), "USD")


def test_profit_is_only_computed_in_one_currency():
    line = value_holding(
        holding(1, "100", "EUR"), ITEM, price("150"), now=NOW, stale_after=STALE_AFTER
    )
    assert line.value is not None and line.cost is not None and line.profit is None


def test_totals_per_currency_and_a_grand_total_at_the_days_rates():
    lines = [
        value_holding(holding(2, "100"), ITEM, price("150.00"), now=NOW, stale_after=STALE_AFTER),
        value_holding(
            holding(1, "50", "EUR"), ITEM, price("40.00", "EUR"), now=NOW, stale_after=STALE_AFTER
        ),
        value_holding(holding(1, None), ITEM, None, now=NOW, stale_after=STALE_AFTER),
    ]
    summed = totals(lines, "EUR", RATES)
    assert summed.value == {"USD": Decimal("300.00"), "EUR": Decimal("40.00")}
    assert summed.cost == {"USD": Decimal("200.00"), "EUR": Decimal("50.00")}
    # 300 USD / 1.085 = 276.4976... EUR; summed exactly, rounded once.
    assert summed.grand_value == Money(Decimal("316.50"), "EUR")
    assert summed.grand_cost == Money(Decimal("234.33"), "EUR")
    assert summed.rates is RATES and summed.unconverted == ()


def test_currencies_the_rates_do_not_know_are_named_not_dropped_silently():
    lines = [
        value_holding(
            holding(1, None, "XCG"), ITEM, price("10", "XCG"), now=NOW, stale_after=STALE_AFTER
        )
    ]
    summed = totals(lines, "EUR", RATES)
    assert summed.unconverted == ("XCG",) and summed.grand_value == Money(Decimal("0.00"), "EUR")


def test_without_rates_there_is_no_grand_total():
    lines = [value_holding(holding(1, "1"), ITEM, price("2"), now=NOW, stale_after=STALE_AFTER)]
    summed = totals(lines, "EUR", None)
    assert summed.grand_value is None and summed.value == {"USD": Decimal("2")}


def test_conversion_keeps_minor_units_exact():
    assert RATES.convert(Money(Decimal("100"), "EUR"), "JPY") == Money(Decimal("16000"), "JPY")
    assert RATES.convert(Money(Decimal("1"), "USD"), "EUR") == Money(Decimal("0.92"), "EUR")
    assert RATES.convert(Money(Decimal("1"), "GBP"), "EUR") is None


def test_minor_units_round_trip():
    assert to_minor(Money(Decimal("12.34"), "EUR")) == 1234
    assert to_minor(Money(Decimal("1200"), "JPY")) == 1200
    assert to_minor(Money(Decimal("1.234"), "KWD")) == 1234


def test_window_mean():
    prices = [100, 110, 90, 130]  # minor units, EUR
    assert mean(Window(4, sum(prices)), "EUR") == Decimal("1.08")  # 107.5 cents, half up
    assert mean(Window(3, 1235), "JPY") == Decimal("412")  # 411.67 yen
    assert mean(Window(0, 0), "EUR") is None


def test_deviation_is_signed_percent_from_the_30_day_mean():
    stats = MarketStats("USD", price("90"), mean_30d=Decimal("100"), observations_30d=5)
    assert stats.deviation == Decimal("-10.0")
    assert MarketStats("USD", None, mean_30d=Decimal("100")).deviation is None
