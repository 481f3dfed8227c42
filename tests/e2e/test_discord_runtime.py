"""End to end through the real Runtime with Discord as the front end: discord.py against the fake
Discord API and gateway, a local shop, SQLite, check and delivery driven by hand on a fake
clock; and `pricebot run` itself as a process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from adapters.discord import platform as discord_platform
from bot.demo_shop import DemoShop
from bot.runtime import Runtime, StartupError
from bot.settings import load_settings
from tests.fakes.clock import FakeClock
from tests.fakes.discord_server import (
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    EPHEMERAL,
    FakeDiscord,
    PushedInteraction,
    SentMessage,
)
from tests.fakes.title_shop import title_shop

GUILD = 920_000_000_000_000_001
CHANNEL = 920_000_000_000_000_010
OTHER_CHANNEL = 920_000_000_000_000_011
ALICE = 920_000_000_000_000_100
BOB = 920_000_000_000_000_101
KETTLE = "Stellar Glass Kettle 1.7 L"


@dataclass
class Harness:
    """The running Runtime plus the world around it, with helpers that read like a chat."""

    runtime: Runtime
    clock: FakeClock
    discord: FakeDiscord

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None,
        user_id: int,
        channel_id: int,
        guild_id: int | None = GUILD,
    ) -> str:
        """Runs a slash command; returns the text of its answer (response or follow-up)."""
        pushed = self.discord.push_slash_command(name, options, user_id, channel_id, guild_id)
        return shown(await self.answer(pushed))

    async def answer(self, pushed: PushedInteraction) -> dict[str, Any]:
        """The message that answers an interaction: its response, or after a deferral the
        follow-up that fills it in."""
        response = await self.discord.wait_until(
            lambda: self.discord.interaction_response(pushed.id)
        )
        if response.type != DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            return response.data
        [first, *_] = await self.discord.wait_until(
            lambda: self.discord.followups(pushed.id), timeout=15
        )
        return first.payload

    async def complete(self, name: str, option: str, typed: str, user_id: int, channel: int) -> Any:
        pushed = self.discord.push_autocomplete(name, {option: typed}, option, user_id, channel)
        response = await self.discord.wait_until(
            lambda: self.discord.interaction_response(pushed.id)
        )
        return response.data["choices"]

    def next_interval(self) -> None:
        """Every tracked product is due again (check times have +-10 % jitter)."""
        self.clock.advance(seconds=self.runtime.settings.check_interval * 1.2)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.runtime.engine.connect() as connection:
            return list(await connection.execute(text(sql), params))

    async def watch_active(self, watch_id: int) -> bool:
        [row] = await self.rows("SELECT active FROM watches WHERE id = :id", id=watch_id)
        return bool(row.active)

    def alerts(self, channel_id: int) -> list[SentMessage]:
        return [m for m in self.discord.sent(channel_id) if m.via == "channel"]


def shown(message: dict[str, Any]) -> str:
    """What a user reads: the embeds' titles and descriptions (Discord hides the escapes)."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return "\n".join(part for part in parts if part).replace("\\", "")


@pytest.fixture(autouse=True)
def _prompt_ready(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """discord.py waits 2 s after the last server arrives before it is ready; one fake server
    arrives at once, so a tenth of that keeps each start short."""
    monkeypatch.setattr(discord_platform, "GUILD_READY_TIMEOUT", 0.2)
    yield


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(heartbeat_interval_ms=1000) as server:
        server.add_guild(GUILD, "Deals")
        server.add_channel(GUILD, CHANNEL, "price-alerts")
        server.add_channel(GUILD, OTHER_CHANNEL, "more-deals")
        server.add_member(GUILD, ALICE, "alice")
        server.add_member(GUILD, BOB, "bob")
        yield server


@asynccontextmanager
async def running(tmp_path: Path, discord: FakeDiscord, **overrides: Any) -> AsyncIterator[Harness]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'discord.db'}",
        allow_private_hosts=True,
        per_host_min_gap=0,
        discord_token=discord.token,
        discord_api_base=discord.api_base,
        **overrides,
    )
    clock = FakeClock()
    async with Runtime(settings, clock=clock, fronts={"discord"}) as runtime:
        yield Harness(runtime, clock, discord)


