"""Domain records: observations, products, watches, price points, outbox messages."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.money import Money


class Availability(enum.StrEnum):
    IN_STOCK = "InStock"
    OUT_OF_STOCK = "OutOfStock"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one read of a product page found. Produced by an extractor, no I/O involved."""

    price: Decimal | None
    currency: str | None
    availability: Availability = Availability.UNKNOWN
    title: str | None = None
    image: str | None = None
    canonical_url: str | None = None
    method: str = "none"
    confidence: float = 0.0

    @property
    def money(self) -> Money | None:
        if self.price is None or self.currency is None:
            return None
        return Money(self.price, self.currency)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A fetched page: final URL after redirects, body bytes and cache validators."""

    url: str
    status: int
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class ChatAddress:
    """Where to reply: platform, chat id and optional thread (forum topic)."""

    platform: str
    chat_id: str
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class UserRef:
    """Who sent a command: platform plus the platform's user id."""

    platform: str
    user_id: str
    display_name: str = ""

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"


class ChatKind(enum.StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class ChatContext:
    """Who said something, and where. Whether they administer that chat is asked of the
    platform only when a command needs to know (`admin_check`), since asking costs a call."""

    user: UserRef
    address: ChatAddress
    chat_kind: ChatKind = ChatKind.PRIVATE
    admin_check: Callable[[], Awaitable[bool]] | None = field(default=None, compare=False)
    # The community the chat belongs to, where a platform has one (a Discord server's id):
    # limits that apply per server count there.
    community: str | None = None

    async def administers_chat(self) -> bool:
        """True in private chats (one's own), else what the platform says."""
        if self.chat_kind is ChatKind.PRIVATE:
            return True
        return self.admin_check is not None and await self.admin_check()


class RuleKind(enum.StrEnum):
    ANY_DROP = "any"
    TARGET = "target"
    DROP_PERCENT = "drop"
    RESTOCK = "stock"
    DEVIATION = "deviation"  # N % or more from the 30-day average, either way
    BELOW_AVERAGE = "below_avg"  # N % or more below it
    ABOVE_AVERAGE = "above_avg"  # N % or more above it


DEVIATION_RULES = frozenset({RuleKind.DEVIATION, RuleKind.BELOW_AVERAGE, RuleKind.ABOVE_AVERAGE})


@dataclass(frozen=True, slots=True)
class Rule:
    """What a watch alerts on."""

    kind: RuleKind
    target: Money | None = None
    percent: Decimal | None = None

    def describe(self) -> str:
        if self.kind is RuleKind.TARGET and self.target is not None:
            return f"alert when the price is {self.target.format()} or less"
        if self.kind is RuleKind.DROP_PERCENT and self.percent is not None:
            return f"alert when the price drops {self.percent}% or more"
        if self.kind is RuleKind.RESTOCK:
            return "alert when it is back in stock"
        if self.kind in DEVIATION_RULES and self.percent is not None:
            way = {
                RuleKind.DEVIATION: "away from",
                RuleKind.BELOW_AVERAGE: "below",
                RuleKind.ABOVE_AVERAGE: "above",
            }[self.kind]
            return f"alert when the price is {self.percent}% or more {way} its 30-day average"
        return "alert on any price drop"


class ProductStatus(enum.StrEnum):
    OK = "ok"
    STALE = "stale"
    BROKEN = "broken"


@dataclass(slots=True)
class Product:
    id: int | None
    url: str
    title: str | None = None
    image: str | None = None
    currency: str | None = None
    price: Decimal | None = None
    availability: Availability = Availability.UNKNOWN
    status: ProductStatus = ProductStatus.OK
    status_reason: str | None = None
    failure_count: int = 0
    next_check_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    css_selector: str | None = None
    low_30d: Decimal | None = None
    high_30d: Decimal | None = None
    avg_30d: Decimal | None = None
    low_all: Decimal | None = None
    high_all: Decimal | None = None
    # Digest of the page bytes behind the current reading (see core.reading.page_digest);
    # None when the last check did not read the page in full.
    body_digest: str | None = None
    # Which check run holds the product right now (core.checking fences its writes with it).
    claim_token: str | None = None

    @property
    def money(self) -> Money | None:
        if self.price is None or self.currency is None:
            return None
        return Money(self.price, self.currency)


@dataclass(frozen=True, slots=True)
class PricePoint:
    id: int | None
    product_id: int
    observed_at: datetime
    price: Decimal | None
    currency: str | None
    availability: Availability


@dataclass(slots=True)
class Watch:
    id: int | None
    owner: str  # UserRef.key of the owner
    product_id: int
    address: ChatAddress
    rule: Rule
    created_at: datetime
    active: bool = True
    baseline_price: Decimal | None = None
    baseline_currency: str | None = None
    last_alert_price: Decimal | None = None
    last_alert_at: datetime | None = None
    last_alert_kind: str | None = None
    target_armed: bool = True
    snoozed_until: datetime | None = None
    paused_reason: str | None = None
    community: str | None = None  # the Discord server of the chat, where there is one


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a delivery run; in doubt if that run died
    SENT = "sent"
    UNDELIVERABLE = "undeliverable"


@dataclass(slots=True)
class OutboxMessage:
    id: int | None
    dedupe_key: str
    address: ChatAddress
    payload: dict  # a Reply in its JSON form (core.reply.Reply.to_dict)
    created_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    platform_message_id: str | None = None
    error: str | None = None
    watch_id: int | None = None
    owner: str | None = None
    claim_token: str | None = None  # the delivery run sending it now


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of a product's price history."""

    low: Decimal | None
    high: Decimal | None
    average: Decimal | None
    points: int = 0
    extra: dict = field(default_factory=dict)


def summarize(prices: Sequence[tuple[Decimal, str | None]]) -> Stats:
    """Low/high/average of (price, currency) pairs, oldest first, in the newest currency.

    Done in Python because SQLite keeps these amounts as text (exact, but not comparable
    or summable in SQL without going through float).
    """
    if not prices:
        return Stats(None, None, None, 0)
    currency = prices[-1][1]
    amounts = [price for price, cur in prices if cur == currency]
    return Stats(
        low=min(amounts),
        high=max(amounts),
        average=sum(amounts, Decimal(0)) / len(amounts),
        points=len(amounts),
        extra={"currency": currency},
    )
