"""End to end on the console: track -> the shop changes its price -> check -> alert printed."""

from __future__ import annotations

import io
import sqlite3
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
        await runtime.start()
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
        assert "[4 Stop tracking]" in alert

        # The same price again: no new alert, nothing delivered twice.
        clock.advance(seconds=settings.check_interval * 1.2)
        assert (await runtime.check_once()).alerts == 0
        assert (await runtime.deliver_once()).sent == 0
        assert out.getvalue().count("🔔") == 1

        listing = await chat.say("/watches")
        assert "€39.90" in listing
    finally:
        await runtime.close()


def pricebot(tmp_path, command: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "PRICEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            "PRICEBOT_ALLOW_PRIVATE_HOSTS": "true",
            "PRICEBOT_PER_HOST_MIN_GAP": "0",
            **env,
        },
    )


def test_chat_command_reads_stdin_and_answers_without_log_lines(tmp_path):
    """`pricebot chat` as a user runs it: lines on stdin, answers on stdout, and no scheduler
    or migration INFO lines in the conversation (warnings and errors only, on stderr)."""
    result = pricebot(tmp_path, "chat", "/help\n/untrack 5\n/quit\n")
    assert result.returncode == 0, result.stderr
    assert "/track" in result.stdout
    assert "There is no watch #5 in this chat" in result.stdout
    assert result.stderr == ""
    assert " INFO " not in result.stdout
    chatty = pricebot(tmp_path, "chat", "/quit\n", PRICEBOT_LOG_LEVEL="INFO")
    assert "INFO" in chatty.stderr  # asked for: then the log lines are there, on stderr


def test_console_buttons_are_pressed_by_number_or_label(tmp_path, shop):
    lines = [
        shop.url("kettle"),  # a bare link
        "1",  # [1 Track it]
        f"/track {shop.url('lamp')} stock",
        "/snooze 2 3",
        "/watches",
        "/untrack 1",
        "/quit",
    ]
    result = pricebot(tmp_path, "chat", "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Do you want me to track this product?" in out and "[1 Track it]" in out
    assert "Now tracking #1:" in out and "Now tracking #2:" in out
    assert "Snoozed #2 until" in out and "snoozed until" in out
    assert "Stopped tracking #1" in out
    by_label = pricebot(tmp_path, "chat", f"{shop.url('headphones')}\ntrack it\n/quit\n")
    assert "Now tracking #3:" in by_label.stdout


def test_check_prints_the_alerts_of_console_chats(tmp_path, shop):
    """Alerts queued for a `pricebot chat` conversation by `pricebot check` are shown there."""
    tracked = pricebot(tmp_path, "chat", f"/track {shop.url('kettle')} 45\n/quit\n")
    assert "Now tracking #1" in tracked.stdout
    shop.set_price("kettle", Decimal("39.90"))
    database = sqlite3.connect(tmp_path / "c.db")
    with database:
        database.execute("UPDATE products SET next_check_at = '2000-01-01 00:00:00'")
    database.close()
    checked = pricebot(tmp_path, "check")
    assert checked.returncode == 0, checked.stderr
    assert "🔔 Target price reached: Stellar Glass Kettle" in checked.stdout
    assert "1 delivered" in checked.stdout


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