# ----- /help, /track, the alert, the stop button --------------------------------------------------


async def test_track_alert_once_with_buttons_and_stop(
    tmp_path: Path, discord: FakeDiscord, shop: DemoShop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path, discord) as h:
        help_text = await h.slash("help", None, ALICE, CHANNEL)
        assert help_text.startswith("Commands:") and "/track <link> [target]" in help_text

        pushed = discord.push_slash_command(
            "track", {"link": shop.url("kettle"), "target": "45"}, ALICE, CHANNEL, GUILD
        )
        deferral = await discord.wait_until(lambda: discord.interaction_response(pushed.id))
        assert deferral.type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE  # reads the page
        confirmation = await h.answer(pushed)
        assert shown(confirmation).startswith("Now tracking #1:")
        assert KETTLE in shown(confirmation) and "€49.90, in stock" in shown(confirmation)
        assert "€45.00 or less" in shown(confirmation)
        [embed] = confirmation["embeds"]
        assert embed["url"] == shop.url("kettle")

        shop.set_price("kettle", Decimal("39.90"))
        h.next_interval()
        report = await h.runtime.check_once()
        assert (report.checked, report.alerts) == (1, 1)
        assert (await h.runtime.deliver_once()).sent == 1
        assert (await h.runtime.deliver_once()).sent == 0

        [alert] = h.alerts(CHANNEL)
        [embed] = alert.embeds
        assert embed["title"] == f"Target price reached: {KETTLE}"
        assert embed["url"] == shop.url("kettle")
        assert embed["thumbnail"]["url"].endswith("/img/kettle.jpg")
        assert "€49.90 → €39.90" in embed["description"]
        assert "Lowest in 30 days" in embed["description"]
        assert [b["label"] for b in alert.buttons] == [
            "Open",
            "Chart",
            "Snooze 24 h",
            "Stop tracking",
        ]
        assert alert.buttons[0]["url"] == shop.url("kettle")
        assert alert.custom_ids == ["pb:history 1", "pb:snooze 1", "pb:untrack 1"]

        pressed = discord.push_component("pb:untrack 1", alert.id, ALICE, CHANNEL, GUILD)
        answer = await discord.wait_until(lambda: discord.interaction_response(pressed.id))
        assert answer.type == 7  # the alert becomes the answer, without buttons
        assert shown(answer.data) == "Stopped tracking #1. No more alerts for it."
        assert discord.message(CHANNEL, alert.id)["components"] == []
        assert not await h.watch_active(1)
        assert (await h.slash("watches", None, ALICE, CHANNEL)).startswith("Nothing is tracked")

        # Nobody watches the kettle any more: it is not fetched, nothing alerts.
        shop.set_price("kettle", Decimal("29.90"))
        h.next_interval()
        assert (await h.runtime.check_once()).checked == 0
        assert (await h.runtime.deliver_once()).sent == 0
        assert len(h.alerts(CHANNEL)) == 1

    assert discord.token not in caplog.text
    assert len(discord.command_syncs) == 1
    [sync] = discord.command_syncs
    by_name = {command["name"]: command for command in sync.payload}
    # Every registry command is there; a group of subcommands is one command with options.
    assert {"track", "watches", "untrack", "history", "card", "sell", "holdings"} <= set(by_name)
    holdings = by_name["holdings"]
    subcommands = {option["name"]: option for option in holdings["options"]}
    assert set(subcommands) == {"list", "chart", "remove", "alert", "ask", "add", "market"}
    assert all(option["type"] == 1 for option in subcommands.values())  # SUB_COMMAND
    [holding] = [o for o in subcommands["remove"]["options"] if o["name"] == "holding"]
    assert holding["type"] == 4 and holding["autocomplete"] is True  # INTEGER, this chat's ids


