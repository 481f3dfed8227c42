"""A thousand users tracking one page cost one fetch per interval, and each gets their alert."""

from __future__ import annotations

from decimal import Decimal

from bot.runtime import Runtime
from bot.settings import load_settings
from core.model import ChatAddress, ChatContext, UserRef
from tests.fakes.clock import FakeClock

USERS = 1000


async def test_a_thousand_trackers_one_fetch_per_interval(tmp_path, shop):
    clock = FakeClock()
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'many.db'}",
        allow_private_hosts=True,
        per_host_min_gap=0,
        max_watches_per_user=5,
    )
    runtime = Runtime(settings, clock=clock)
    try:
        await runtime.migrate_if_sqlite()
        url = shop.url("kettle") + "?utm_source=newsletter"
        for n in range(USERS):
            user = ChatContext(UserRef("test", str(n)), ChatAddress("test", str(n)))
            reply = await runtime.dispatcher.handle_text(user, f"/track {url}")
            assert reply is not None and "Now tracking" in reply.text, reply
        # Every /track after the first reused the fresh reading.
        assert shop.requests == 1

        for interval in range(3):
            if interval == 2:
                shop.set_price("kettle", Decimal("44.90"))
            clock.advance(seconds=settings.check_interval * 1.2)
            report = await runtime.check_once()
            assert report.checked == 1
            assert shop.requests == 2 + interval
        # Nothing is due between intervals.
        clock.advance(seconds=settings.check_interval * 0.5)
        assert (await runtime.check_once()).checked == 0
        assert shop.requests == 4

        async with runtime.uow_factory() as uow:
            pending = await uow.outbox.pending(clock.now(), 5000)
        assert len(pending) == USERS
        assert {m.address.chat_id for m in pending} == {str(n) for n in range(USERS)}
        print(f"{USERS} watchers, {shop.requests} fetches over 3 intervals, {len(pending)} alerts")
    finally:
        await runtime.close()
