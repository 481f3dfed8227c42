"""The command registry: parsing every command form, good and bad, and the specs it holds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.chat.catalog import build_registry
from core.chat.params import TargetSpec
from core.chat.registry import CommandFamily, Param, Registry, UnknownCommand
from core.errors import UsageError
from core.model import ChatKind, RuleKind
from core.reply import Reply

URL = "https://shop.example/item/1"
REGISTRY = build_registry()


def args(text: str) -> dict:
    invocation = REGISTRY.parse(text)
    assert invocation is not None
    return invocation.args


@pytest.mark.parametrize(
    ("text", "kind", "amount", "currencies", "percent"),
    [
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
    parsed = args(f"/track {URL} {text}")
    assert parsed["link"] == URL
    assert parsed["target"] == TargetSpec(kind, amount, currencies, percent)


def test_no_target_is_any_drop_and_remembered_as_not_given():
    target = args(f"/track {URL}")["target"]
    assert target.kind is RuleKind.ANY_DROP and not target.given


def test_dollar_sign_leaves_the_dollar_currency_open():
    target = args(f"/track {URL} $19.99")["target"]
    assert target.currencies[0] == "USD"
    assert "CAD" in target.currencies


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/track", "The product page's link is missing. Use: /track <link> [target]"),
        (f"/track {URL} -25", "negative price"),
        (f"/track {URL} 0", "more than zero"),
        (f"/track {URL} abc", "'abc' is not a price"),
        (f"/track {URL} 1e10", "'1e10' is not a price"),
        (f"/track {URL} -0%", "between -1% and -99%"),
        (f"/track {URL} -150%", "not a drop"),
        (f"/track {URL} 10%", "not a drop"),
        (f"/track {URL} 25 XYZW", "not a price"),
        (f"/track {URL} 999999999999", "too large"),
        ("/untrack", "Use: /untrack <watch>"),
        ("/untrack abc", "not a watch id"),
        ("/untrack 1 2", "more than /untrack takes"),
        ("/target", "Use: /target <watch> <target>"),
        ("/target 3", "Use: /target <watch> <target>"),
        ("/target x 19.99", "not a watch id"),
        ("/target 3 stock", "neither a price nor a drop"),
        ("/target 3 1e10", "Use: /target <watch>"),
        ("/history", "Use: /history <watch>"),
        ("/history 3 2w", "'2w' is not one of"),
        ("/snooze 3 1000", "from 1 to 720"),
        ("/watches x", "not a page number"),
    ],
)
def test_bad_input_says_what_is_wrong_and_the_right_form(text, says):
    with pytest.raises(UsageError) as caught:
        REGISTRY.parse(text)
    assert says in caught.value.user_message


def test_an_unknown_command_is_its_own_error():
    with pytest.raises(UnknownCommand) as caught:
        REGISTRY.parse("/frobnicate now")
    assert caught.value.name == "frobnicate" and "/help" in caught.value.user_message


def test_simple_commands():
    assert args("/watches") == {"page": 1}
    assert args("/list 2") == {"page": 2}
    assert args("/untrack 7") == {"watch": 7}
    assert args("/untrack #7") == {"watch": 7}
    assert args("/untrack all") == {"watch": None}
    assert args("/untrack ALL") == {"watch": None}
    assert args("/history 3") == {"watch": 3, "period": 30}
    assert args("/history 3 1y") == {"watch": 3, "period": 365}
    assert args("/history 3 all") == {"watch": 3, "period": None}
    assert args("/snooze 3") == {"watch": 3, "hours": 24}
    assert args("/snooze 3 8h") == {"watch": 3, "hours": 8}
    assert args("/selector 3 div.price > span") == {"watch": 3, "selector": "div.price > span"}
    assert args("/selector 3 off") == {"watch": 3, "selector": None}


def test_set_target_forms():
    assert args("/target 3 19.99")["target"] == TargetSpec(RuleKind.TARGET, Decimal("19.99"))
    assert args("/target 3 -15%")["target"] == TargetSpec(
        RuleKind.DROP_PERCENT, percent=Decimal("15")
    )


def test_bot_name_suffix_and_bang_prefix():
    assert args("/watches@PricebotTestBot") == {"page": 1}
    assert args("!untrack 4") == {"watch": 4}
    assert args(f"/track@PricebotTestBot {URL} 5")["link"] == URL


def test_plain_text_is_not_a_command():
    assert REGISTRY.parse("hello there") is None
    assert REGISTRY.parse(URL) is None
    assert REGISTRY.parse("") is None


def test_buttons_are_command_lines_and_older_verbs_still_work():
    for action, name, expected in [
        ("untrack 12", "untrack", {"watch": 12}),
        ("stop:12", "untrack", {"watch": 12}),
        ("snooze:12", "snooze", {"watch": 12, "hours": 24}),
        ("chart:12", "history", {"watch": 12, "period": 30}),
        ("page:watches:2", "watches", {"page": 2}),
        ("track:abc", "offer", {"token": "abc"}),
    ]:
        invocation = REGISTRY.action(action)
        assert invocation is not None and invocation.spec.name == name
        assert invocation.args == expected
    assert REGISTRY.action("delete:1") is None
    assert REGISTRY.action("") is None


def test_named_options_end_in_the_same_typed_values_as_text():
    spec = REGISTRY.get("track")
    assert spec is not None
    from_options = spec.bind_options({"link": URL, "target": "€25"})
    assert from_options == args(f"/track {URL} €25")
    with pytest.raises(UsageError):
        spec.bind_options({"link": URL, "colour": "red"})


def test_every_spec_has_help_parameters_and_fits_the_platforms():
    for spec in REGISTRY:
        assert spec.summary and len(spec.summary) <= 100, spec.name
        assert spec.help.startswith(spec.summary)
        assert len(spec.params) <= 25
        for param in spec.params:
            assert param.description and len(param.description) <= 100
            assert param.kind in {"string", "integer", "number"}
    reading = {spec.name for spec in REGISTRY if spec.reads_page}
    assert reading == {"track", "offer", "selector", "holdings add"}
    assert [spec.name for spec in REGISTRY.visible(ChatKind.GROUP)][:3] == [
        "track",
        "selector",
        "watches",
    ]


def test_a_new_command_is_one_function_and_its_spec():
    family = CommandFamily("greetings")

    @family.command(params=(Param("name", "Who to greet", required=False, default="you"),))
    async def hello(call) -> Reply:  # type: ignore[no-untyped-def]
        """Say hello."""
        return Reply.say("hello")

    registry = Registry([family])
    invocation = registry.parse("/hello world")
    assert invocation is not None and invocation.args == {"name": "world"}
    assert registry.get("hello").summary == "Say hello."


def test_registering_a_name_twice_or_a_bad_name_is_refused():
    family = CommandFamily("broken")

    async def twice(call) -> Reply:  # type: ignore[no-untyped-def]
        """Twice."""
        return Reply.say("")

    family.command("twice")(twice)
    family.command("twice")(twice)
    with pytest.raises(ValueError, match="twice"):
        Registry([family])
    bad = CommandFamily("bad")
    bad.command("Bad-Name")(twice)
    with pytest.raises(ValueError, match="bad command name"):
        Registry([bad])
