"""Table-driven tests for the alert rules in core.alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core.alerts import AlertPolicy, Decision, EventKind, evaluate
from core.model import Availability, ChatAddress, PricePoint, Rule, RuleKind, Watch
from core.money import Money

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
POLICY = AlertPolicy()
IN = Availability.IN_STOCK
OUT = Availability.OUT_OF_STOCK
UNKNOWN = Availability.UNKNOWN

ANY = Rule(RuleKind.ANY_DROP)
TARGET_25 = Rule(RuleKind.TARGET, target=Money(Decimal("25"), "EUR"))
DROP_10 = Rule(RuleKind.DROP_PERCENT, percent=Decimal("10"))
STOCK = Rule(RuleKind.RESTOCK)
DEVIATION_20 = Rule(RuleKind.DEVIATION, percent=Decimal("20"))
BELOW_15 = Rule(RuleKind.BELOW_AVERAGE, percent=Decimal("15"))
ABOVE_15 = Rule(RuleKind.ABOVE_AVERAGE, percent=Decimal("15"))


def point(
    price: str | None,
    currency: str | None = "EUR",
    stock: Availability = IN,
    *,
    at: datetime = NOW,
    point_id: int = 1,
) -> PricePoint:
    return PricePoint(
        id=point_id,
        product_id=7,
        observed_at=at,
        price=None if price is None else Decimal(price),
        currency=None if price is None else currency,
        availability=stock,
    )


def make_watch(rule: Rule, **state: Any) -> Watch:
    return Watch(
        id=3,
        owner="telegram:42",
        product_id=7,
        address=ChatAddress("telegram", "42"),
        rule=rule,
        created_at=NOW - timedelta(days=10),
        **state,
    )


def run(
    watch: Watch,
    previous: PricePoint | None,
    current: PricePoint,
    *,
    avg: str | None = None,
    now: datetime = NOW,
    alerts_today: int = 0,
    policy: AlertPolicy = POLICY,
) -> Decision:
    return evaluate(
        watch,
        previous,
        current,
        avg_30d=None if avg is None else Decimal(avg),
        now=now,
        policy=policy,
        alerts_today=alerts_today,
    )


# ----- one observation at a time --------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rule: Rule
    previous: PricePoint | None
    current: PricePoint
    state: dict[str, Any] = field(default_factory=dict)
    expected: EventKind | None = None
    suppressed: str | None = None
    avg: str | None = None
    alerts_today: int = 0


BASE_100 = {"baseline_price": Decimal("100"), "baseline_currency": "EUR"}
FIRED_AT_24 = {
    "target_armed": False,
    "last_alert_price": Decimal("24"),
    "last_alert_at": NOW - timedelta(days=1),
}
DROP_FIRED_AT_90 = {
    **BASE_100,
    "target_armed": False,
    "last_alert_price": Decimal("90"),
    "last_alert_at": NOW - timedelta(days=1),
}

CASES = [
    # First observation is the baseline, whatever the rule.
    pytest.param(Case(ANY, None, point("10")), id="first-observation-any"),
    pytest.param(Case(TARGET_25, None, point("20")), id="first-observation-below-target"),
    pytest.param(Case(DROP_10, None, point("50"), BASE_100), id="first-observation-below-drop"),
    pytest.param(Case(STOCK, None, point("20")), id="first-observation-restock"),
    pytest.param(Case(TARGET_25, None, point("20", "USD")), id="first-observation-other-currency"),
    pytest.param(
        Case(DROP_10, None, point("50", "USD"), BASE_100), id="first-observation-new-currency-drop"
    ),
    pytest.param(
        Case(DEVIATION_20, None, point("50"), avg="100"), id="first-observation-deviation"
    ),
    # An observation without a price never alerts a price rule.
    pytest.param(Case(ANY, point("100"), point(None, stock=OUT)), id="no-price-any"),
    pytest.param(Case(TARGET_25, point("30"), point(None)), id="no-price-target"),
    pytest.param(Case(DROP_10, point("100"), point(None), BASE_100), id="no-price-drop"),
    pytest.param(Case(DEVIATION_20, point("100"), point(None), avg="100"), id="no-price-deviation"),
    # Target.
    pytest.param(
        Case(TARGET_25, point("30"), point("25"), expected=EventKind.TARGET), id="target-equal"
    ),
    pytest.param(
        Case(TARGET_25, point("30"), point("24.99"), expected=EventKind.TARGET), id="target-below"
    ),
    pytest.param(Case(TARGET_25, point("30"), point("25.01")), id="target-one-cent-above"),
    pytest.param(
        Case(TARGET_25, point("24"), point("23"), FIRED_AT_24),
        id="target-disarmed-small-further-drop",
    ),
    pytest.param(
        Case(TARGET_25, point("24"), point("22.81"), FIRED_AT_24),
        id="target-disarmed-just-under-5-percent",
    ),
    pytest.param(
        Case(TARGET_25, point("24"), point("22.80"), FIRED_AT_24, EventKind.TARGET),
        id="target-disarmed-5-percent-refires",
    ),
    pytest.param(Case(TARGET_25, point("24"), point("26"), FIRED_AT_24), id="target-rises-above"),
    # Drop N % below the baseline.
    pytest.param(
        Case(DROP_10, point("95"), point("90"), BASE_100, EventKind.DROP),
        id="drop-exactly-10-percent",
    ),
    pytest.param(Case(DROP_10, point("95"), point("90.01"), BASE_100), id="drop-9.99-percent"),
    pytest.param(
        Case(DROP_10, point("90"), point("85.51"), DROP_FIRED_AT_90),
        id="drop-disarmed-under-5-percent-further",
    ),
    pytest.param(
        Case(DROP_10, point("90"), point("85.50"), DROP_FIRED_AT_90, EventKind.DROP),
        id="drop-disarmed-5-percent-further-refires",
    ),
    pytest.param(
        Case(DROP_10, point("120"), point("105"), BASE_100),
        id="drop-from-previous-but-not-from-baseline",
    ),
    # Any drop: at least 1 % and at least one minor unit.
    pytest.param(Case(ANY, point("100"), point("99"), expected=EventKind.DROP), id="any-1-percent"),
    pytest.param(Case(ANY, point("100"), point("99.01")), id="any-0.99-percent"),
    pytest.param(Case(ANY, point("100"), point("101")), id="any-rise"),
    pytest.param(Case(ANY, point("100"), point("100")), id="any-unchanged"),
    pytest.param(
        Case(ANY, point("0.50"), point("0.49"), expected=EventKind.DROP),
        id="any-one-cent-is-one-minor-unit",
    ),
    pytest.param(Case(ANY, point("0.050"), point("0.045")), id="any-10-percent-but-half-a-cent"),
    pytest.param(
        Case(ANY, point("1000", "JPY"), point("990", "JPY"), expected=EventKind.DROP),
        id="any-jpy-1-percent",
    ),
    pytest.param(
        Case(ANY, point("100", "JPY"), point("99", "JPY"), expected=EventKind.DROP),
        id="any-jpy-one-yen",
    ),
    pytest.param(
        Case(ANY, point("10", "JPY"), point("9.5", "JPY")), id="any-jpy-5-percent-but-half-a-yen"
    ),
    pytest.param(
        Case(ANY, point("1.000", "KWD"), point("0.990", "KWD"), expected=EventKind.DROP),
        id="any-kwd-three-minor-digits",
    ),
    pytest.param(Case(ANY, point(None, stock=OUT), point("50")), id="any-previous-had-no-price"),
    # Restock: out of stock -> in stock, price or not; only the restock rule.
    pytest.param(
        Case(STOCK, point("20", stock=OUT), point("20"), expected=EventKind.RESTOCK), id="restock"
    ),
    pytest.param(
        Case(STOCK, point(None, stock=OUT), point(None), expected=EventKind.RESTOCK),
        id="restock-without-price",
    ),
    pytest.param(Case(STOCK, point("20"), point("20")), id="restock-in-to-in"),
    pytest.param(Case(STOCK, point("20", stock=UNKNOWN), point("20")), id="restock-unknown-to-in"),
    pytest.param(Case(STOCK, point("20"), point("20", stock=OUT)), id="restock-in-to-out"),
    pytest.param(Case(STOCK, point("30"), point("10")), id="restock-rule-ignores-price-drop"),
    pytest.param(Case(ANY, point("20", stock=OUT), point("20")), id="any-rule-ignores-restock"),
    pytest.param(
        Case(TARGET_25, point("30", stock=OUT), point("30")), id="target-rule-ignores-restock"
    ),
    # Deviation from the 30-day average, both ways.
    pytest.param(
        Case(DEVIATION_20, point("100"), point("80"), avg="100", expected=EventKind.DEVIATION),
        id="deviation-20-percent-below",
    ),
    pytest.param(
        Case(DEVIATION_20, point("100"), point("120"), avg="100", expected=EventKind.DEVIATION),
        id="deviation-20-percent-above",
    ),
    pytest.param(
        Case(DEVIATION_20, point("100"), point("80.01"), avg="100"), id="deviation-19.99-percent"
    ),
    pytest.param(Case(DEVIATION_20, point("100"), point("50")), id="deviation-no-average"),
    # One way only: avg -15% hears about prices below the average, avg +15% above.
    pytest.param(
        Case(BELOW_15, point("100"), point("85"), avg="100", expected=EventKind.DEVIATION),
        id="below-average-15-percent",
    ),
    pytest.param(
        Case(BELOW_15, point("100"), point("130"), avg="100"), id="below-rule-ignores-above"
    ),
    pytest.param(
        Case(ABOVE_15, point("100"), point("115"), avg="100", expected=EventKind.DEVIATION),
        id="above-average-15-percent",
    ),
    pytest.param(
        Case(ABOVE_15, point("100"), point("60"), avg="100"), id="above-rule-ignores-below"
    ),
    pytest.param(
        Case(DEVIATION_20, point("80"), point("70"), {"target_armed": False}, avg="100"),
        id="deviation-disarmed-no-refire",
    ),
    # Currency changes are never compared across currencies.
    pytest.param(
        Case(ANY, point("100"), point("50", "USD"), suppressed="currency changed"),
        id="currency-any",
    ),
    pytest.param(
        Case(TARGET_25, point("30"), point("20", "USD"), suppressed="currency changed"),
        id="currency-target",
    ),
    pytest.param(
        Case(DROP_10, point("100"), point("50", "USD"), BASE_100, suppressed="currency changed"),
        id="currency-drop",
    ),
    pytest.param(
        Case(
            DEVIATION_20, point("100"), point("50", "USD"), avg="100", suppressed="currency changed"
        ),
        id="currency-deviation",
    ),
    # The target is compared with the target only: back in its currency, it fires.
    pytest.param(
        Case(TARGET_25, point("30", "USD"), point("20"), expected=EventKind.TARGET),
        id="currency-back-to-target-currency",
    ),
    # Restock compares no prices, so a currency change does not hide it.
    pytest.param(
        Case(STOCK, point("20", stock=OUT), point("25", "USD"), expected=EventKind.RESTOCK),
        id="currency-restock",
    ),
    # Anti-spam.
    pytest.param(
        Case(
            TARGET_25,
            point("30"),
            point("20"),
            {"last_alert_at": NOW - timedelta(hours=5, minutes=59)},
            suppressed="cooldown",
        ),
        id="cooldown-active",
    ),
    pytest.param(
        Case(
            TARGET_25,
            point("30"),
            point("20"),
            {"last_alert_at": NOW - timedelta(hours=6)},
            EventKind.TARGET,
        ),
        id="cooldown-just-over",
    ),
    pytest.param(
        Case(
            TARGET_25,
            point("30"),
            point("20"),
            {"snoozed_until": NOW + timedelta(minutes=1)},
            suppressed="snoozed",
        ),
        id="snoozed",
    ),
    pytest.param(
        Case(TARGET_25, point("30"), point("20"), {"snoozed_until": NOW}, EventKind.TARGET),
        id="snooze-ends-now",
    ),
    pytest.param(
        Case(
            TARGET_25,
            point("30"),
            point("20"),
            {"snoozed_until": NOW - timedelta(hours=1)},
            EventKind.TARGET,
        ),
        id="snooze-expired",
    ),
    pytest.param(
        Case(TARGET_25, point("30"), point("29"), {"snoozed_until": NOW + timedelta(hours=1)}),
        id="snoozed-but-nothing-to-say",
    ),
    pytest.param(
        Case(TARGET_25, point("30"), point("20"), alerts_today=20, suppressed="daily cap"),
        id="daily-cap-reached",
    ),
    pytest.param(
        Case(TARGET_25, point("30"), point("20"), alerts_today=19, expected=EventKind.TARGET),
        id="daily-cap-last-one",
    ),
    pytest.param(
        Case(
            STOCK,
            point("20", stock=OUT),
            point("20"),
            {"last_alert_at": NOW - timedelta(minutes=30)},
            suppressed="cooldown",
        ),
        id="restock-in-cooldown",
    ),
    pytest.param(Case(TARGET_25, point("30"), point("20"), {"active": False}), id="inactive"),
    pytest.param(
        Case(STOCK, point("20", stock=OUT), point("20"), {"active": False}), id="inactive-restock"
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_one_observation(case: Case) -> None:
    watch = make_watch(case.rule, **case.state)
    decision = run(watch, case.previous, case.current, avg=case.avg, alerts_today=case.alerts_today)
    assert (decision.event.kind if decision.event else None) == case.expected
    assert decision.suppressed == case.suppressed


# ----- how the watch changes ------------------------------------------------------------


def test_first_observation_sets_the_baseline() -> None:
    decision = run(make_watch(DROP_10), None, point("19.99"))
    assert (decision.watch.baseline_price, decision.watch.baseline_currency) == (
        Decimal("19.99"),
        "EUR",
    )


def test_an_existing_baseline_is_kept() -> None:
    decision = run(make_watch(DROP_10, **BASE_100), point("95"), point("94"))
    assert decision.watch.baseline_price == Decimal("100")


def test_first_observation_without_price_leaves_the_baseline_unset() -> None:
    decision = run(make_watch(DROP_10), None, point(None, stock=OUT))
    assert decision.watch.baseline_price is None
    assert decision.watch.baseline_currency is None


def test_firing_records_the_alert_and_disarms() -> None:
    watch = make_watch(TARGET_25)
    decision = run(watch, point("30"), point("24"))
    assert decision.event is not None
    assert decision.watch.last_alert_price == Decimal("24")
    assert decision.watch.last_alert_at == NOW
    assert decision.watch.last_alert_kind == EventKind.TARGET
    assert decision.watch.target_armed is False
    assert watch.target_armed is True and watch.last_alert_at is None  # input left untouched


@pytest.mark.parametrize(
    ("state", "alerts_today", "suppressed"),
    [
        (
            {"last_alert_at": NOW - timedelta(hours=1), "last_alert_price": Decimal("40")},
            0,
            "cooldown",
        ),
        ({"snoozed_until": NOW + timedelta(hours=3)}, 0, "snoozed"),
        ({}, 20, "daily cap"),
    ],
    ids=["cooldown", "snoozed", "daily-cap"],
)
def test_suppressed_event_does_not_advance_the_alert_state(
    state: dict[str, Any], alerts_today: int, suppressed: str
) -> None:
    watch = make_watch(TARGET_25, **state)
    decision = run(watch, point("30"), point("24"), alerts_today=alerts_today)
    assert decision.event is None
    assert decision.suppressed == suppressed
    assert decision.watch.target_armed is True
    assert decision.watch.last_alert_price == watch.last_alert_price
    assert decision.watch.last_alert_at == watch.last_alert_at
    assert decision.watch.last_alert_kind is None


def test_rising_above_target_rearms_even_while_snoozed() -> None:
    watch = make_watch(TARGET_25, **FIRED_AT_24, snoozed_until=NOW + timedelta(hours=3))
    decision = run(watch, point("24"), point("26"))
    assert decision.watch.target_armed is True
    assert decision.suppressed is None


def test_currency_change_rebaselines_and_rearms_a_drop_rule() -> None:
    watch = make_watch(DROP_10, **DROP_FIRED_AT_90)
    decision = run(watch, point("90"), point("110", "USD"))
    assert decision.suppressed == "currency changed"
    assert (decision.watch.baseline_price, decision.watch.baseline_currency) == (
        Decimal("110"),
        "USD",
    )
    assert decision.watch.target_armed is True


def test_inactive_watch_is_returned_unchanged() -> None:
    watch = make_watch(DROP_10, active=False)
    decision = run(watch, None, point("10"))
    assert decision.watch == watch
    assert decision.watch.baseline_price is None


@pytest.mark.parametrize(
    ("rule", "state", "previous", "current", "avg", "old", "new"),
    [
        (TARGET_25, {}, point("30"), point("24"), None, "30", "24"),
        (TARGET_25, FIRED_AT_24, point("24"), point("22"), None, "24", "22"),
        (DROP_10, BASE_100, point("95"), point("89"), None, "100", "89"),
        (ANY, {}, point("50"), point("45"), None, "50", "45"),
        (DEVIATION_20, {}, point("60"), point("70"), "50", "50", "70"),
        (STOCK, {}, point("20", stock=OUT), point("18"), None, "20", "18"),
    ],
    ids=["target", "target-refire", "drop", "any", "deviation", "restock"],
)
def test_event_carries_what_was_compared(
    rule: Rule,
    state: dict[str, Any],
    previous: PricePoint,
    current: PricePoint,
    avg: str | None,
    old: str,
    new: str,
) -> None:
    decision = run(make_watch(rule, **state), previous, current, avg=avg)
    assert decision.event is not None
    assert decision.event.old == Money(Decimal(old), "EUR")
    assert decision.event.new == Money(Decimal(new), "EUR")
    assert decision.event.reason  # plain text for the message


def test_target_reason_names_the_target() -> None:
    decision = run(make_watch(TARGET_25), point("30"), point("24"))
    assert decision.event is not None
    assert decision.event.reason == "the price is at or below your target €25.00"


def test_restock_without_a_price_has_no_new_price() -> None:
    decision = run(make_watch(STOCK), point(None, stock=OUT), point(None))
    assert decision.event is not None
    assert decision.event.new is None
    assert decision.event.reason == "it is back in stock"


# ----- timelines: points fed one after another ------------------------------------------

Step = tuple[Any, ...]  # (hours after start, price, currency, availability[, avg_30d])


def run_timeline(
    rule: Rule,
    steps: list[Step],
    *,
    policy: AlertPolicy = POLICY,
    **state: Any,
) -> tuple[list[tuple[EventKind, str | None]], list[str | None]]:
    """Feeds the points through evaluate as the check cycle would, persisting the watch and
    counting each day's alerts; returns the fired (kind, price) list and each suppression."""
    watch = make_watch(rule, **state)
    previous: PricePoint | None = None
    fired: list[tuple[EventKind, str | None]] = []
    suppressed: list[str | None] = []
    alerts_by_day: dict[object, int] = {}
    for index, (hours, price, currency, stock, *rest) in enumerate(steps):
        at = NOW + timedelta(hours=hours)
        current = point(price, currency, stock, at=at, point_id=index + 1)
        decision = evaluate(
            watch,
            previous,
            current,
            avg_30d=Decimal(rest[0]) if rest else None,
            now=at,
            policy=policy,
            alerts_today=alerts_by_day.get(at.date(), 0),
        )
        if decision.event is not None:
            new = decision.event.new
            fired.append((decision.event.kind, None if new is None else str(new.amount)))
            alerts_by_day[at.date()] = alerts_by_day.get(at.date(), 0) + 1
        suppressed.append(decision.suppressed)
        watch, previous = decision.watch, current
    return fired, suppressed


