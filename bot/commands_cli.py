"""The CLI commands other than `extract`: run, worker, chat, demo, check, migrate."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.settings import Settings, SettingsError, load_settings
from core.ports import Notifier

NO_TOKEN = (
    "pricebot run needs a chat token: set PRICEBOT_TELEGRAM_TOKEN (or PRICEBOT_DISCORD_TOKEN) in "
    "the environment or .env. To try pricebot without a token, run `pricebot chat` (terminal chat) "
    "or `pricebot demo` (scripted demo)."
)
DISCORD_NOT_YET = (
    "Discord support is not available in this version: PRICEBOT_DISCORD_TOKEN alone cannot start "
    "`pricebot run`. Set PRICEBOT_TELEGRAM_TOKEN, or use `pricebot chat` / `pricebot demo`."
)


def run_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"pricebot: bad setting: {error}", file=sys.stderr)
        return 2
    from bot.runtime import StartupError, configure_logging

    configure_logging(settings)
    try:
        return _dispatch(args, settings)
    except StartupError as error:
        print(f"pricebot: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the database server cannot be reached
        print(f"pricebot: cannot start: {error}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        if settings.telegram_token is None:
            print(DISCORD_NOT_YET if settings.discord_token else NO_TOKEN, file=sys.stderr)
            return 2
        return asyncio.run(_serve(settings, telegram=True))
    if args.command == "worker":
        return asyncio.run(_serve(settings, telegram=False))
    if args.command == "chat":
        return asyncio.run(_chat(settings))
    if args.command == "demo":
        from bot.demo import run_demo

        return asyncio.run(run_demo())
    if args.command == "check":
        return asyncio.run(_check(settings))
    if args.command == "migrate":
        from adapters.storage.migrate import upgrade_to_head

        upgrade_to_head(settings.database_url)
        print("database is at the latest schema revision")
        return 0
    print(f"unknown command {args.command}", file=sys.stderr)
    return 2


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


@asynccontextmanager
async def _telegram_sender(settings: Settings) -> AsyncIterator[dict[str, Notifier]]:
    """A worker or `check` has no chat front end but still delivers Telegram alerts."""
    if settings.telegram_token is None:
        yield {}
        return
    from telegram import Bot

    from adapters.telegram.notifier import TelegramNotifier
    from adapters.telegram.redact import install_token_redaction

    token = settings.telegram_token.get_secret_value()
    install_token_redaction(token)
    bot = Bot(token, base_url=settings.telegram_base_url)
    await bot.initialize()
    try:
        yield {"telegram": TelegramNotifier(bot)}
    finally:
        await bot.shutdown()


async def _serve(settings: Settings, *, telegram: bool) -> int:
    from bot.runtime import Runtime

    if telegram:
        runtime = Runtime(settings)
        try:
            await runtime.migrate_if_sqlite()
            await runtime.start_telegram()
            runtime.start_scheduler()
            await _wait_for_stop_signal()
        finally:
            await runtime.close()
        return 0
    async with _telegram_sender(settings) as notifiers:
        runtime = Runtime(settings, notifiers=notifiers)
        try:
            await runtime.migrate_if_sqlite()
            runtime.start_scheduler()
            await _wait_for_stop_signal()
        finally:
            await runtime.close()
    return 0


async def _chat(settings: Settings) -> int:
    from adapters.console.chat import ConsoleChat
    from adapters.console.notifier import ConsoleNotifier
    from bot.runtime import Runtime

    runtime = Runtime(settings, notifiers={"console": ConsoleNotifier(sys.stdout)})
    try:
        await runtime.migrate_if_sqlite()
        runtime.start_scheduler()
        await ConsoleChat(runtime.dispatcher, sys.stdin, sys.stdout).run()
    finally:
        await runtime.close()
    return 0


async def _check(settings: Settings) -> int:
    from bot.runtime import Runtime

    async with _telegram_sender(settings) as notifiers:
        runtime = Runtime(settings, notifiers=notifiers)
        try:
            await runtime.migrate_if_sqlite()
            report = await runtime.check_once()
            delivered = await runtime.deliver_once()
        finally:
            await runtime.close()
    print(
        f"checked {report.checked} products: {report.succeeded} read, {report.failed} failed, "
        f"{report.alerts} alerts queued, {delivered.sent} delivered"
    )
    return 0
