"""`pricebot check` and `pricebot worker` as operators run them: alerts reach Telegram."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal

import pytest

from bot.demo_shop import DemoShop
from bot.runtime import Runtime
from bot.settings import load_settings
from core.model import ChatAddress, ChatContext, UserRef
from tests.fakes.telegram_server import FakeTelegram

CHAT = 5151
TOKEN = "123456:WORKER-TOKEN"


async def track_kettle(database_url: str, shop: DemoShop) -> None:
    settings = load_settings(database_url=database_url, allow_private_hosts=True)
    runtime = Runtime(settings)
    try:
        await runtime.migrate_if_sqlite()
        user = ChatContext(UserRef("telegram", str(CHAT)), ChatAddress("telegram", str(CHAT)))
        reply = await runtime.dispatcher.handle_text(user, f"/track {shop.url('kettle')} 45")
        assert reply is not None and "Now tracking" in reply.text
        # Due now, as if an interval had passed.
        async with runtime.uow_factory() as uow:
            product = await uow.products.get_by_url(shop.url("kettle"))
            assert product is not None
            product.next_check_at = runtime.clock.now()
            await uow.products.update(product)
            await uow.commit()
    finally:
        await runtime.close()


def command_env(database_url: str, telegram: FakeTelegram) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PRICEBOT_DATABASE_URL": database_url,
        "PRICEBOT_ALLOW_PRIVATE_HOSTS": "true",
        "PRICEBOT_TELEGRAM_TOKEN": TOKEN,
        "PRICEBOT_TELEGRAM_BASE_URL": telegram.base_url,
        "PRICEBOT_TICK": "0.2",
        "PRICEBOT_LOG_LEVEL": "DEBUG",
    }


@pytest.mark.parametrize("command", ["check", "worker"])
async def test_command_delivers_the_alert_to_telegram(command, shop, tmp_path):
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    await track_kettle(database_url, shop)
    shop.set_price("kettle", Decimal("39.90"))
    async with FakeTelegram(TOKEN) as telegram:
        telegram.add_chat(CHAT)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            command,
            env=command_env(database_url, telegram),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            alert = await telegram.wait_for_message(
                CHAT, lambda m: "Target price reached" in m.text, timeout=30
            )
        finally:
            if command == "worker" and process.returncode is None:
                process.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "€39.90" in alert.text
    assert [b["text"] for b in alert.buttons][-1] == "Stop tracking"
    assert len([m for m in telegram.sent(CHAT) if "Target price" in m.text]) == 1
    assert "WORKER-TOKEN" not in stderr.decode() + stdout.decode()
    if command == "check":
        assert "1 alerts queued, 1 delivered" in stdout.decode()
