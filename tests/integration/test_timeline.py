"""Days of prices and stock on a local shop, with a fake clock: exactly the expected alerts.

Real SQLite file, real fetcher and extractor against the loopback shop, a recording notifier.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.demo_shop import DemoShop, ShopItem
from bot.runtime import Runtime
from bot.settings import load_settings
from core.model import ChatAddress, ChatContext, Rule, RuleKind, UserRef
from tests.fakes.clock import FakeClock
from tests.fakes.notifier import RecordingNotifier


def ctx(name: str) -> ChatContext:
    return ChatContext(UserRef("test", name, name), ChatAddress("test", f"chat-{name}"))


HEADLINES = {
    "Target price reached": "target",
    "Price drop": "drop",
    "Back in stock": "restock",
    "Price above": "deviation",
    "Price below": "deviation",
}


def kind_of(text: str) -> str:
    for headline, kind in HEADLINES.items():
        if text.startswith(headline):
            return kind
    if "can no longer be read" in text or "cannot be read" in text:
        return "broken"
    if "can be read again" in text or "readable again" in text:
        return "recovered"
    return f"? {text[:40]}"


@pytest.fixture
def shop():
    shop = DemoShop(
        {
            "kettle": ShopItem("kettle.html", Decimal("49.90")),
            "headphones": ShopItem("headphones.html", Decimal("129.00")),
            "lamp": ShopItem("lamp.html", Decimal("89.99"), in_stock=False),
        }
    )
    shop.start()
    yield shop
    shop.stop()
    shop.stop()


async def test_scripted_timeline_gives_exactly_the_expected_alerts(shop, tmp_path):
    clock = FakeClock()
    notifier = RecordingNotifier()
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'timeline.db'}",
        allow_private_hosts=True,
        per_host_min_gap=0,
        check_interval=3600,
    )
    runtime = Runtime(settings, clock=clock, notifiers={"test": notifier})
    dispatcher = runtime.dispatcher
    chat_of = {"ann": "target", "bob": "any", "cat": "drop10", "dan": "stock", "eve": "dev"}

    async def step(hours: float, **changes: object) -> list[tuple[str, str]]:
        for slug, value in changes.items():
            if value is None:
                continue
            if value == "in":
                shop.set_stock(slug, True)
            elif value == "out":
                shop.set_stock(slug, False)
            elif value == "gone":
                shop.items.pop(slug)
            elif isinstance(value, ShopItem):
                shop.items[slug] = value
            else:
                shop.set_price(slug, Decimal(str(value)))
        clock.advance(hours=hours)
        await runtime.check_once()
        before = len(notifier.sent)
        await runtime.deliver_once()
        return sorted(
            (chat_of[s.address.chat_id.removeprefix("chat-")], kind_of(s.reply.text))
            for s in notifier.sent[before:]
        )

    try:
        await runtime.migrate_if_sqlite()
        for name, text in [
            ("ann", f"/track {shop.url('kettle')} 45"),
            ("bob", f"/track {shop.url('kettle')}"),
            ("cat", f"/track {shop.url('headphones')} -10%"),
            ("dan", f"/track {shop.url('lamp')} stock"),
            # Eve's alerts when the price strays 15 % either way from its 30-day average.
            ("eve", f"/track {shop.url('headphones')} avg ±15%"),
        ]:
            reply = await dispatcher.handle_text(ctx(name), text)
            assert not reply.is_error, reply.text
        async with runtime.uow_factory() as uow:
            [eve] = await uow.watches.list_in_chat(ctx("eve").address)
        assert eve.rule == Rule(RuleKind.DEVIATION, percent=Decimal(15))

        # First observation was the baseline: a check with nothing changed says nothing.
        assert await step(1.5) == []
        # Kettle -5.8 %: any-drop fires, the €45 target does not.
        assert await step(8, kettle="47.00") == [("any", "drop")]
        # Kettle €44: target reached and any-drop; headphones -7 % is not yet -10 %.
        assert await step(8, kettle="44.00", headphones="120.00") == [
            ("any", "drop"),
            ("target", "target"),
        ]
        # Under 1 %: nothing. The lamp comes back in stock: restock.
        assert await step(8, kettle="43.90", lamp="in") == [("stock", "restock")]
        # Stock flapping within the cool-down alerts once.
        assert await step(1.5, lamp="out") == []
        assert await step(1.5, lamp="in") == []
        # A further drop of 5 % below the alerted €44 fires the target again; headphones now
        # -10.9 % from the start.
        assert await step(8, kettle="41.00", headphones="115.00") == [
            ("any", "drop"),
            ("drop10", "drop"),
            ("target", "target"),
        ]
        # Back above the target re-arms it, without an alert; a rise is no drop.
        assert await step(8, kettle="50.00") == []
        assert await step(8, kettle="44.50") == [("any", "drop"), ("target", "target")]
        # Within the 6 h cool-down a bigger drop is held back...
        assert await step(1.5, kettle="40.00") == []
        # ... and with nothing changed no new price point is stored, so nothing fires...
        assert await step(8) == []
        # ... until the daily heartbeat point re-evaluates the held-back target drop.
        assert await step(24) == [("target", "target")]
        # Headphones crash to £90: far below their 30-day average, and 5 % under the last
        # drop alert.
        assert await step(8, headphones="90.00") == [("dev", "deviation"), ("drop10", "drop")]
        # Snoozed watches stay silent until the snooze ends.
        async with runtime.uow_factory() as uow:
            [bobs] = await uow.watches.list_in_chat(ctx("bob").address)
        snoozed = await dispatcher.handle_action(ctx("bob"), f"snooze:{bobs.id}")
        assert "Snoozed" in snoozed.text
        assert await step(8, kettle="39.00") == []
        # The lamp page disappears: five failed checks (with backoff) mark it broken, and its
        # watcher hears once; failures themselves never alert.
        results = [await step(27, lamp="gone" if n == 0 else None) for n in range(6)]
        assert [r for r in results if r] == [[("stock", "broken")]]
        # It comes back: the watcher hears it can be read again.
        back = ShopItem("lamp.html", Decimal("89.99"), in_stock=True)
        assert await step(27, lamp=back) == [("stock", "recovered")]
        # Bob's snooze is over: the next drop reaches him.
        assert await step(25, kettle="35.00") == [("any", "drop"), ("target", "target")]
        # Nothing was delivered twice.
        keys = [s.key for s in notifier.sent]
        assert len(keys) == len(set(keys))
    finally:
        await runtime.close()
