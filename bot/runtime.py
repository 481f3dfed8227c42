"""The runtime: builds every part from Settings, starts and stops them explicitly on one loop."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from adapters.charts.price_chart import MatplotlibChartRenderer
from adapters.extract import PageExtractor
from adapters.storage.engine import make_engine
from adapters.storage.schema import at_head
from adapters.storage.uow import SqlUnitOfWorkFactory
from adapters.web.fetcher import HttpFetcher
from adapters.web.policy import FetchPolicy
from bot.settings import Settings
from core.alerts import AlertPolicy
from core.checking import CheckConfig, Checker, CycleReport
from core.delivery import Delivery, DeliveryReport
from core.ports import Clock, Extractor, Fetcher, Notifier, SystemClock
from core.service import Dispatcher, ServiceConfig

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        connect_timeout=settings.connect_timeout,
        total_timeout=settings.total_timeout,
        max_bytes=settings.max_page_bytes,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_min_gap=settings.per_host_min_gap,
        allow_private_hosts=settings.allow_private_hosts,
    )


class StartupError(Exception):
    """pricebot cannot start as configured; the message says what to do."""


class Runtime:
    """Owns the engine, the HTTP client, the scheduler and the chat front ends."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        fetcher: Fetcher | None = None,
        extractor: Extractor | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.engine = make_engine(settings.database_url)
        self.uow_factory = SqlUnitOfWorkFactory(self.engine)
        self.fetcher = fetcher or HttpFetcher(fetch_policy(settings))
        self.extractor = extractor or PageExtractor()
        self.notifiers: dict[str, Notifier] = dict(notifiers or {})
        policy = AlertPolicy(
            cooldown=timedelta(seconds=settings.alert_cooldown),
            daily_cap=settings.daily_alert_cap,
        )
        interval = timedelta(seconds=settings.check_interval)
        self.dispatcher = Dispatcher(
            self.uow_factory,
            self.fetcher,
            self.extractor,
            self.clock,
            ServiceConfig(
                max_watches_per_user=settings.max_watches_per_user,
                commands_per_minute=settings.commands_per_minute,
                tracks_per_minute=settings.tracks_per_minute,
                check_interval=interval,
                admins=settings.admin_keys,
                alert_policy=policy,
            ),
            charts=MatplotlibChartRenderer(),
        )
        self.checker = Checker(
            self.uow_factory,
            self.fetcher,
            self.extractor,
            self.clock,
            CheckConfig(
                interval=interval,
                batch=settings.check_batch,
                concurrency=settings.check_concurrency,
                lease=timedelta(seconds=settings.check_lease),
            ),
            policy,
        )
        self.delivery = Delivery(
            self.uow_factory,
            self.notifiers,
            self.clock,
            claim_for=timedelta(seconds=settings.delivery_claim),
        )
        self._scheduler: AsyncIOScheduler | None = None
        self._telegram = None

    async def migrate_if_sqlite(self) -> None:
        """SQLite databases are brought up to date automatically; PostgreSQL via `migrate`,
        so several processes never race to change a shared schema: they refuse to start on
        an old one instead."""
        url = self.settings.database_url
        if await at_head(self.engine):
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
        return await self.checker.run_once()

    async def deliver_once(self) -> DeliveryReport:
        return await self.delivery.run_once()

    def start_scheduler(self) -> None:
        """Check and delivery ticks every PRICEBOT_TICK seconds; a slow tick is never doubled."""
        # Imported here: `pricebot check` and the demo never schedule anything.
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone="UTC")
        options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self._check_tick, "interval", seconds=self.settings.tick, **options)
        scheduler.add_job(
            self._delivery_tick, "interval", seconds=min(self.settings.tick, 2.0), **options
        )
        scheduler.start()
        self._scheduler = scheduler

    async def _check_tick(self) -> None:
        try:
            report = await self.checker.run_once()
            if report.checked:
                log.info(
                    "checked %d products: %d ok, %d failed, %d alerts",
                    report.checked,
                    report.succeeded,
                    report.failed,
                    report.alerts,
                )
        except Exception:
            log.exception("check tick failed")

    async def _delivery_tick(self) -> None:
        try:
            await self.delivery.run_once()
        except Exception:
            log.exception("delivery tick failed")

    async def start_telegram(self) -> None:
        """The Telegram front end and notifier: long polling by default, or a webhook server
        when PRICEBOT_TELEGRAM_WEBHOOK_URL is set (so several replicas can share one bot)."""
        from adapters.telegram.app import build_application, register_commands
        from adapters.telegram.notifier import TelegramNotifier
        from adapters.telegram.redact import install_token_redaction

        assert self.settings.telegram_token is not None
        token = self.settings.telegram_token.get_secret_value()
        webhook_url = self.settings.telegram_webhook_url
        secret = webhook_secret(self.settings) if webhook_url else None
        # PTB logs setWebhook's parameters at DEBUG, the secret among them.
        install_token_redaction(token, *([secret] if secret else []))
        application = build_application(
            token=token, base_url=self.settings.telegram_base_url, front_door=self.dispatcher
        )
        self._telegram = application  # from here on close() stops whatever did start
        await application.initialize()
        await register_commands(application.bot, self.dispatcher)
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
        self.notifiers["telegram"] = TelegramNotifier(application.bot)

    async def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._telegram is not None:
            application, self._telegram = self._telegram, None
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            await application.shutdown()
        await self.fetcher.aclose()
        await self.uow_factory.aclose()
        await self.engine.dispose()


def webhook_secret(settings: Settings) -> str:
    """PRICEBOT_TELEGRAM_WEBHOOK_SECRET, or one derived from the token: every replica derives
    the same, and nobody without the token can forge updates to the webhook."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    assert settings.telegram_token is not None
    token = settings.telegram_token.get_secret_value()
    return hashlib.sha256(f"pricebot-telegram-webhook:{token}".encode()).hexdigest()


def configure_logging(settings: Settings, stream: TextIO = sys.stderr) -> None:
    logging.basicConfig(
        level=settings.log_level,
        stream=stream,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; the Telegram one carries the bot token.
    logging.getLogger("httpx").setLevel(
        max(logging.WARNING, logging.getLevelName(settings.log_level))
    )
