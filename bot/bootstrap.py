"""The one bootstrap: pricebot's object graph built from Settings, for every command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from adapters.charts.price_chart import MatplotlibChartRenderer
from adapters.extract import PageExtractor
from adapters.storage.engine import make_engine
from adapters.storage.uow import SqlUnitOfWorkFactory
from adapters.web.fetcher import HttpFetcher
from adapters.web.policy import FetchPolicy
from bot.market import build_market
from bot.settings import Settings
from core.alerts import AlertPolicy
from core.chat.call import ChatConfig, Market, Services
from core.chat.catalog import build_registry
from core.chat.dispatcher import Dispatcher
from core.checking import CheckConfig, Checker
from core.delivery import Delivery
from core.ports import Clock, Extractor, Fetcher, Notifier, SystemClock
from core.reading import PageReader

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from telegram.ext import ExtBot

    from adapters.discord import DiscordPlatform


def redact_secrets(settings: Settings) -> None:
    """Keeps every token and secret of `settings` out of the logs from here on."""
    from adapters.redact import install_token_redaction

    if secrets := settings.secrets():
        install_token_redaction(*secrets)


def fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        connect_timeout=settings.connect_timeout,
        total_timeout=settings.total_timeout,
        max_bytes=settings.max_page_bytes,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_min_gap=settings.per_host_min_gap,
        allow_private_hosts=settings.allow_private_hosts,
    )


class StoredState:
    """Named values in the database (core.ports.StateRepository) for adapters that keep
    something between runs and replicas, each read or write in a transaction of its own."""

    def __init__(self, uow_factory: SqlUnitOfWorkFactory) -> None:
        self._uow = uow_factory

    async def get(self, key: str) -> str | None:
        async with self._uow() as uow:
            return await uow.state.get(key)

    async def put(self, key: str, value: str) -> None:
        async with self._uow() as uow:
            await uow.state.put(key, value)
            await uow.commit()


@dataclass
class App:
    """Every long-lived part, wired. `notifiers` is complete: delivery sees every platform
    that has a token from the start, whatever front ends the command runs."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow_factory: SqlUnitOfWorkFactory
    fetcher: Fetcher
    reader: PageReader
    dispatcher: Dispatcher
    checker: Checker
    delivery: Delivery
    notifiers: dict[str, Notifier]
    telegram_bot: ExtBot[Any] | None = None
    market: Market | None = None
    discord: DiscordPlatform | None = None


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    fetcher: Fetcher | None = None,
    extractor: Extractor | None = None,
    notifiers: Mapping[str, Notifier] | None = None,
) -> App:
    """Builds (does not start) everything `settings` asks for; the parts given replace the
    real ones (tests, the demo's clock)."""
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    uow_factory = SqlUnitOfWorkFactory(engine)
    fetcher = fetcher or HttpFetcher(fetch_policy(settings))
    extractor = extractor or PageExtractor(budget_seconds=settings.extract_budget)
    # The reader's own guard is for an extractor that overruns its budget (stuck in C).
    reader = PageReader(fetcher, extractor, clock, guard=settings.extract_budget * 2 + 1)
    policy = AlertPolicy(
        cooldown=timedelta(seconds=settings.alert_cooldown), daily_cap=settings.daily_alert_cap
    )
    interval = timedelta(seconds=settings.check_interval)
    registry = build_registry()
    market = build_market(settings, uow_factory, clock, policy)
    services = Services(
        uow=uow_factory,
        reader=reader,
        clock=clock,
        config=ChatConfig(
            max_watches_per_user=settings.max_watches_per_user,
            max_watches_per_community=settings.max_watches_per_server,
            check_interval=interval,
            alert_policy=policy,
            commands_per_minute=settings.commands_per_minute,
            tracks_per_minute=settings.tracks_per_minute,
            bot_admins=settings.admin_keys,
            read_timeout=timedelta(seconds=settings.total_timeout),
        ),
        charts=MatplotlibChartRenderer(),
        registry=registry,
        market=market,
    )
    checker = Checker(
        uow_factory,
        reader,
        clock,
        CheckConfig(
            interval=interval,
            batch=settings.check_batch,
            concurrency=settings.check_concurrency,
            lease=timedelta(seconds=settings.check_lease),
        ),
        policy,
    )
    all_notifiers = dict(notifiers or {})
    # Before any client exists: the libraries log their URLs, tokens included, as they start.
    redact_secrets(settings)
    dispatcher = Dispatcher(registry, services)
    telegram_bot = None
    if settings.telegram_token is not None:
        from adapters.telegram.app import build_bot
        from adapters.telegram.notifier import TelegramNotifier

        token = settings.telegram_token.get_secret_value()
        telegram_bot = build_bot(token, settings.telegram_base_url)
        all_notifiers.setdefault("telegram", TelegramNotifier(telegram_bot))
    discord = None
    if settings.discord_token is not None:
        from adapters.discord import build_discord

        discord = build_discord(
            token=settings.discord_token.get_secret_value(),
            api_base=settings.discord_api_base,
            front_door=dispatcher,
            state=StoredState(uow_factory),
            prefix=settings.discord_prefix,
        )
        all_notifiers.setdefault("discord", discord.notifier)
    delivery = Delivery(
        uow_factory, all_notifiers, clock, claim_for=timedelta(seconds=settings.delivery_claim)
    )
    return App(
        settings=settings,
        clock=clock,
        engine=engine,
        uow_factory=uow_factory,
        fetcher=fetcher,
        reader=reader,
        dispatcher=dispatcher,
        checker=checker,
        delivery=delivery,
        notifiers=all_notifiers,
        telegram_bot=telegram_bot,
        discord=discord,
        market=market,
    )
