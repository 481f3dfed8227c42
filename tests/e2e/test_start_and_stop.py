"""Starting and stopping as operators do: a refused token or an unreachable Telegram ends in one
redacted line and a non-zero exit; SIGTERM stops `pricebot run` quietly with exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.fakes.telegram_server import FakeTelegram

RIGHT_TOKEN = "123456:RIGHT-TOKEN-abcdefghijk"
WRONG_TOKEN = "123456:WRONG-TOKEN-zyxwvutsrqp"


def environment(tmp_path: Path, token: str, base_url: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PRICEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        "PRICEBOT_TELEGRAM_TOKEN": token,
        "PRICEBOT_TELEGRAM_BASE_URL": base_url,
        "PRICEBOT_TICK": "0.2",
        **extra,
    }


async def pricebot(command: str, env: dict[str, str]) -> tuple[int, str]:
    """Runs `pricebot <command>` to its end; returns the exit code and stdout + stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", ["run", "worker", "check"])
@pytest.mark.parametrize("log_level", ["INFO", "DEBUG"])
async def test_a_refused_token_never_reaches_any_output(
    tmp_path: Path, command: str, log_level: str
) -> None:
    """python-telegram-bot puts the token in InvalidToken's message; it used to reach stderr in
    a traceback."""
    async with FakeTelegram(RIGHT_TOKEN) as telegram:
        env = environment(tmp_path, WRONG_TOKEN, telegram.base_url, PRICEBOT_LOG_LEVEL=log_level)
        code, output = await pricebot(command, env)
    assert code == 2, output
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("pricebot: Telegram refused the bot token")
    assert "PRICEBOT_TELEGRAM_TOKEN" in last
    for secret in (WRONG_TOKEN, WRONG_TOKEN.split(":", 1)[1]):
        assert secret not in output


@pytest.mark.parametrize("command", ["run", "worker", "check"])
async def test_an_unreachable_telegram_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, command: str
) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/bot"
    code, output = await pricebot(command, environment(tmp_path, RIGHT_TOKEN, base_url))
    assert code == 2, output
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("pricebot: cannot reach the Telegram Bot API")
    assert RIGHT_TOKEN.split(":", 1)[1] not in output


async def test_sigterm_stops_run_quietly_with_exit_zero(tmp_path: Path) -> None:
    async with FakeTelegram(RIGHT_TOKEN) as telegram:
        env = environment(tmp_path, RIGHT_TOKEN, telegram.base_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Stop it in the middle of a long poll, as an operator's SIGTERM would.
        await telegram.wait_until(lambda: len(telegram.calls_to("getUpdates")) >= 2, timeout=30)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    output = stdout.decode() + stderr.decode()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "TimedOut" not in output
    assert " ERROR " not in output