T, D, R, V = EventKind.TARGET, EventKind.DROP, EventKind.RESTOCK, EventKind.DEVIATION


def timeline(
    rule: Rule,
    steps: list[Step],
    expected: list[tuple[EventKind, str | None]],
    *,
    id: str,
    state: dict[str, Any] | None = None,
    policy: AlertPolicy = POLICY,
) -> Any:
    return pytest.param(rule, steps, expected, state or {}, policy, id=id)


# fmt: off
TIMELINES = [
    timeline(
        TARGET_25,
        [(0, "30", "EUR", IN), (7, "24", "EUR", IN), (14, "23", "EUR", IN),
         (21, "22.80", "EUR", IN), (28, "22", "EUR", IN), (35, "26", "EUR", IN),
         (42, "25", "EUR", IN)],
        [(T, "24"), (T, "22.80"), (T, "25")],
        id="target-fires-once-refires-on-5-percent-rearms-above",
    ),
    timeline(
        TARGET_25,
        [(0, "30", "EUR", IN), (7, "24", "EUR", IN), (14, "24", "EUR", IN),
         (38, "24", "EUR", IN), (45, "24.50", "EUR", IN), (52, "23.50", "EUR", IN)],
        [(T, "24")],
        id="target-heartbeats-and-wiggles-below-target-stay-quiet",
    ),
    timeline(
        TARGET_25,
        [(0, "20", "EUR", IN), (7, "20", "EUR", IN), (14, "19.01", "EUR", IN),
         (21, "19", "EUR", IN), (28, "18.50", "EUR", IN)],
        [(T, "19")],
        id="target-already-met-when-tracking-starts-alerts-only-5-percent-lower",
    ),
    timeline(
        TARGET_25,
        [(0, "30", "EUR", IN), (1, "24", "EUR", IN), (2, "26", "EUR", IN), (3, "24", "EUR", IN),
         (8, "24", "EUR", IN)],
        [(T, "24"), (T, "24")],
        id="target-held-back-by-cooldown-stays-armed-and-fires-after",
    ),
    timeline(
        TARGET_25,
        [(0, "30", "EUR", IN), (7, "24", "EUR", IN), (8, "20", "EUR", IN), (14, "20", "EUR", IN)],
        [(T, "24"), (T, "20")],
        id="target-refire-held-back-by-cooldown-fires-at-next-point",
    ),
    timeline(
        Rule(RuleKind.TARGET, target=Money(Decimal("12000"), "JPY")),
        [(0, "12800", "JPY", IN), (7, "12000", "JPY", IN), (14, "11401", "JPY", IN),
         (21, "11400", "JPY", IN)],
        [(T, "12000"), (T, "11400")],
        id="target-jpy",
    ),
    timeline(
        DROP_10,
        [(0, "100", "EUR", IN), (7, "95", "EUR", IN), (14, "90", "EUR", IN),
         (21, "86", "EUR", IN), (28, "85.50", "EUR", IN), (35, "88", "EUR", IN),
         (42, "91", "EUR", IN), (49, "89", "EUR", IN)],
        [(D, "90"), (D, "85.50"), (D, "89")],
        id="drop-fires-once-refires-on-5-percent-rearms-above-threshold",
    ),
    timeline(
        DROP_10,
        [(0, "100", "EUR", IN), (7, "95", "EUR", IN), (14, "110", "USD", IN),
         (21, "100", "USD", IN), (28, "99", "USD", IN), (35, "90", "EUR", IN),
         (42, "80", "EUR", IN)],
        [(D, "99"), (D, "80")],
        id="drop-rebaselines-on-each-currency-change",
    ),
    timeline(
        ANY,
        [(0, "100", "EUR", IN), (7, "99.50", "EUR", IN), (14, "99", "EUR", IN),
         (21, "97", "EUR", IN), (28, "98", "EUR", IN), (35, "97", "EUR", IN),
         (36, "90", "EUR", IN), (37, "89.99", "EUR", IN)],
        [(D, "97"), (D, "97")],
        id="any-drop-small-steps-quiet-cooldown-holds-quick-repeats",
    ),
    timeline(
        ANY,
        [(0, "100", "EUR", IN), (7, "90", "USD", IN), (14, "80", "USD", IN),
         (21, "70", "EUR", IN)],
        [(D, "80")],
        id="any-drop-currency-change-not-compared",
    ),
    timeline(
        STOCK,
        [(0, "20", "EUR", IN), (0.5, "20", "EUR", OUT), (1, "20", "EUR", IN),
         (1.5, "20", "EUR", OUT), (2, "20", "EUR", IN), (3, None, None, OUT),
         (4, "21", "EUR", IN), (9, "21", "EUR", OUT), (10, "21", "EUR", IN)],
        [(R, "20"), (R, "21")],
        id="restock-flapping-alerts-once-per-cooldown",
    ),
    timeline(
        STOCK,
        [(0, None, None, OUT), (1, None, None, UNKNOWN), (2, "15", "EUR", IN),
         (3, None, None, OUT), (10, None, None, IN)],
        [(R, None)],
        id="restock-needs-out-then-in-directly",
    ),
    timeline(
        DEVIATION_20,
        [(0, "100", "EUR", IN, "100"), (7, "80", "EUR", IN, "100"), (14, "70", "EUR", IN, "95"),
         (21, "85", "EUR", IN, "95"), (28, "125", "EUR", IN, "100"), (35, "79", "EUR", IN, "100"),
         (42, "100", "EUR", IN, "100"), (49, "79", "EUR", IN, "100"), (56, "70", "EUR", IN)],
        [(V, "80"), (V, "125"), (V, "79")],
        id="deviation-once-per-excursion-rearms-within-band",
    ),
    timeline(
        TARGET_25,
        [(0, "30", "EUR", IN), (1, "24", "EUR", IN), (20, "23", "EUR", IN),
         (25, "23", "EUR", IN)],
        [(T, "23")],
        state={"snoozed_until": NOW + timedelta(hours=24)},
        id="snooze-silences-until-it-ends",
    ),
    timeline(
        ANY,
        [(0, "100", "EUR", IN), (1, "90", "EUR", IN), (2, "80", "EUR", IN),
         (3, "70", "EUR", IN), (25, "60", "EUR", IN)],
        [(D, "90"), (D, "80"), (D, "60")],
        policy=AlertPolicy(cooldown=timedelta(0), daily_cap=2),
        id="daily-cap-per-day",
    ),
]
# fmt: on


