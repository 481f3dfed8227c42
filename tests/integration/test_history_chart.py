"""/history and the alert's Chart button: statistics plus a real PNG chart of the prices."""

from __future__ import annotations

import struct
from decimal import Decimal

from bot.runtime import Runtime
from bot.settings import load_settings
from core.model import ChatAddress, ChatContext, UserRef
from tests.fakes.clock import FakeClock

ANN = ChatContext(UserRef("test", "ann"), ChatAddress("test", "ann"))
BEN = ChatContext(UserRef("test", "ben"), ChatAddress("test", "ben"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


async def test_history_reports_lows_and_draws_the_prices(tmp_path, shop):
    clock = FakeClock()
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
        allow_private_hosts=True,
        per_host_min_gap=0,
    )
    runtime = Runtime(settings, clock=clock)
    try:
        await runtime.migrate_if_sqlite()
        await runtime.dispatcher.handle_text(ANN, f"/track {shop.url('kettle')}")
        for price in ("45.00", "39.50", "47.00"):
            shop.set_price("kettle", Decimal(price))
            clock.advance(days=2)
            await runtime.check_once()

        reply = await runtime.dispatcher.handle_text(ANN, "/history 1 30d")
        assert not reply.is_error, reply.text
        assert "lowest €39.50, highest €49.90" in reply.text
        assert "lowest ever €39.50" in reply.text
        assert reply.image_png is not None
        assert png_size(reply.image_png) == (800, 400)

        button = await runtime.dispatcher.handle_action(ANN, "chart:1")
        assert button.image_png is not None and "€39.50" in button.text

        # Nobody else's history: the id belongs to Ann.
        stranger = await runtime.dispatcher.handle_text(BEN, "/history 1")
        assert stranger.is_error and stranger.image_png is None
    finally:
        await runtime.close()
