"""The runtime: starts and stops the parts a command needs, explicitly, on one event loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from adapters.storage.schema import at_head
from bot.bootstrap import App, build_app
from bot.settings import Settings, derived_webhook_secret
from core.checking import CycleReport
from core.delivery import DeliveryReport
from core.ports import Clock, Extractor, Fetcher, Notifier
from core.refreshing import RefreshReport

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from telegram.ext import Application

log = logging.getLogger(__name__)

TELEGRAM = "telegram"
DISCORD = "discord"


class StartupError(Exception):
    """pricebot cannot start as configured; the message says what to do (and holds no
    secret)."""


class Runtime:
    """An async context manager around the App: on entry it brings the schema up to date,
    connects the chat platforms that have a token (their bots deliver alerts), starts the
    front ends named in `fronts` and, if asked, the scheduler; on exit it stops each part
    that started, in reverse order."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        fetcher: Fetcher | None = None,
        extractor: Extractor | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        fronts: Collection[str] = (),
        schedule: bool = False,
    ) -> None:
        self.app: App = build_app(
            settings, clock=clock, fetcher=fetcher, extractor=extractor, notifiers=notifiers
        )
        self._fronts = frozenset(fronts)
        self._schedule = schedule
        self._scheduler: AsyncIOScheduler | None = None
        self._telegram: Application | None = None
        self._bot_started = False
        self._discord_started = False

    # The parts tests and commands reach for most.
    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def clock(self) -> Clock:
        return self.app.clock

    @property
    def engine(self) -> Any:
        return self.app.engine

    @property
    def uow_factory(self) -> Any:
        return self.app.uow_factory

    @property
    def dispatcher(self) -> Any:
        return self.app.dispatcher

    async def __aenter__(self) -> Runtime:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        await self.migrate_if_sqlite()
        if self.app.telegram_bot is not None:
            await self._start_telegram()
        if self.app.discord is not None:
            await self._start_discord()
        if self._schedule:
            self.start_scheduler()

    @staticmethod
    def settle() -> None:
        """For a long-running process, once started: everything made while starting lives as
        long as the process, so the cycle collector need not walk it again at every
        collection (about a third of a /holdings of 5,000). Not for a process that starts
        many runtimes (tests): what they leave behind would never be collected."""
        gc.collect()
        gc.freeze()

    async def migrate_if_sqlite(self) -> None:
        """SQLite databases are brought up to date automatically; PostgreSQL via `migrate`,
        so several processes never race to change a shared schema: they refuse to start on
        an old one instead."""
        url = self.settings.database_url
        if await at_head(self.app.engine):
            return
        # Alembic and the revision scripts are loaded only when there is work for them.
        from adapters.storage.migrate import current_matches_head, upgrade_to_head

        if self.settings.is_sqlite:
            await asyncio.to_thread(upgrade_to_head, url)
        elif not await asyncio.to_thread(current_matches_head, url):
            raise StartupError(
                "the PostgreSQL schema is not at the latest revision: run `pricebot migrate` "
                "first (PRICEBOT_DATABASE_URL points at it)"
            )

    async def check_once(self) -> CycleReport:
        return await self.app.checker.run_once()

    async def deliver_once(self) -> DeliveryReport:
        return await self.app.delivery.run_once()

    async def refresh_once(self) -> RefreshReport | None:
        """Prices the held items that are due (holdings at market, their alerts)."""
        if self.app.market is None:
            return None
        return await self.app.market.refresher.run_once()

    def start_scheduler(self) -> None:
        """Check and delivery ticks every PRICEBOT_TICK seconds; a slow tick is never doubled."""
        # Imported here: `pricebot check` and the demo never schedule anything.
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone="UTC")
        options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self._check_tick, "interval", seconds=self.settings.tick, **options)
        scheduler.add_job(self._refresh_tick, "interval", seconds=self.settings.tick, **options)
        scheduler.add_job(
            self._delivery_tick, "interval", seconds=min(self.settings.tick, 2.0), **options
        )
        scheduler.start()
        self._scheduler = scheduler

    async def _check_tick(self) -> None:
        try:
            report = await self.app.checker.run_once()
            if report.checked or report.lost:
                log.info(
                    "checked %d products: %d ok, %d failed, %d alerts, %d taken over",
                    report.checked,
                    report.succeeded,
                    report.failed,
                    report.alerts,
                    report.lost,
                )
        except Exception:
            log.exception("check tick failed")

    async def _refresh_tick(self) -> None:
        try:
            report = await self.refresh_once()
            if report is not None and (report.items or report.failures):
                log.info(
                    "priced %d held items: %d prices, %d alerts, failures %s",
                    report.items,
                    report.prices,
                    report.alerts,
                    report.failures or "none",
                )
        except Exception:
            log.exception("market refresh tick failed")

    async def _delivery_tick(self) -> None:
        try:
            await self.app.delivery.run_once()
        except Exception:
            log.exception("delivery tick failed")

    async def _start_telegram(self) -> None:
        """Connects the bot (it delivers alerts) and, when Telegram is a front end here,
        the Application: long polling, or a webhook server when
        PRICEBOT_TELEGRAM_WEBHOOK_URL is set (so several replicas can share one bot)."""
        bot = self.app.telegram_bot
        assert bot is not None
        webhook_url = self.settings.telegram_webhook_url
        # Redacted from the logs since the bot was built (bootstrap.redact_secrets).
        secret = webhook_secret(self.settings) if webhook_url else None
        if TELEGRAM not in self._fronts:
            await _connect(bot.initialize())
            self._bot_started = True
            return
        from adapters.telegram.app import build_application, register_commands

        application = build_application(bot, self.app.dispatcher)
        self._telegram = application  # from here on close() stops whatever did start
        await _connect(application.initialize())
        await register_commands(application.bot, self.app.dispatcher.registry)
        await application.start()
        assert application.updater is not None
        if webhook_url:
            await application.updater.start_webhook(
                listen=self.settings.telegram_webhook_listen,
                port=self.settings.telegram_webhook_port,
                # The load balancer forwards the public path unchanged; never the token here:
                # request paths end up in access logs.
                url_path=urlsplit(webhook_url).path or "/",
                webhook_url=webhook_url,
                secret_token=secret,
            )
        else:
            await application.updater.start_polling(drop_pending_updates=False)

    async def _start_discord(self) -> None:
        """Logs the bot in (it delivers alerts) and, when Discord is a front end here, opens
        the gateway: slash commands, prefix commands and buttons."""
        from adapters.discord import DiscordStartupError

        discord = self.app.discord
        assert discord is not None
        self._discord_started = True
        try:
            if DISCORD in self._fronts:
                await discord.start_front()
            else:
                await discord.connect()
        except DiscordStartupError as error:
            raise StartupError(str(error)) from None

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._discord_started and self.app.discord is not None:
            self._discord_started = False
            await self.app.discord.close()
        await self._stop_telegram()
        await self.app.fetcher.aclose()
        self.app.reader.close()
        if self.app.market is not None:
            from bot.market import close_market

            await close_market(self.app.market)
        await self.app.uow_factory.aclose()
        await self.app.engine.dispose()

    async def _stop_telegram(self) -> None:
        if self._telegram is not None:
            from adapters.telegram.app import quiet_stop

            application, self._telegram = self._telegram, None
            with quiet_stop():
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                if application.running:
                    await application.stop()
                await application.shutdown()
        elif self._bot_started and self.app.telegram_bot is not None:
            self._bot_started = False
            await self.app.telegram_bot.shutdown()


