"""Ports: the small abstract classes core talks to; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType

from core.model import (
    ChatAddress,
    FetchResult,
    Observation,
    OutboxMessage,
    PricePoint,
    Product,
    Stats,
    Watch,
)
from core.reply import Reply


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
    """Reads an Observation from page bytes. Raises NoPriceFound / AmbiguousPrice."""

    @abc.abstractmethod
    def extract(self, body: bytes, url: str, css_selector: str | None = None) -> Observation: ...


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


class ProductRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, product_id: int) -> Product | None: ...

    async def get_many(self, product_ids: Sequence[int]) -> dict[int, Product]:
        """The products that exist among `product_ids`, by id. One query in the SQL adapter;
        this default asks one by one."""
        found = {}
        for product_id in product_ids:
            product = await self.get(product_id)
            if product is not None:
                found[product_id] = product
        return found

    @abc.abstractmethod
    async def get_by_url(self, url: str) -> Product | None: ...

    @abc.abstractmethod
    async def add(self, product: Product) -> Product: ...

    @abc.abstractmethod
    async def update(self, product: Product) -> None: ...

    @abc.abstractmethod
    async def claim_due(self, now: datetime, until: datetime, limit: int) -> list[Product]:
        """Products with an interested watch and next_check_at <= now; pushes their
        next_check_at to `until` so a concurrent worker does not take them too."""

    @abc.abstractmethod
    async def mark_stale(self, older_than: datetime) -> int: ...


class PricePointRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, point: PricePoint) -> PricePoint: ...

    @abc.abstractmethod
    async def latest(self, product_id: int) -> PricePoint | None: ...

    async def latest_many(self, product_ids: Sequence[int]) -> dict[int, PricePoint]:
        """The newest point of each product that has one, by product id."""
        found = {}
        for product_id in product_ids:
            point = await self.latest(product_id)
            if point is not None:
                found[product_id] = point
        return found

    @abc.abstractmethod
    async def since(self, product_id: int, start: datetime) -> list[PricePoint]: ...

    @abc.abstractmethod
    async def stats(self, product_id: int, start: datetime | None) -> Stats: ...


class WatchRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, watch: Watch) -> Watch: ...

    @abc.abstractmethod
    async def update(self, watch: Watch) -> None: ...

    @abc.abstractmethod
    async def get_owned(self, owner: str, watch_id: int) -> Watch | None:
        """The watch only if `owner` owns it and it is active."""

    @abc.abstractmethod
    async def list_owned(self, owner: str) -> list[Watch]: ...

    @abc.abstractmethod
    async def count_owned(self, owner: str) -> int: ...

    @abc.abstractmethod
    async def find(self, owner: str, product_id: int, address: ChatAddress) -> Watch | None: ...

    @abc.abstractmethod
    async def for_product(self, product_id: int) -> list[Watch]: ...

    async def for_products(self, product_ids: Sequence[int]) -> dict[int, list[Watch]]:
        """Active watches of each product (every id present, maybe with no watches)."""
        return {product_id: await self.for_product(product_id) for product_id in product_ids}

    @abc.abstractmethod
    async def pause_for_chat(self, address: ChatAddress, reason: str) -> int: ...


class OutboxRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, message: OutboxMessage) -> bool:
        """Adds the message unless its dedupe key is already there; True when added."""

    @abc.abstractmethod
    async def pending(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Open rows (pending, or sending with an expired claim) that are due, oldest first,
        leaving out every row queued behind an earlier open row of the same chat that is not
        due yet: a chat's messages go out in the order they were written."""

    @abc.abstractmethod
    async def claim(self, message_id: int, now: datetime, until: datetime) -> bool:
        """Marks a due open row `sending` until `until`; False when another run has it."""

    @abc.abstractmethod
    async def update(self, message: OutboxMessage) -> None: ...

    @abc.abstractmethod
    async def close_pending_for_chat(self, address: ChatAddress, reason: str) -> int: ...

    @abc.abstractmethod
    async def count_sent_since(self, owner: str, start: datetime) -> int: ...


class ChatRepository(abc.ABC):
    @abc.abstractmethod
    async def touch(self, address: ChatAddress, kind: str) -> None:
        """Records that the chat exists and is active."""

    @abc.abstractmethod
    async def deactivate(self, address: ChatAddress, reason: str) -> None: ...

    @abc.abstractmethod
    async def is_active(self, address: ChatAddress) -> bool: ...


class UserRepository(abc.ABC):
    @abc.abstractmethod
    async def ensure(self, key: str, display_name: str) -> None: ...

    @abc.abstractmethod
    async def is_banned(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def set_banned(self, key: str, banned: bool) -> None: ...

    @abc.abstractmethod
    async def count(self) -> int: ...


class AuditRepository(abc.ABC):
    @abc.abstractmethod
    async def record(self, actor: str, action: str, detail: str, at: datetime) -> None: ...


class UnitOfWork(abc.ABC):
    """One transaction over every repository: commit all or nothing."""

    products: ProductRepository
    price_points: PricePointRepository
    watches: WatchRepository
    outbox: OutboxRepository
    chats: ChatRepository
    users: UserRepository
    audit: AuditRepository

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


def decimal_or_none(value: object) -> Decimal | None:
    """Converts a stored numeric to Decimal, keeping None."""
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


__all__: Sequence[str] = [
    "AuditRepository",
    "ChartRenderer",
    "ChatRepository",
    "Clock",
    "Extractor",
    "Fetcher",
    "Notifier",
    "OutboxRepository",
    "PricePointRepository",
    "ProductRepository",
    "SystemClock",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "WatchRepository",
]