@pytest.mark.parametrize(("rule", "steps", "expected", "state", "policy"), TIMELINES)
def test_timeline(
    rule: Rule,
    steps: list[Step],
    expected: list[tuple[EventKind, str | None]],
    state: dict[str, Any],
    policy: AlertPolicy,
) -> None:
    fired, _ = run_timeline(rule, steps, policy=policy, **state)
    assert fired == expected


def test_timeline_reports_why_events_were_held_back() -> None:
    steps = [
        (0, "30", "EUR", IN),
        (1, "24", "EUR", IN),
        (2, "26", "EUR", IN),
        (3, "24", "EUR", IN),
        (4, "20", "USD", IN),
    ]
    fired, suppressed = run_timeline(TARGET_25, steps)
    assert fired == [(T, "24")]
    assert suppressed == [None, None, None, "cooldown", "currency changed"]


def test_policy_thresholds_are_configurable() -> None:
    strict = AlertPolicy(min_change_percent=Decimal("5"), refire_drop_percent=Decimal("10"))
    assert run(make_watch(ANY), point("100"), point("96"), policy=strict).event is None
    assert run(make_watch(ANY), point("100"), point("95"), policy=strict).event is not None
    disarmed = make_watch(TARGET_25, **FIRED_AT_24)
    assert run(disarmed, point("24"), point("21.61"), policy=strict).event is None
    assert run(disarmed, point("24"), point("21.60"), policy=strict).event is not None


def test_no_floats_anywhere_in_a_decision() -> None:
    decision = run(make_watch(DEVIATION_20), point("60"), point("70"), avg="50.3333")
    assert decision.event is not None
    for money in (decision.event.old, decision.event.new):
        assert money is not None and isinstance(money.amount, Decimal)
    assert isinstance(decision.watch.last_alert_price, Decimal)