async def _connect(initializing: Any) -> None:
    """Runs a bot's initialize() (which asks getMe); a refused token or an unreachable API
    becomes one StartupError line that names the setting, never the token."""
    from telegram.error import InvalidToken, NetworkError, TelegramError

    try:
        await initializing
    except InvalidToken:
        raise StartupError(
            "Telegram refused the bot token: check PRICEBOT_TELEGRAM_TOKEN (copy it again "
            "from @BotFather)"
        ) from None
    except NetworkError as error:
        raise StartupError(
            "cannot reach the Telegram Bot API at PRICEBOT_TELEGRAM_BASE_URL "
            f"({type(error).__name__}); check the network and try again"
        ) from None
    except TelegramError as error:
        raise StartupError(
            f"Telegram refused to start the bot ({type(error).__name__}); check "
            "PRICEBOT_TELEGRAM_TOKEN and PRICEBOT_TELEGRAM_BASE_URL"
        ) from None


def webhook_secret(settings: Settings) -> str:
    """PRICEBOT_TELEGRAM_WEBHOOK_SECRET, or one derived from the token: every replica derives
    the same, and nobody without the token can forge updates to the webhook."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    assert settings.telegram_token is not None
    return derived_webhook_secret(settings.telegram_token.get_secret_value())


def configure_logging(
    settings: Settings, *, default: str = "INFO", stream: TextIO = sys.stderr
) -> None:
    level = settings.log_level or default
    logging.basicConfig(
        level=level,
        stream=stream,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; the Telegram one carries the bot token.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