async def test_prefix_track_and_the_chart_button(
    tmp_path: Path, discord: FakeDiscord, shop: DemoShop
) -> None:
    async with running(tmp_path, discord) as h:
        discord.push_message(CHANNEL, ALICE, f"!track {shop.url('headphones')}", GUILD)
        reply = await discord.wait_for_message(CHANNEL, timeout=15)
        assert shown(reply.payload).startswith("Now tracking #1:")
        assert "£129.00, in stock" in shown(reply.payload)
        assert (await h.rows("SELECT community FROM watches"))[0].community == str(GUILD)

        shop.set_price("headphones", Decimal("99.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        assert (await h.runtime.deliver_once()).sent == 1
        alert = h.alerts(CHANNEL)[-1]
        assert shown(alert.payload).startswith("Price drop: ")

        discord.push_component("pb:history 1", alert.id, ALICE, CHANNEL, GUILD)
        chart = await discord.wait_for_message(CHANNEL, lambda m: bool(m.files), timeout=15)
        assert chart.files[0].data.startswith(b"\x89PNG")
        assert chart.embeds[0]["image"]["url"] == "attachment://chart.png"
        assert discord.message(CHANNEL, alert.id)["components"]  # the alert keeps its buttons


async def test_an_unknown_command_is_answered_only_when_it_mentions_the_bot(
    tmp_path: Path, discord: FakeDiscord
) -> None:
    """Other bots share the "!" prefix, so "!frobnicate" is left to them; a mention is ours."""
    async with running(tmp_path, discord):
        discord.push_message(CHANNEL, ALICE, "!frobnicate", GUILD)
        discord.push_message(CHANNEL, ALICE, f"<@{discord.application_id}> frobnicate", GUILD)
        answer = await discord.wait_for_message(CHANNEL, timeout=15)
        assert "I do not know the command /frobnicate" in shown(answer.payload)
        discord.push_message(CHANNEL, ALICE, "!help", GUILD)
        await discord.wait_for_message(CHANNEL, lambda m: m.id != answer.id, timeout=15)
        assert len(discord.sent(CHANNEL)) == 2


# ----- other users, other chats -------------------------------------------------------------------


async def test_another_user_can_neither_see_nor_remove_the_watch(
    tmp_path: Path, discord: FakeDiscord, shop: DemoShop
) -> None:
    async with running(tmp_path, discord) as h:
        made = await h.slash("track", {"link": shop.url("kettle")}, ALICE, CHANNEL)
        assert made.startswith("Now tracking #1:")
        assert await h.complete("untrack", "watch", "", ALICE, CHANNEL) == [
            {"name": f"#1 {KETTLE}", "value": "1"}
        ]
        bob_dm = discord.dm_channel_id(BOB)
        for channel, guild in ((bob_dm, None), (OTHER_CHANNEL, GUILD)):
            assert await h.complete("untrack", "watch", "1", BOB, channel) == []
            assert await h.complete("snooze", "watch", "", BOB, channel) == []
            listing = await h.slash("watches", None, BOB, channel, guild)
            assert listing.startswith("Nothing is tracked") and "Kettle" not in listing
            refused = discord.push_slash_command("untrack", {"watch": "1"}, BOB, channel, guild)
            answer = await h.answer(refused)
            assert shown(answer).startswith("There is no watch #1 in this chat.")
            assert answer["flags"] == EPHEMERAL  # told to Bob only

        # In Alice's channel Bob, no admin there, presses "stop" under her alert: refused.
        shop.set_price("kettle", Decimal("44.90"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        assert (await h.runtime.deliver_once()).sent == 1
        [alert] = h.alerts(CHANNEL)
        pressed = discord.push_component("pb:untrack 1", alert.id, BOB, CHANNEL, GUILD)
        answer = await discord.wait_until(lambda: discord.interaction_response(pressed.id))
        assert answer.data["flags"] == EPHEMERAL
        assert "only they or a chat admin" in shown(answer.data)
        assert discord.message(CHANNEL, alert.id)["components"]
        assert await h.watch_active(1)


async def test_a_server_has_a_watch_limit_of_its_own(
    tmp_path: Path, discord: FakeDiscord, shop: DemoShop
) -> None:
    async with running(tmp_path, discord, max_watches_per_server=1) as h:
        made = await h.slash("track", {"link": shop.url("kettle")}, ALICE, CHANNEL)
        assert made.startswith("Now tracking #1:")
        # Bob has no watch yet, but the server is full, whichever of its channels he uses.
        pushed = discord.push_slash_command(
            "track", {"link": shop.url("headphones")}, BOB, OTHER_CHANNEL, GUILD
        )
        refused = await h.answer(pushed)
        assert shown(refused).startswith("This server already tracks 1 products")
        # His DMs are no server's.
        bob_dm = discord.dm_channel_id(BOB)
        private = await h.slash("track", {"link": shop.url("headphones")}, BOB, bob_dm, None)
        assert private.startswith("Now tracking #2:")
        communities = [
            row.community for row in await h.rows("SELECT community FROM watches ORDER BY id")
        ]
        assert communities == [str(GUILD), None]


# ----- shop text is data, never a ping ------------------------------------------------------------

HOSTILE_TITLE = f"@everyone @here <@{BOB}> **Deal** Kettle"


def hostile_shop(price: dict[str, Decimal]) -> AbstractAsyncContextManager[str]:
    """A shop whose product is titled HOSTILE_TITLE; serves `price["now"]`."""
    return title_shop(HOSTILE_TITLE, price)


async def test_everyone_in_a_product_title_pings_nobody(
    tmp_path: Path, discord: FakeDiscord
) -> None:
    price = {"now": Decimal("20.00")}
    async with hostile_shop(price) as url, running(tmp_path, discord) as h:
        confirmation = await h.slash("track", {"link": url}, ALICE, CHANNEL)
        assert "@\u200beveryone @\u200bhere" in confirmation and "**Deal** Kettle" in confirmation
        discord.push_message(CHANNEL, ALICE, f"!track {url}", GUILD)
        await discord.wait_for_message(CHANNEL, lambda m: m.via == "channel", timeout=15)

        price["now"] = Decimal("15.00")
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        assert (await h.runtime.deliver_once()).sent == 1

    alert = discord.sent(CHANNEL)[-1]
    assert "Price drop: @\u200beveryone" in shown(alert.payload)
    assert len(discord.sent(CHANNEL)) == 3  # confirmation, prefix reply, alert
    for message in discord.sent(CHANNEL):
        assert not message.mention_everyone and message.pinged_user_ids == []
        assert message.allowed_mentions is not None and message.allowed_mentions["parse"] == []


# ----- delivery under pressure --------------------------------------------------------------------


async def test_a_429_delays_the_alert_but_loses_nothing(
    tmp_path: Path, discord: FakeDiscord, shop: DemoShop
) -> None:
    async with running(tmp_path, discord) as h:
        await h.slash("track", {"link": shop.url("kettle")}, ALICE, CHANNEL)
        await h.slash("track", {"link": shop.url("headphones")}, ALICE, CHANNEL)
        shop.set_price("kettle", Decimal("45.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1

        # A short wait is slept through by discord.py's limiter: delayed, sent once.
        route = "POST /channels/{channel_id}/messages"
        discord.fail_next(route, status=429, retry_after=0.3)
        assert (await h.runtime.deliver_once()).sent == 1
        assert [r.status for r in discord.requests_to(route)][-2:] == [429, 200]

        # A long one goes back to the outbox, which waits as told and then sends it once.
        shop.set_price("headphones", Decimal("99.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        discord.fail_next(route, status=429, retry_after=90)
        report = await h.runtime.deliver_once()
        assert (report.sent, report.retried) == (0, 1)
        assert (await h.runtime.deliver_once()).sent == 0  # not before the wait is over
        h.clock.advance(seconds=91)
        assert (await h.runtime.deliver_once()).sent == 1
        [attempts] = await h.rows("SELECT attempts FROM outbox ORDER BY id DESC LIMIT 1")

    alerts = [shown(m.payload) for m in discord.sent(CHANNEL) if m.via == "channel"]
    assert len(alerts) == 2
    assert alerts[0].startswith("Price drop: Stellar Glass Kettle")
    assert alerts[1].startswith("Price drop: ") and "£129.00 → £99.00" in alerts[1]
    assert attempts.attempts == 1  # a 429 is not a failed attempt


async def test_a_channel_the_bot_lost_is_marked_inactive(
    tmp_path: Path, discord: FakeDiscord, shop: DemoShop
) -> None:
    async with running(tmp_path, discord) as h:
        await h.slash("track", {"link": shop.url("kettle")}, ALICE, CHANNEL)
        shop.set_price("kettle", Decimal("45.00"))
        h.next_interval()
        assert (await h.runtime.check_once()).alerts == 1
        discord.fail_next(f"POST /channels/{CHANNEL}/messages", status=403, code=50001)
        report = await h.runtime.deliver_once()
        assert (report.sent, report.undeliverable) == (0, 1)
        [chat] = await h.rows(
            "SELECT active, inactive_reason FROM chats WHERE chat_id = :c", c=str(CHANNEL)
        )
        assert not chat.active and "Missing Access" in chat.inactive_reason
        assert not await h.watch_active(1)


# ----- a dropped gateway connection ---------------------------------------------------------------


async def test_a_dropped_gateway_is_resumed_and_a_command_sent_meanwhile_is_answered(
    tmp_path: Path, discord: FakeDiscord
) -> None:
    async with running(tmp_path, discord) as h:
        session, sequence = discord.session_id, discord.sequence
        discord.hold_gateway()  # an outage: the reconnect waits until it is over
        discord.drop_connection()
        during = discord.push_slash_command("help", None, ALICE, CHANNEL, GUILD)
        await discord.wait_until(lambda: len(discord.connections) == 2)
        assert discord.interaction_response(during.id) is None
        discord.release_gateway()
        answer = await h.answer(during)
        assert shown(answer).startswith("Commands:")
        assert (await h.slash("help", None, BOB, CHANNEL)).startswith("Commands:")

    assert discord.resumes == [{"seq": sequence, "session_id": session, "token": discord.token}]
    assert len(discord.identifies) == 1 and discord.connections[1].resumed
    assert len(discord.command_syncs) == 1  # a reconnect registers nothing


# ----- `pricebot run` as operators start it -------------------------------------------------------


def environment(tmp_path: Path, token: str, api_base: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PRICEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "PRICEBOT_DISCORD_TOKEN": token,
        "PRICEBOT_DISCORD_API_BASE": api_base,
        "PRICEBOT_TICK": "0.2",
    }


async def start_pricebot(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_pricebot_run_serves_discord_and_stops_on_sigterm(
    tmp_path: Path, discord: FakeDiscord
) -> None:
    process = await start_pricebot(environment(tmp_path, discord.token, discord.api_base))
    try:
        await discord.wait_until(lambda: discord.commands(), timeout=30)
        await discord.wait_for_session(timeout=10)
        pushed = discord.push_slash_command("help", None, ALICE, CHANNEL, GUILD)
        answer = await discord.wait_until(lambda: discord.interaction_response(pushed.id))
        assert shown(answer.data).startswith("Commands:")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    output = stdout.decode() + stderr.decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output and discord.token not in output
    assert "registered" in output and "slash commands" in output


async def test_a_refused_token_stops_pricebot_run_with_one_line(
    tmp_path: Path, discord: FakeDiscord
) -> None:
    wrong = discord.token[:-6] + "WRONG!"
    process = await start_pricebot(environment(tmp_path, wrong, discord.api_base))
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    output = stdout.decode() + stderr.decode()
    assert process.returncode == 2, output
    assert "Traceback" not in output and wrong not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("pricebot: Discord refused the bot token")
    assert "PRICEBOT_DISCORD_TOKEN" in last


async def test_a_startup_error_is_a_startup_error_of_the_runtime(
    tmp_path: Path, discord: FakeDiscord
) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bad.db'}",
        discord_token="not-the-token",
        discord_api_base=discord.api_base,
    )
    with pytest.raises(StartupError, match="PRICEBOT_DISCORD_TOKEN"):
        async with Runtime(settings, fronts={"discord"}):
            pass
