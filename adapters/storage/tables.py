"""SQLModel tables: the database schema of pricebot (Alembic compares migrations to this)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from adapters.storage.types import ExactDecimal, SafeString, SafeText, UTCDateTime

# Deterministic constraint names: Alembic can only alter or drop named constraints, and
# SQLite batch migrations need them to rebuild a table.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = SQLModel.metadata

# Tables that grow with time get 64-bit ids on PostgreSQL; SQLite only auto-increments a
# column declared exactly INTEGER PRIMARY KEY, which is 64-bit there anyway.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Short identifiers (platform names, chat ids, user keys, enum values).
PLATFORM = String(16)
CHAT_ID = SafeString(64)
USER_KEY = SafeString(128)
CODE = String(32)
CURRENCY = String(3)
TOKEN = String(32)
Text = SafeText  # every free text column: titles, names, reasons, URLs


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_type=USER_KEY)  # UserRef.key, e.g. "telegram:123"
    display_name: str = Field(default="", sa_type=Text)
    banned: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)


class ChatRow(SQLModel, table=True):
    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    kind: str = Field(sa_type=CODE)
    active: bool = True
    inactive_reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)


class ProductRow(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (
        # A hash, not the URL itself: PostgreSQL's btree refuses keys over 2704 bytes, and a
        # product URL may be up to 4096 characters.
        UniqueConstraint("url_key"),
        Index("ix_products_status_last_success_at", "status", "last_success_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of the URL and the CSS selector: one product row per way of reading a page.
    url_key: str = Field(sa_type=String(64))
    url: str = Field(sa_type=Text)
    title: str | None = Field(default=None, sa_type=Text)
    image: str | None = Field(default=None, sa_type=Text)
    currency: str | None = Field(default=None, sa_type=CURRENCY)
    price: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    availability: str = Field(sa_type=CODE)
    status: str = Field(sa_type=CODE)
    status_reason: str | None = Field(default=None, sa_type=Text)
    failure_count: int = 0
    next_check_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    css_selector: str | None = Field(default=None, sa_type=Text)
    low_30d: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    high_30d: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    avg_30d: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    low_all: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    high_all: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    body_digest: str | None = Field(default=None, sa_type=String(64))
    claim_token: str | None = Field(default=None, sa_type=TOKEN)


class PricePointRow(SQLModel, table=True):
    __tablename__ = "price_points"
    __table_args__ = (Index("ix_price_points_product_id_observed_at", "product_id", "observed_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    product_id: int = Field(foreign_key="products.id", ondelete="CASCADE")
    observed_at: datetime = Field(sa_type=UTCDateTime)
    price: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    currency: str | None = Field(default=None, sa_type=CURRENCY)
    availability: str = Field(sa_type=CODE)


class WatchRow(SQLModel, table=True):
    __tablename__ = "watches"
    __table_args__ = (
        Index("ix_watches_product_id_active", "product_id", "active"),
        Index("ix_watches_owner_active", "owner", "active"),
        Index("ix_watches_platform_chat_id", "platform", "chat_id"),
        Index("ix_watches_platform_community_active", "platform", "community", "active"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(sa_type=USER_KEY)
    product_id: int = Field(foreign_key="products.id", ondelete="CASCADE")
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    thread_id: str | None = Field(default=None, sa_type=CHAT_ID)
    rule_kind: str = Field(sa_type=CODE)
    target_amount: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    target_currency: str | None = Field(default=None, sa_type=CURRENCY)
    rule_percent: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    created_at: datetime = Field(sa_type=UTCDateTime)
    active: bool = True
    baseline_price: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    baseline_currency: str | None = Field(default=None, sa_type=CURRENCY)
    last_alert_price: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    last_alert_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_alert_kind: str | None = Field(default=None, sa_type=CODE)
    target_armed: bool = True
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    paused_reason: str | None = Field(default=None, sa_type=Text)
    # The Discord server of the watch's chat (per-server limits); None elsewhere.
    community: str | None = Field(default=None, sa_type=CHAT_ID)


class MarketItemRow(SQLModel, table=True):
    """A card printing in one finish, or a tracked page: what holdings are of."""

    __tablename__ = "market_items"
    __table_args__ = (
        UniqueConstraint("item_key"),
        Index("ix_market_items_next_refresh_at", "next_refresh_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # SHA-256 of what identifies the item (source, source id, finish; or the product).
    item_key: str = Field(sa_type=String(64))
    kind: str = Field(sa_type=CODE)
    name: str = Field(sa_type=Text)
    source: str | None = Field(default=None, sa_type=CODE)
    source_id: str | None = Field(default=None, sa_type=Text)
    finish: str | None = Field(default=None, sa_type=String(64))
    product_id: int | None = Field(
        default=None, foreign_key="products.id", ondelete="CASCADE", index=True
    )
    game: str | None = Field(default=None, sa_type=CODE)
    set_name: str | None = Field(default=None, sa_type=Text)
    number: str | None = Field(default=None, sa_type=String(64))
    image: str | None = Field(default=None, sa_type=Text)
    url: str | None = Field(default=None, sa_type=Text)
    next_refresh_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refreshed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The price holdings are valued at (core.portfolio.MarketItem.price).
    price_amount: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    price_currency: str | None = Field(default=None, sa_type=CURRENCY)
    price_source: str | None = Field(default=None, sa_type=CODE)
    price_market: str | None = Field(default=None, sa_type=CODE)
    price_kind: str | None = Field(default=None, sa_type=CODE)
    priced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MarketPriceRow(SQLModel, table=True):
    """Every observed price of every item, from every source and listing."""

    __tablename__ = "market_prices"
    __table_args__ = (
        Index(
            "ix_market_prices_item_id_currency_observed_at", "item_id", "currency", "observed_at"
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    item_id: int = Field(foreign_key="market_items.id", ondelete="CASCADE")
    source: str = Field(sa_type=CODE)
    market: str = Field(sa_type=CODE)
    kind: str = Field(sa_type=CODE)
    amount: Decimal = Field(sa_type=ExactDecimal)
    currency: str = Field(sa_type=CURRENCY)
    # The amount in minor units, an exact integer both databases can sum, order and average
    # (ExactDecimal is text on SQLite and must not be aggregated there).
    amount_minor: int = Field(sa_type=BigInteger)
    observed_at: datetime = Field(sa_type=UTCDateTime)


class HoldingRow(SQLModel, table=True):
    __tablename__ = "holdings"
    __table_args__ = (
        Index("ix_holdings_platform_chat_id", "platform", "chat_id"),
        Index("ix_holdings_item_id_active", "item_id", "active"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(sa_type=USER_KEY)
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    thread_id: str | None = Field(default=None, sa_type=CHAT_ID)
    item_id: int = Field(foreign_key="market_items.id", ondelete="CASCADE")
    quantity: int
    cost_amount: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    cost_currency: str | None = Field(default=None, sa_type=CURRENCY)
    condition: str | None = Field(default=None, sa_type=Text)
    alert_pct: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    alert_armed: bool = True
    last_alert_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ask_amount: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    ask_currency: str | None = Field(default=None, sa_type=CURRENCY)
    ask_platform: str | None = Field(default=None, sa_type=CODE)
    ask_armed: bool = True
    active: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)


class PortfolioSnapshotRow(SQLModel, table=True):
    """A chat's holdings' total value per currency, once a day (the portfolio chart): taken
    from the items' carried prices, so a source that fails never makes it dip."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "day", "currency"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    day: datetime = Field(sa_type=UTCDateTime)  # midnight UTC of the day
    currency: str = Field(sa_type=CURRENCY)
    value: Decimal = Field(sa_type=ExactDecimal)


