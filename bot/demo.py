"""`pricebot demo`: a scripted session from /track to alert against the bundled local shop."""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from adapters.console.chat import ConsoleChat
from adapters.console.notifier import ConsoleNotifier
from bot.demo_shop import DemoShop
from bot.runtime import Runtime
from bot.settings import load_settings
from core.ports import Clock, SystemClock


class DemoClock(Clock):
    """Real time plus an offset the demo moves forward, so 'an hour later' takes no hour."""

    def __init__(self) -> None:
        self._system = SystemClock()
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return self._system.now() + self.offset


async def run_demo(out: TextIO = sys.stdout) -> int:
    started = time.perf_counter()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the story is on stdout
    shop = DemoShop()
    shop.start()
    clock = DemoClock()
    with tempfile.TemporaryDirectory(prefix="pricebot-demo-") as tmp:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
            allow_private_hosts=True,  # the demo shop lives on 127.0.0.1
            per_host_min_gap=0,
            telegram_token=None,
            discord_token=None,
        )
        runtime = Runtime(settings, clock=clock, notifiers={"console": ConsoleNotifier(out)})
        chat = ConsoleChat(runtime.dispatcher, sys.stdin, out)

        def narrate(text: str) -> None:
            out.write(f"\n--- {text}\n")
            out.flush()

        try:
            await runtime.start()
            narrate(f"demo shop running at {shop.base_url}; database in {tmp}")
            await chat.say(f"/track {shop.url('kettle')} 45", echo=True)
            await chat.say(f"/track {shop.url('headphones')} -10%", echo=True)
            await chat.say(f"/track {shop.url('lamp')} stock", echo=True)
            await chat.say(f"/track {shop.url('kettle')} -5", echo=True)

            narrate(
                "the shop cuts the kettle to 39.90 € and the headphones to £109.00, "
                "and the lamp comes back in stock"
            )
            shop.set_price("kettle", Decimal("39.90"))
            shop.set_price("headphones", Decimal("109.00"))
            shop.set_stock("lamp", True)

            narrate("an hour later the scheduler checks every tracked product")
            clock.offset += settings_interval(settings.check_interval)
            report = await runtime.check_once()
            out.write(
                f"checked {report.checked} products with {shop.requests - 3} fetches, "
                f"{report.alerts} alerts queued\n"
            )
            delivered = await runtime.deliver_once()
            out.write(f"\ndelivered {delivered.sent} alerts\n")

            narrate("the same check again finds nothing new, so nothing is sent twice")
            clock.offset += settings_interval(settings.check_interval)
            again = await runtime.check_once()
            repeat = await runtime.deliver_once()
            out.write(
                f"checked {again.checked} products, {again.alerts} new alerts, "
                f"{repeat.sent} delivered\n"
            )

            await chat.say("/watches", echo=True)
            await chat.say("/untrack 3", echo=True)
            await chat.say("/untrack 99", echo=True)
        finally:
            await runtime.close()
            shop.stop()
    narrate(f"demo finished in {time.perf_counter() - started:.1f} s")
    if delivered.sent < 3 or again.alerts != 0:
        out.write("demo did not produce the expected alerts\n")
        return 1
    return 0


def settings_interval(seconds: int) -> timedelta:
    """Far enough ahead that every product is due, whatever its scheduling jitter."""
    return timedelta(seconds=seconds * 1.2)
