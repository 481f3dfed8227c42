"""What a command handler gets: who called where, and the services it may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from core.alerts import AlertPolicy
from core.chat.registry import Registry
from core.market import ExchangeRates, MarketplaceSource, MarketSource
from core.model import ChatContext
from core.ports import ChartRenderer, Clock, UnitOfWorkFactory
from core.reading import PageReader
from core.refreshing import MarketRefresher


@dataclass(frozen=True, slots=True)
class ChatConfig:
    """Limits and policies the chat commands apply."""

    max_watches_per_user: int = 100
    # Per community (a Discord server): every member's watches in all its channels.
    max_watches_per_community: int = 500
    check_interval: timedelta = timedelta(hours=1)
    alert_policy: AlertPolicy = field(default_factory=AlertPolicy)
    page_size: int = 10
    # Per user, in one process: enough for any person, not for a script.
    commands_per_minute: int = 30
    tracks_per_minute: int = 10
    # Bot operators (`platform:user_id`), for commands that need a bot admin.
    bot_admins: frozenset[str] = frozenset()
    # How long /track waits for a shop before it says the shop is too slow.
    read_timeout: timedelta = timedelta(seconds=20)


@dataclass(frozen=True, slots=True)
class Market:
    """Market data for holdings: card sources by name, exchange rates, the refresher that
    prices held items, and the currency totals are shown in."""

    sources: dict[str, MarketSource]
    refresher: MarketRefresher
    rates: ExchangeRates | None = None
    # Marketplace APIs the operator configured (a key), by platform: /holdings market.
    marketplaces: dict[str, MarketplaceSource] = field(default_factory=dict)
    # Seller fee fractions by platform (the settings): /sell applies them when it runs.
    fees: dict[str, Decimal] = field(default_factory=dict)
    currency: str = "EUR"
    # A price older than this is shown as stale (its source refreshes daily).
    stale_after: timedelta = timedelta(days=2)
    max_holdings_per_chat: int = 5000


@dataclass(frozen=True, slots=True)
class Services:
    """The ports and settings command handlers work with."""

    uow: UnitOfWorkFactory
    reader: PageReader
    clock: Clock
    config: ChatConfig = field(default_factory=ChatConfig)
    charts: ChartRenderer | None = None
    registry: Registry | None = None  # for /help
    market: Market | None = None  # holdings, /card, /sell


@dataclass(frozen=True, slots=True)
class Call:
    """One command being run: the caller's chat context and the services."""

    ctx: ChatContext
    services: Services

    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.services.uow

    @property
    def config(self) -> ChatConfig:
        return self.services.config

    @property
    def owner(self) -> str:
        return self.ctx.user.key
