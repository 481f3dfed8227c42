"""End to end on the console: track -> the shop changes its price -> check -> alert printed."""

from __future__ import annotations

import io
import subprocess
import sys
from decimal import Decimal

from adapters.console.chat import ConsoleChat
from adapters.console.notifier import ConsoleNotifier
from bot.runtime import Runtime
from bot.settings import load_settings
from tests.fakes.clock import FakeClock


async def test_track_price_change_check_alert(shop, tmp_path):
    out = io.StringIO()
    clock = FakeClock()
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        allow_private_hosts=True,
        per_host_min_gap=0,
    )
    runtime = Runtime(settings, clock=clock, notifiers={"console": ConsoleNotifier(out)})
    chat = ConsoleChat(runtime.dispatcher, io.StringIO(), out)
    try:
        await runtime.migrate_if_sqlite()
        answer = await chat.say(f"/track {shop.url('kettle')} 45")
        assert "Now tracking #1" in answer and "Stellar Glass Kettle" in answer
        assert "€49.90" in answer

        # Nothing is due yet: no fetch, no alert.
        requests_before = shop.requests
        assert (await runtime.check_once()).checked == 0
        assert shop.requests == requests_before

        shop.set_price("kettle", Decimal("39.90"))
        clock.advance(seconds=settings.check_interval * 1.2)
        report = await runtime.check_once()
        assert (report.checked, report.succeeded, report.alerts) == (1, 1, 1)
        delivered = await runtime.deliver_once()
        assert delivered.sent == 1
        alert = out.getvalue().split("🔔", 1)[1]
        assert "Stellar Glass Kettle" in alert
        assert "€49.90" in alert and "€39.90" in alert
        assert "[Stop tracking]" in alert

        # The same price again: no new alert, nothing delivered twice.
        clock.advance(seconds=settings.check_interval * 1.2)
        assert (await runtime.check_once()).alerts == 0
        assert (await runtime.deliver_once()).sent == 0
        assert out.getvalue().count("🔔") == 1

        listing = await chat.say("/watches")
        assert "€39.90" in listing
    finally:
        await runtime.close()


def test_chat_command_reads_stdin_and_answers(tmp_path):
    """`pricebot chat` as a user runs it: lines on stdin, answers on stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="/help\n/untrack 5\n/quit\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "PRICEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "/track" in result.stdout
    assert "You have no watch #5" in result.stdout


def test_run_without_token_names_the_variables(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "PRICEBOT_TELEGRAM_TOKEN" in result.stderr
    assert "pricebot demo" in result.stderr and "pricebot chat" in result.stderr


def test_bad_setting_stops_start_up_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PRICEBOT_CHECK_INTERVAL": "-1"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "PRICEBOT_CHECK_INTERVAL" in result.stderr


def test_demo_prints_a_real_alert():
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("🔔") == 3
    assert "back in stock" in result.stdout.lower()
    assert "delivered 3 alerts" in result.stdout