class MarketplaceRow(SQLModel, table=True):
    """An item's market on one marketplace: lowest ask, highest bid, last sale. The seller fee
    is the operator's setting, applied when proceeds are worked out, never stored."""

    __tablename__ = "marketplace_data"
    __table_args__ = (
        UniqueConstraint("item_id", "platform"),
        # A fraction; compared as REAL because SQLite keeps exact decimals as text.
        CheckConstraint(
            "volatility IS NULL OR CAST(volatility AS REAL) BETWEEN 0 AND 1", name="volatility"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="market_items.id", ondelete="CASCADE")
    platform: str = Field(sa_type=CODE)
    item_ref: str = Field(sa_type=Text)
    currency: str = Field(sa_type=CURRENCY)
    lowest_ask: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    highest_bid: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    last_sale: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    sales_30d: int | None = None
    volatility: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    as_of: datetime = Field(sa_type=UTCDateTime)


class FeedRow(SQLModel, table=True):
    __tablename__ = "feeds"
    __table_args__ = (Index("ix_feeds_platform_chat_id", "platform", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    thread_id: str | None = Field(default=None, sa_type=CHAT_ID)
    min_drop_pct: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    filter_text: str | None = Field(default=None, sa_type=Text)
    active: bool = True
    created_by: str = Field(sa_type=USER_KEY)
    created_at: datetime = Field(sa_type=UTCDateTime)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_owner_created_at", "owner", "created_at"),
        Index("ix_outbox_platform_chat_id_status", "platform", "chat_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    dedupe_key: str = Field(sa_type=String(255))
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    thread_id: str | None = Field(default=None, sa_type=CHAT_ID)
    payload: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(sa_type=CODE)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    platform_message_id: str | None = Field(default=None, sa_type=CHAT_ID)
    error: str | None = Field(default=None, sa_type=Text)
    # No foreign key: a message outlives whatever produced it (and feeds have no watch).
    watch_id: int | None = None
    owner: str | None = Field(default=None, sa_type=USER_KEY)
    claim_token: str | None = Field(default=None, sa_type=TOKEN)


class OfferRow(SQLModel, table=True):
    """State a button press needs (the link behind a "Track it" offer)."""

    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("token"), Index("ix_offers_created_at", "created_at"))

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(sa_type=TOKEN)
    owner: str = Field(sa_type=USER_KEY)
    platform: str = Field(sa_type=PLATFORM)
    chat_id: str = Field(sa_type=CHAT_ID)
    # What the button stands for: a link, or the card printings a name matched (JSON).
    payload: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)


class StateRow(SQLModel, table=True):
    """Named values kept between runs and replicas (the registered slash commands' hash)."""

    __tablename__ = "app_state"

    key: str = Field(primary_key=True, sa_type=String(64))
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(sa_type=USER_KEY)
    action: str = Field(sa_type=String(64))
    detail: str = Field(default="", sa_type=Text)


def table_of(model: type[SQLModel]) -> Table:
    """The Core Table behind a SQLModel class (repositories use Core statements)."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


users = table_of(UserRow)
chats = table_of(ChatRow)
products = table_of(ProductRow)
price_points = table_of(PricePointRow)
watches = table_of(WatchRow)
market_items = table_of(MarketItemRow)
market_prices = table_of(MarketPriceRow)
holdings = table_of(HoldingRow)
marketplace_data = table_of(MarketplaceRow)
portfolio_snapshots = table_of(PortfolioSnapshotRow)
feeds = table_of(FeedRow)
outbox = table_of(OutboxRow)
offers = table_of(OfferRow)
app_state = table_of(StateRow)
audit_log = table_of(AuditRow)
