"""The CLI commands other than `extract`: run, worker, chat, demo, check, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.settings import Settings, SettingsError, load_settings
from core.ports import Notifier

NO_TOKEN = (
    "pricebot run needs a chat token: set PRICEBOT_TELEGRAM_TOKEN and/or PRICEBOT_DISCORD_TOKEN "
    "in the environment or .env. To try pricebot without a token, run `pricebot chat` (terminal "
    "chat) or `pricebot demo` (scripted demo)."
)


def run_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"pricebot: bad setting: {error}", file=sys.stderr)
        return 2
    from bot.runtime import StartupError, configure_logging

    # The terminal chat's conversation is on stdout; only problems go to stderr there.
    configure_logging(settings, default="WARNING" if args.command == "chat" else "INFO")
    try:
        return _dispatch(args, settings)
    except StartupError as error:
        print(f"pricebot: {redacted(str(error), settings)}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. the database server cannot be reached
        print(f"pricebot: cannot start: {redacted(str(error), settings)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        # Logged with its traceback (the log filters redact secrets), then one line here.
        logging.getLogger("pricebot").error("pricebot stopped", exc_info=True)
        shown = redacted(f"{type(error).__name__}: {error}", settings)
        print(f"pricebot: stopped by an unexpected error: {shown}", file=sys.stderr)
        return 1


def redacted(text: str, settings: Settings) -> str:
    """`text` without any secret of `settings` (tokens, webhook secret) in it."""
    from adapters.redact import TokenRedactingFilter

    secrets = settings.secrets()
    return TokenRedactingFilter(secrets).redact(text) if secrets else text


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        # Every platform that has a token, in one process.
        fronts = tuple(
            name
            for name, token in (
                ("telegram", settings.telegram_token),
                ("discord", settings.discord_token),
            )
            if token is not None
        )
        if not fronts:
            print(NO_TOKEN, file=sys.stderr)
            return 2
        return asyncio.run(_serve(settings, fronts=fronts))
    if args.command == "worker":
        return asyncio.run(_serve(settings, fronts=()))
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


def _console_alerts() -> dict[str, Notifier]:
    """Alerts for `pricebot chat` conversations, printed on this terminal by the commands
    that deliver without a chat of their own (check, worker)."""
    from adapters.console.notifier import ConsoleNotifier

    return {"console": ConsoleNotifier(sys.stdout)}


async def _serve(settings: Settings, *, fronts: tuple[str, ...]) -> int:
    from bot.runtime import Runtime

    notifiers = {} if fronts else _console_alerts()
    async with Runtime(settings, notifiers=notifiers, fronts=fronts, schedule=True):
        Runtime.settle()
        await _wait_for_stop_signal()
    return 0


async def _chat(settings: Settings) -> int:
    from adapters.console.chat import ConsoleChat
    from adapters.console.notifier import ConsoleNotifier
    from bot.runtime import Runtime

    notifiers = {"console": ConsoleNotifier(sys.stdout)}
    async with Runtime(settings, notifiers=notifiers, schedule=True) as runtime:
        Runtime.settle()
        await ConsoleChat(runtime.dispatcher, sys.stdin, sys.stdout).run()
    return 0


async def _check(settings: Settings) -> int:
    from bot.runtime import Runtime

    async with Runtime(settings, notifiers=_console_alerts()) as runtime:
        report = await runtime.check_once()
        await runtime.refresh_once()
        delivered = await runtime.deliver_once()
    print(
        f"checked {report.checked} products: {report.succeeded} read, {report.failed} failed, "
        f"{report.alerts} alerts queued, {delivered.sent} delivered"
    )
    return 0
