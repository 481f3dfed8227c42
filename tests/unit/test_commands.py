"""Parsing of every command form, good and bad."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import commands as cmd
from core.errors import UsageError
from core.model import RuleKind

URL = "https://shop.example/item/1"


@pytest.mark.parametrize(
    ("text", "kind", "amount", "currencies", "percent"),
    [
        ("", RuleKind.ANY_DROP, None, (), None),
        ("25", RuleKind.TARGET, Decimal("25"), (), None),
        ("25.99", RuleKind.TARGET, Decimal("25.99"), (), None),
        ("€25", RuleKind.TARGET, Decimal("25"), ("EUR",), None),
        ("25,99 €", RuleKind.TARGET, Decimal("25.99"), ("EUR",), None),
        ("£1,299.50", RuleKind.TARGET, Decimal("1299.50"), ("GBP",), None),
        ("25 EUR", RuleKind.TARGET, Decimal("25"), ("EUR",), None),
        ("usd 10", RuleKind.TARGET, Decimal("10"), ("USD",), None),
        ("-10%", RuleKind.DROP_PERCENT, None, (), Decimal("10")),
        ("-12.5%", RuleKind.DROP_PERCENT, None, (), Decimal("12.5")),
        ("stock", RuleKind.RESTOCK, None, (), None),
        ("STOCK", RuleKind.RESTOCK, None, (), None),
    ],
)
def test_track_targets(text, kind, amount, currencies, percent):
    command = cmd.parse(f"/track {URL} {text}".strip())
    assert isinstance(command, cmd.Track)
    assert command.url == URL
    assert command.target == cmd.TargetSpec(kind, amount, currencies, percent)


def test_dollar_sign_leaves_the_dollar_currency_open():
    command = cmd.parse(f"/track {URL} $19.99")
    assert isinstance(command, cmd.Track)
    assert command.target.currencies[0] == "USD"
    assert "CAD" in command.target.currencies


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/track", "Send the product link"),
        (f"/track {URL} -25", "negative price"),
        (f"/track {URL} 0", "more than zero"),
        (f"/track {URL} abc", "not a price"),
        (f"/track {URL} -0%", "between -1% and -99%"),
        (f"/track {URL} -150%", "not a drop"),
        (f"/track {URL} 10%", "not a drop"),
        (f"/track {URL} 25 XYZW", "not a price"),
        (f"/track {URL} 999999999999", "too large"),
        ("/untrack", "/untrack <id>"),
        ("/untrack abc", "not a watch id"),
        ("/untrack 1 2", "/untrack <id>"),
        ("/target", "/target <id>"),
        ("/target 3", "/target <id>"),
        ("/target x 19.99", "not a watch id"),
        ("/target 3 stock", "/target <id>"),
        ("/history", "/history <id>"),
        ("/history 3 2w", "not a period"),
        ("/watches x", "/watches"),
        ("/frobnicate", "/help"),
    ],
)
def test_bad_input_says_what_is_wrong_and_the_right_form(text, says):
    with pytest.raises(UsageError) as caught:
        cmd.parse(text)
    assert says in caught.value.user_message


def test_simple_commands():
    assert cmd.parse("/start") == cmd.Start()
    assert cmd.parse("/help") == cmd.Help()
    assert cmd.parse("/settings") == cmd.Settings()
    assert cmd.parse("/watches") == cmd.Watches(1)
    assert cmd.parse("/watches 2") == cmd.Watches(2)
    assert cmd.parse("/untrack 7") == cmd.Untrack(7)
    assert cmd.parse("/untrack #7") == cmd.Untrack(7)
    assert cmd.parse("/untrack all") == cmd.Untrack(None)
    assert cmd.parse("/untrack ALL") == cmd.Untrack(None)
    assert cmd.parse("/history 3") == cmd.History(3, 30)
    assert cmd.parse("/history 3 1y") == cmd.History(3, 365)
    assert cmd.parse("/history 3 all") == cmd.History(3, None)


def test_set_target_forms():
    assert cmd.parse("/target 3 19.99") == cmd.SetTarget(
        3, cmd.TargetSpec(RuleKind.TARGET, Decimal("19.99"))
    )
    assert cmd.parse("/target 3 -15%") == cmd.SetTarget(
        3, cmd.TargetSpec(RuleKind.DROP_PERCENT, percent=Decimal("15"))
    )


def test_bot_name_suffix_and_bang_prefix():
    assert cmd.parse("/watches@PricebotTestBot") == cmd.Watches(1)
    assert cmd.parse("!untrack 4") == cmd.Untrack(4)
    assert isinstance(cmd.parse(f"/track@PricebotTestBot {URL} 5"), cmd.Track)


def test_plain_text_is_not_a_command():
    assert cmd.parse("hello there") is None
    assert cmd.parse(URL) is None
    assert cmd.parse("") is None


def test_help_lists_every_command():
    for name in ("track", "watches", "untrack", "target", "history", "settings", "help", "start"):
        assert name in cmd.COMMAND_HELP
