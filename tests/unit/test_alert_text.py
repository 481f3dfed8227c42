"""Tests for the alert and page-status messages in core.alert_text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.alert_text import reason_text, render_alert, render_status_change
from core.alerts import AlertEvent, EventKind
from core.errors import ExtractionError, FetchError, PricebotError
from core.model import Availability, ChatAddress, Product, Rule, RuleKind, Watch
from core.money import Money
from core.reply import Button

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
URL = "https://shop.example/p/kettle-1"
TITLE = "Steel Kettle 1.7 L"


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def make_product(title: str | None = TITLE, **fields: object) -> Product:
    return Product(id=7, url=URL, title=title, currency="EUR", price=Decimal("24"), **fields)


TARGET_25 = Rule(RuleKind.TARGET, target=eur("25"))


def make_watch(rule: Rule = TARGET_25) -> Watch:
    return Watch(
        id=31,
        owner="telegram:42",
        product_id=7,
        address=ChatAddress("telegram", "42"),
        rule=rule,
        created_at=NOW,
    )


TARGET_EVENT = AlertEvent(
    EventKind.TARGET, eur("30"), eur("24"), "the price is at or below your target €25.00"
)


def test_alert_names_title_prices_percent_rule_low_and_link() -> None:
    watch = make_watch()
    reply = render_alert(TARGET_EVENT, watch=watch, product=make_product(), low_30d=eur("22.50"))
    text = reply.text
    assert reply.blocks[0] == f"Target price reached: {TITLE}"
    assert "€30.00 → €24.00 (-20.0%)" in text
    assert "the price is at or below your target €25.00" in text
    assert watch.rule.describe() in text
    assert "Lowest in 30 days: €22.50" in text
    assert URL in text
    assert not reply.is_error


def test_alert_buttons_open_chart_snooze_stop() -> None:
    reply = render_alert(TARGET_EVENT, watch=make_watch(), product=make_product(), low_30d=None)
    assert reply.buttons == (
        Button("Open", url=URL),
        Button("Chart", action="history 31"),
        Button("Snooze 24 h", action="snooze 31"),
        Button("Stop tracking", action="untrack 31"),
    )


@pytest.mark.parametrize(
    ("event", "rule", "headline", "price_line"),
    [
        (
            AlertEvent(EventKind.DROP, eur("100"), eur("89"), "the price is 11.0% below ..."),
            Rule(RuleKind.DROP_PERCENT, percent=Decimal("10")),
            "Price drop",
            "€100.00 → €89.00 (-11.0%)",
        ),
        (
            AlertEvent(EventKind.DROP, eur("50"), eur("49.50"), "the price fell 1.0% ..."),
            Rule(RuleKind.ANY_DROP),
            "Price drop",
            "€50.00 → €49.50 (-1.0%)",
        ),
        (
            AlertEvent(EventKind.DEVIATION, eur("50"), eur("70"), "the price is 40.0% above ..."),
            Rule(RuleKind.DEVIATION, percent=Decimal("20")),
            "Price above its 30-day average",
            "€70.00 vs 30-day average €50.00 (+40.0%)",
        ),
        (
            AlertEvent(EventKind.DEVIATION, eur("50"), eur("35"), "the price is 30.0% below ..."),
            Rule(RuleKind.DEVIATION, percent=Decimal("20")),
            "Price below its 30-day average",
            "€35.00 vs 30-day average €50.00 (-30.0%)",
        ),
        (
            AlertEvent(EventKind.RESTOCK, eur("20"), eur("18"), "it is back in stock"),
            Rule(RuleKind.RESTOCK),
            "Back in stock",
            "It is back in stock: €20.00 → €18.00 (-10.0%)",
        ),
        (
            AlertEvent(EventKind.RESTOCK, eur("20"), eur("20"), "it is back in stock"),
            Rule(RuleKind.RESTOCK),
            "Back in stock",
            "It is back in stock at €20.00.",
        ),
        (
            AlertEvent(EventKind.RESTOCK, None, None, "it is back in stock"),
            Rule(RuleKind.RESTOCK),
            "Back in stock",
            "It is back in stock (price not shown).",
        ),
        (
            AlertEvent(EventKind.TARGET, None, eur("24"), "the price is at or below ..."),
            Rule(RuleKind.TARGET, target=eur("25")),
            "Target price reached",
            "Now €24.00",
        ),
    ],
    ids=[
        "drop",
        "any-drop",
        "deviation-above",
        "deviation-below",
        "restock-cheaper",
        "restock-same-price",
        "restock-no-price",
        "target-no-old",
    ],
)
def test_each_kind_has_a_short_headline_and_price_line(
    event: AlertEvent, rule: Rule, headline: str, price_line: str
) -> None:
    reply = render_alert(event, watch=make_watch(rule), product=make_product(), low_30d=None)
    assert reply.blocks[0] == f"{headline}: {TITLE}"
    assert reply.blocks[1] == price_line
    assert rule.describe() in reply.text


def test_yen_prices_have_no_minor_digits() -> None:
    event = AlertEvent(
        EventKind.DROP, Money(Decimal("12800"), "JPY"), Money(Decimal("11520"), "JPY"), "x"
    )
    reply = render_alert(
        event,
        watch=make_watch(Rule(RuleKind.ANY_DROP)),
        product=make_product(),
        low_30d=Money(Decimal("11000"), "JPY"),
    )
    assert reply.blocks[1] == "¥12,800 → ¥11,520 (-10.0%)"
    assert "Lowest in 30 days: ¥11,000" in reply.text


@pytest.mark.parametrize(
    ("low", "expected"),
    [
        ("22", "Lowest in 30 days: €22.00"),
        ("24", "Lowest in 30 days: €24.00 (this price)"),
        ("26", "Lowest in 30 days until now: €26.00 (this price is lower)"),
    ],
)
def test_thirty_day_low_says_how_this_price_compares(low: str, expected: str) -> None:
    reply = render_alert(TARGET_EVENT, watch=make_watch(), product=make_product(), low_30d=eur(low))
    assert expected in reply.blocks


def test_no_thirty_day_low_line_without_history() -> None:
    reply = render_alert(TARGET_EVENT, watch=make_watch(), product=make_product(), low_30d=None)
    assert "Lowest" not in reply.text


@pytest.mark.parametrize(
    "title",
    [
        '<b>Kettle</b> & <script>alert("x")</script>',
        "*bold* _it_ [link](https://evil.example) `code` ||spoiler|| @everyone",
    ],
    ids=["html", "markdown"],
)
def test_hostile_title_is_kept_as_given(title: str) -> None:
    reply = render_alert(
        TARGET_EVENT, watch=make_watch(), product=make_product(title), low_30d=None
    )
    assert reply.blocks[0] == f"Target price reached: {title}"


def test_long_or_multiline_title_keeps_the_headline_one_short_line() -> None:
    title = "Kettle\n  with   lid " + "x" * 300
    reply = render_alert(
        TARGET_EVENT, watch=make_watch(), product=make_product(title), low_30d=None
    )
    headline = reply.blocks[0]
    assert headline.startswith("Target price reached: Kettle with lid xxx")
    assert "\n" not in headline
    assert headline.endswith("…")
    assert len(headline) < len("Target price reached: ") + 121


def test_missing_title_falls_back_to_the_link() -> None:
    reply = render_alert(TARGET_EVENT, watch=make_watch(), product=make_product(None), low_30d=None)
    assert reply.blocks[0] == f"Target price reached: {URL}"


def test_price_alert_for_an_out_of_stock_page_says_so() -> None:
    product = make_product(availability=Availability.OUT_OF_STOCK)
    reply = render_alert(TARGET_EVENT, watch=make_watch(), product=product, low_30d=None)
    assert "out of stock" in reply.text
    in_stock = render_alert(TARGET_EVENT, watch=make_watch(), product=make_product(), low_30d=None)
    assert "out of stock" not in in_stock.text


def test_alert_survives_the_outbox_round_trip() -> None:
    reply = render_alert(TARGET_EVENT, watch=make_watch(), product=make_product(), low_30d=None)
    assert type(reply).from_dict(reply.to_dict()) == reply


BROKEN = "This page can no longer be read"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("not_found", f"{BROKEN} because the shop says it does not exist any more (404/410)."),
        ("no_price", f"{BROKEN} because I can no longer find a price on it."),
        ("blocked", f"{BROKEN} because the shop blocks my requests (403 or a captcha page)."),
        ("too_complex", f"{BROKEN} because the page is too complex to read in time."),
        ("storage", f"{BROKEN} because its readings cannot be saved."),
        (
            "the shop moved it behind a login.",
            f"{BROKEN} because the shop moved it behind a login.",
        ),
        ("The shop is closed. Come back later", f"{BROKEN}. The shop is closed. Come back later."),
    ],
    ids=["code", "extraction-code", "blocked", "too-complex", "storage", "clause", "sentence"],
)
def test_broken_page_message_says_why(reason: str, expected: str) -> None:
    reply = render_status_change(make_product(), broken=True, reason=reason)
    assert reply.blocks[0] == f"Cannot read this page any more: {TITLE}"
    assert reply.blocks[1].startswith(expected + " ")
    assert "Try again" not in reply.text  # /track advice does not belong in this message
    assert URL in reply.text
    assert reply.buttons == (Button("Open", url=URL),)


def test_page_readable_again_message() -> None:
    reply = render_status_change(make_product(), broken=False, reason="")
    assert reply.blocks[0] == f"Page readable again: {TITLE}"
    assert "can be read again" in reply.text
    assert "€24.00" in reply.text
    assert "no longer" not in reply.text


def _subclasses(cls: type) -> list[type]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _subclasses(direct)]


@pytest.mark.parametrize(
    "error",
    _subclasses(FetchError) + _subclasses(ExtractionError),
    ids=lambda error: error.__name__,
)
def test_every_reason_a_check_can_store_has_words(error: type[PricebotError]) -> None:
    """The check cycle stores the error's code; a new error class needs words here too."""
    assert reason_text(error.reason) != error.reason
