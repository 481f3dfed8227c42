"""Ports: the small abstract classes core talks to; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType

from core.model import ChatAddress, FetchResult, Observation, PricePoint
from core.reply import Reply
from core.repositories import (
    ChatRepository,
    HoldingRepository,
    MarketItemRepository,
    MarketplaceRepository,
    MarketPriceRepository,
    OfferRepository,
    OutboxRepository,
    PricePointRepository,
    ProductRepository,
    StateRepository,
    UserRepository,
    WatchRepository,
)


class Clock(abc.ABC):
    """Tells the time (timezone-aware UTC)."""

    @abc.abstractmethod
    def now(self) -> datetime: ...


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class Fetcher(abc.ABC):
    """Fetches a product page. Raises a core.errors.FetchError subclass on failure."""

    @abc.abstractmethod
    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class Extractor(abc.ABC):
    """Reads an Observation from page bytes: pure CPU work, safe to run on any thread.

    A sold-out page without a price is an Observation with price None and availability
    OutOfStock. Raises NoPriceFound, AmbiguousPrice or PageTooComplex (over its time budget).
    """

    @abc.abstractmethod
    def extract(self, body: bytes, url: str, css_selector: str | None = None) -> Observation: ...

    @abc.abstractmethod
    def selector_is_valid(self, css_selector: str) -> bool:
        """Whether a CSS selector is one the extractor can use (syntax only)."""


class Notifier(abc.ABC):
    """Sends a Reply to a chat on one platform; returns the platform's message id.

    Raises core.errors.ChatGone, RateLimited or TransientDeliveryError.
    """

    platform: str

    @abc.abstractmethod
    async def send(self, address: ChatAddress, reply: Reply, *, key: str | None = None) -> str:
        """`key` is the outbox row's unique dedupe key; a platform that accepts an idempotency
        key (a nonce) gets it, so a resend after a crash cannot show the message twice."""

    async def confirm(self, address: ChatAddress, key: str) -> bool | None:
        """After a crash between sending and recording: was the message with `key` delivered?
        True / False when the platform can tell, None when it cannot (then it is resent)."""
        return None


class ChartRenderer(abc.ABC):
    """Draws a price history as a PNG image."""

    @abc.abstractmethod
    def render(
        self, points: Sequence[PricePoint], *, title: str, currency: str, until: datetime
    ) -> bytes:
        """`points` oldest first, at least one with a price in `currency`."""


class UnitOfWork(abc.ABC):
    """One transaction over every repository: commit all or nothing."""

    products: ProductRepository
    price_points: PricePointRepository
    watches: WatchRepository
    outbox: OutboxRepository
    chats: ChatRepository
    users: UserRepository
    offers: OfferRepository
    state: StateRepository
    items: MarketItemRepository
    market_prices: MarketPriceRepository
    holdings: HoldingRepository
    marketplaces: MarketplaceRepository

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(abc.ABC):
    """Makes a fresh UnitOfWork per transaction."""

    @abc.abstractmethod
    def __call__(self) -> UnitOfWork: ...


# Repository ports are defined in core.repositories; they are part of this module's surface.
__all__ = [
    "ChartRenderer",
    "ChatRepository",
    "Clock",
    "Extractor",
    "Fetcher",
    "HoldingRepository",
    "MarketItemRepository",
    "MarketPriceRepository",
    "MarketplaceRepository",
    "Notifier",
    "OfferRepository",
    "OutboxRepository",
    "PricePointRepository",
    "ProductRepository",
    "StateRepository",
    "SystemClock",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "WatchRepository",
]
