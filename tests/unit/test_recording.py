"""All-time low and high kept current point by point agree with a full read of the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.model import Availability, PricePoint, summarize
from core.recording import all_time_extended

START = datetime(2026, 1, 1, tzinfo=UTC)


def _point(index: int, price: Decimal | None, currency: str | None) -> PricePoint:
    availability = Availability.IN_STOCK if price is not None else Availability.OUT_OF_STOCK
    return PricePoint(index, 1, START + timedelta(hours=index), price, currency, availability)


readings = st.lists(
    st.tuples(
        st.one_of(st.none(), st.decimals("0.01", "999.99", places=2)),
        st.sampled_from(["EUR", "USD"]),
    ),
    min_size=1,
    max_size=40,
)


@given(readings)
def test_extended_low_and_high_match_the_whole_history(sequence: list) -> None:
    history: list[PricePoint] = []
    low = high = None
    for index, (price, currency) in enumerate(sequence):
        point = _point(index, price, currency if price is not None else None)
        last = history[-1] if history else None
        history.append(point)
        full = summarize([(p.price, p.currency) for p in history if p.price is not None])
        extended = all_time_extended(low, high, last, point)
        if extended is None:
            extended = full.low, full.high  # what record_observation reads instead
        assert extended == (full.low, full.high)
        low, high = extended


def test_history_is_read_again_on_a_change_of_currency() -> None:
    last = _point(1, Decimal("10.00"), "EUR")
    point = _point(2, Decimal("12.00"), "USD")
    assert all_time_extended(Decimal("9"), Decimal("11"), last, point) is None


def test_a_point_after_one_without_price_reads_the_history_again() -> None:
    last = _point(1, None, None)
    point = _point(2, Decimal("12.00"), "EUR")
    assert all_time_extended(Decimal("9"), Decimal("11"), last, point) is None


def test_a_new_low_in_the_same_currency_needs_no_history() -> None:
    last = _point(1, Decimal("10.00"), "EUR")
    point = _point(2, Decimal("8.50"), "EUR")
    assert all_time_extended(Decimal("9"), Decimal("11"), last, point) == (
        Decimal("8.50"),
        Decimal("11"),
    )
