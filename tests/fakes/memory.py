"""In-memory unit of work: the repository ports without a database, with commit/rollback."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from core.market import MarketplaceData
from core.market_stats import MEAN_WINDOW, Window, mean
from core.model import (
    ChatAddress,
    OutboxMessage,
    OutboxStatus,
    PricePoint,
    Product,
    ProductStatus,
    Stats,
    Watch,
    summarize,
)
from core.portfolio import Holding, MarketItem, MarketPrice, MarketStats, to_minor
from core.ports import (
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
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
    WatchRepository,
)

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")


class ConstraintViolation(Exception):
    """What a database would reject: a duplicate unique value or a missing referenced row."""


@dataclass(slots=True)
class ChatState:
    kind: str
    active: bool = True
    inactive_reason: str | None = None


@dataclass(slots=True)
class UserState:
    display_name: str = ""
    banned: bool = False


@dataclass(frozen=True, slots=True)
class Offer:
    owner: str
    address: ChatAddress
    url: str
    at: datetime


@dataclass
class MemoryStore:
    """The committed state every MemoryUnitOfWork of one factory shares.

    Ids come from counters that, like database sequences, are not given back on rollback.
    """

    products: dict[int, Product] = field(default_factory=dict)
    price_points: dict[int, PricePoint] = field(default_factory=dict)
    watches: dict[int, Watch] = field(default_factory=dict)
    outbox: dict[int, OutboxMessage] = field(default_factory=dict)
    chats: dict[tuple[str, str], ChatState] = field(default_factory=dict)
    users: dict[str, UserState] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    items: dict[int, MarketItem] = field(default_factory=dict)
    market_prices: dict[int, MarketPrice] = field(default_factory=dict)
    holdings: dict[int, Holding] = field(default_factory=dict)
    marketplaces: dict[tuple[int, str], MarketplaceData] = field(default_factory=dict)
    snapshots: dict[tuple[str, str, datetime, str], Decimal] = field(default_factory=dict)
    commits: int = 0
    _counters: dict[str, Iterator[int]] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        return next(self._counters.setdefault(table, itertools.count(1)))


class _Table(Generic[K, V]):
    """One table as seen by one unit of work: committed rows plus its own changes.

    Rows are copied on the way in and out, so changing a returned object changes nothing
    until it is passed to update(), as with a database.
    """

    def __init__(self, committed: dict[K, V]) -> None:
        self._committed = committed
        self._changes: dict[K, V] = {}
        self._deleted: set[K] = set()

    def get(self, key: K) -> V | None:
        if key in self._deleted:
            return None
        value = self._changes.get(key, self._committed.get(key))
        return copy.deepcopy(value)

    def put(self, key: K, value: V) -> None:
        self._deleted.discard(key)
        self._changes[key] = copy.deepcopy(value)

    def delete(self, key: K) -> None:
        self._deleted.add(key)
        self._changes.pop(key, None)

    def __contains__(self, key: object) -> bool:
        if key in self._deleted:
            return False
        return key in self._changes or key in self._committed

    def rows(self) -> list[tuple[K, V]]:
        merged = {**self._committed, **self._changes}
        return [
            (key, copy.deepcopy(value)) for key, value in merged.items() if key not in self._deleted
        ]

    def values(self) -> list[V]:
        return [value for _, value in self.rows()]

    def changed(self) -> dict[K, V]:
        return self._changes

    def commit(self) -> None:
        self._committed.update(self._changes)
        for key in self._deleted:
            self._committed.pop(key, None)
        self._changes.clear()
        self._deleted.clear()

    def rollback(self) -> None:
        self._changes.clear()
        self._deleted.clear()


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pricebot stores timezone-aware UTC")
    return value.astimezone(UTC)


def _stored(record: R) -> R:
    """What a database would keep: datetimes as aware UTC, no floats for amounts, in the
    records a record holds too (a watch's rule, an item's current price: their columns sit
    in the same row and go through the same column types)."""
    assert is_dataclass(record) and not isinstance(record, type)
    changes: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, datetime):
            changes[f.name] = _utc(value)
        elif isinstance(value, float):
            raise TypeError(f"{f.name} must be a Decimal, not a float")
        elif is_dataclass(value) and not isinstance(value, type):
            inner = _stored(value)
            if inner is not value:
                changes[f.name] = inner
    return replace(record, **changes) if changes else record  # type: ignore[type-var]


def _same_chat(address: ChatAddress, other: ChatAddress) -> bool:
    return (address.platform, address.chat_id) == (other.platform, other.chat_id)


class _MemoryRepository:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow
        self._store = uow.store


def _same_key(product: Product, url: str, css_selector: str | None) -> bool:
    return (product.url, product.css_selector or None) == (url, css_selector or None)


class MemoryProductRepository(_MemoryRepository, ProductRepository):
    async def get(self, product_id: int) -> Product | None:
        return self._uow.t_products.get(product_id)

    async def get_many(self, product_ids: Sequence[int]) -> dict[int, Product]:
        found = {pid: self._uow.t_products.get(pid) for pid in product_ids}
        return {pid: product for pid, product in found.items() if product is not None}

    async def get_by_url(self, url: str, css_selector: str | None = None) -> Product | None:
        products = self._uow.t_products.values()
        return next((p for p in products if _same_key(p, url, css_selector)), None)

    async def get_or_add(self, product: Product) -> Product:
        # The committed rows too: a concurrent transaction's insert wins, as with ON CONFLICT.
        committed = [p for p in self._store.products.values()]
        for known in (*self._uow.t_products.values(), *committed):
            if _same_key(known, product.url, product.css_selector):
                return copy.deepcopy(known)
        product.id = self._store.next_id("products")
        self._uow.t_products.put(product.id, _stored(product))
        return product

    async def update(self, product: Product) -> None:
        if product.id in self._uow.t_products:
            self._uow.t_products.put(product.id, _stored(product))

    async def claim_due(
        self, due: datetime, until: datetime, limit: int, token: str
    ) -> list[Product]:
        interested = {w.product_id for w in self._uow.t_watches.values() if w.active}
        held = {h.item_id for h in self._uow.t_holdings.values() if h.active}
        interested |= {item.product_id for item in self._uow.t_items.values() if item.id in held}
        found = [
            p
            for p in self._uow.t_products.values()
            if p.id in interested and (p.next_check_at is None or p.next_check_at <= due)
        ]
        found.sort(key=lambda p: (p.next_check_at is not None, p.next_check_at or due, p.id))
        claimed = found[:limit]
        for product in claimed:
            product.next_check_at = _utc(until)
            product.claim_token = token
            self._uow.t_products.put(product.id, product)
        return claimed

    async def release_claims(self, product_ids: Sequence[int], token: str) -> set[int]:
        held = set()
        for product_id in product_ids:
            product = self._uow.t_products.get(product_id)
            if product is not None and product.claim_token == token:
                product.claim_token = None
                self._uow.t_products.put(product_id, product)
                held.add(product_id)
        return held

    async def mark_stale(self, older_than: datetime) -> int:
        stale = [
            p
            for p in self._uow.t_products.values()
            if p.status is ProductStatus.OK
            and p.last_success_at is not None
            and p.last_success_at < older_than
        ]
        for product in stale:
            product.status = ProductStatus.STALE
            self._uow.t_products.put(product.id, product)
        return len(stale)


class MemoryPricePointRepository(_MemoryRepository, PricePointRepository):
    def _of(self, product_id: int) -> list[PricePoint]:
        points = [p for p in self._uow.t_price_points.values() if p.product_id == product_id]
        return sorted(points, key=lambda p: (p.observed_at, p.id))

    async def add(self, point: PricePoint) -> PricePoint:
        if point.product_id not in self._uow.t_products:
            raise ConstraintViolation(f"no product {point.product_id}")
        stored = _stored(replace(point, id=self._store.next_id("price_points")))
        self._uow.t_price_points.put(stored.id, stored)
        return stored

    async def latest(self, product_id: int) -> PricePoint | None:
        points = self._of(product_id)
        return points[-1] if points else None

    async def latest_many(self, product_ids: Sequence[int]) -> dict[int, PricePoint]:
        found = {pid: await self.latest(pid) for pid in product_ids}
        return {pid: point for pid, point in found.items() if point is not None}

    async def since(self, product_id: int, start: datetime) -> list[PricePoint]:
        return [p for p in self._of(product_id) if p.observed_at >= start]

    async def stats(self, product_id: int, start: datetime | None) -> Stats:
        return summarize(
            [
                (p.price, p.currency)
                for p in self._of(product_id)
                if p.price is not None and (start is None or p.observed_at >= start)
            ]
        )


class MemoryWatchRepository(_MemoryRepository, WatchRepository):
    def _active(self, keep: Callable[[Watch], bool]) -> list[Watch]:
        found = [w for w in self._uow.t_watches.values() if w.active and keep(w)]
        return sorted(found, key=lambda w: w.id or 0)

    async def add(self, watch: Watch) -> Watch:
        if watch.product_id not in self._uow.t_products:
            raise ConstraintViolation(f"no product {watch.product_id}")
        watch.id = self._store.next_id("watches")
        self._uow.t_watches.put(watch.id, _stored(watch))
        return watch

    async def update(self, watch: Watch) -> None:
        if watch.id in self._uow.t_watches:
            self._uow.t_watches.put(watch.id, _stored(watch))

    async def get_in_chat(self, address: ChatAddress, watch_id: int) -> Watch | None:
        found = self._active(lambda w: w.id == watch_id and _same_chat(w.address, address))
        return found[0] if found else None

    async def list_in_chat(self, address: ChatAddress) -> list[Watch]:
        return self._active(lambda w: _same_chat(w.address, address))

    async def find_in_chat(self, address: ChatAddress, url: str) -> Watch | None:
        def of_url(watch: Watch) -> bool:
            product = self._uow.t_products.get(watch.product_id)
            return product is not None and product.url == url

        found = self._active(lambda w: _same_chat(w.address, address) and of_url(w))
        return found[0] if found else None

    async def count_owned(self, owner: str) -> int:
        return len(self._active(lambda w: w.owner == owner))

    async def count_in_community(self, platform: str, community: str) -> int:
        return len(
            self._active(lambda w: w.address.platform == platform and w.community == community)
        )

    async def for_products(self, product_ids: Sequence[int]) -> dict[int, list[Watch]]:
        return {pid: self._active(lambda w, pid=pid: w.product_id == pid) for pid in product_ids}

    async def pause_for_chat(self, address: ChatAddress, reason: str) -> int:
        paused = self._active(lambda w: _same_chat(w.address, address))
        for watch in paused:
            watch.active = False
            watch.paused_reason = reason
            self._uow.t_watches.put(watch.id, watch)
        return len(paused)


_OPEN = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class MemoryOutboxRepository(_MemoryRepository, OutboxRepository):
    async def add(self, message: OutboxMessage) -> bool:
        if any(m.dedupe_key == message.dedupe_key for m in self._uow.t_outbox.values()):
            return False
        message.id = self._store.next_id("outbox")
        self._uow.t_outbox.put(message.id, _stored(message))
        return True

    async def pending(self, now: datetime, limit: int) -> list[OutboxMessage]:
        due: list[OutboxMessage] = []
        held: set[tuple[str, str]] = set()  # chats whose oldest open row is not due yet
        for message in sorted(self._uow.t_outbox.values(), key=lambda m: m.id or 0):
            if message.status not in _OPEN:
                continue
            chat = (message.address.platform, message.address.chat_id)
            if message.next_attempt_at is not None and message.next_attempt_at > now:
                held.add(chat)
            elif chat not in held:
                due.append(message)
        return due[:limit]

    async def claim(self, message_id: int, now: datetime, until: datetime, token: str) -> bool:
        message = self._uow.t_outbox.get(message_id)
        if message is None or message.status not in _OPEN:
            return False
        if message.next_attempt_at is not None and message.next_attempt_at > now:
            return False
        message.status = OutboxStatus.SENDING
        message.next_attempt_at = until
        message.claim_token = token
        self._uow.t_outbox.put(message_id, message)
        return True

    async def update_claimed(self, message: OutboxMessage, token: str) -> bool:
        stored = self._uow.t_outbox.get(message.id or 0)
        if stored is None or stored.claim_token != token:
            return False
        self._uow.t_outbox.put(message.id, _stored(message))
        return True

    async def close_pending_for_chat(self, address: ChatAddress, reason: str) -> int:
        closed = [
            m
            for m in self._uow.t_outbox.values()
            if m.status in _OPEN and _same_chat(m.address, address)
        ]
        for message in closed:
            message.status = OutboxStatus.UNDELIVERABLE
            message.error = reason
            self._uow.t_outbox.put(message.id, message)
        return len(closed)

    async def count_sent_since(self, owner: str, start: datetime) -> int:
        return sum(
            1
            for m in self._uow.t_outbox.values()
            if m.owner == owner
            and m.status in (*_OPEN, OutboxStatus.SENT)
            and m.created_at >= start
        )


class MemoryChatRepository(_MemoryRepository, ChatRepository):
    """Chats by platform and chat id; a chat never seen counts as active."""

    async def touch(self, address: ChatAddress, kind: str) -> None:
        self._uow.t_chats.put((address.platform, address.chat_id), ChatState(kind))

    async def deactivate(self, address: ChatAddress, reason: str) -> None:
        key = (address.platform, address.chat_id)
        state = self._uow.t_chats.get(key) or ChatState("unknown")
        state.active, state.inactive_reason = False, reason
        self._uow.t_chats.put(key, state)


class MemoryUserRepository(_MemoryRepository, UserRepository):
    async def ensure(self, key: str, display_name: str) -> None:
        state = self._uow.t_users.get(key) or UserState()
        if display_name or key not in self._uow.t_users:
            state.display_name = display_name or state.display_name
            self._uow.t_users.put(key, state)

    async def is_banned(self, key: str) -> bool:
        state = self._uow.t_users.get(key)
        return state is not None and state.banned

    async def set_banned(self, key: str, banned: bool) -> None:
        state = self._uow.t_users.get(key) or UserState()
        state.banned = banned
        self._uow.t_users.put(key, state)


class MemoryOfferRepository(_MemoryRepository, OfferRepository):
    async def put(
        self, token: str, owner: str, address: ChatAddress, url: str, at: datetime
    ) -> None:
        self._uow.t_offers.put(token, Offer(owner, address, url, _utc(at)))

    async def take(
        self, token: str, owner: str, address: ChatAddress, since: datetime
    ) -> str | None:
        offer = self._uow.t_offers.get(token)
        taken = None
        if offer is not None and offer.owner == owner and _same_chat(offer.address, address):
            if offer.at >= since:
                self._uow.t_offers.delete(token)
                taken = offer.url
        # Offers nobody pressed are forgotten here, as the database forgets them.
        for old, unpressed in self._uow.t_offers.rows():
            if unpressed.at < since:
                self._uow.t_offers.delete(old)
        return taken


class MemoryStateRepository(_MemoryRepository, StateRepository):
    async def get(self, key: str) -> str | None:
        return self._uow.t_state.get(key)

    async def put(self, key: str, value: str) -> None:
        self._uow.t_state.put(key, value)


def _key(item: MarketItem) -> tuple[object, ...]:
    return (item.kind, item.source, item.source_id, item.finish, item.product_id)


class MemoryMarketItemRepository(_MemoryRepository, MarketItemRepository):
    async def get_many(self, item_ids: Sequence[int]) -> dict[int, MarketItem]:
        found = {item_id: self._uow.t_items.get(item_id) for item_id in item_ids}
        return {item_id: item for item_id, item in found.items() if item is not None}

    async def get_or_add(self, item: MarketItem) -> MarketItem:
        for known in (*self._uow.t_items.values(), *self._store.items.values()):
            if _key(known) == _key(item):
                return copy.deepcopy(known)
        item.id = self._store.next_id("items")
        self._uow.t_items.put(item.id, _stored(item))
        return item

    async def update(self, item: MarketItem) -> None:
        if item.id in self._uow.t_items:
            self._uow.t_items.put(item.id, _stored(item))

    async def due(self, now: datetime, limit: int) -> list[MarketItem]:
        held = {h.item_id for h in self._uow.t_holdings.values() if h.active}
        found = [
            item
            for item in self._uow.t_items.values()
            if item.id in held and (item.next_refresh_at is None or item.next_refresh_at <= now)
        ]
        found.sort(key=lambda i: (i.next_refresh_at is not None, i.next_refresh_at or now, i.id))
        return found[:limit]


class MemoryMarketPriceRepository(_MemoryRepository, MarketPriceRepository):
    """Statistics from the same aggregates the SQL queries compute."""

    async def add(self, price: MarketPrice) -> None:
        if price.item_id not in self._uow.t_items:
            raise ConstraintViolation(f"no market item {price.item_id}")
        self._uow.t_market_prices.put(self._store.next_id("market_prices"), _stored(price))

    def _ordered(self, item_id: int) -> list[MarketPrice]:
        rows = self._uow.rows_of(self._uow.t_market_prices)
        return [price for _, price in sorted(rows) if price.item_id == item_id]

    async def stats(self, item_id: int, currency: str, now: datetime) -> MarketStats:
        prices = [p for p in self._ordered(item_id) if p.price.currency == currency]
        prices.sort(key=lambda p: p.observed_at)
        recent = [to_minor(p.price) for p in prices if p.observed_at >= now - MEAN_WINDOW]
        window = Window(len(recent), sum(recent))
        return MarketStats(
            currency=currency,
            current=prices[-1] if prices else None,
            mean_30d=mean(window, currency),
            observations_30d=window.count,
        )


class MemoryHoldingRepository(_MemoryRepository, HoldingRepository):
    def _active(self, keep: Callable[[Holding], bool]) -> list[Holding]:
        found = [h for h in self._uow.t_holdings.values() if h.active and keep(h)]
        return sorted(found, key=lambda h: h.id or 0)

    async def add(self, holding: Holding) -> Holding:
        if holding.item_id not in self._uow.t_items:
            raise ConstraintViolation(f"no market item {holding.item_id}")
        holding.id = self._store.next_id("holdings")
        self._uow.t_holdings.put(holding.id, _stored(holding))
        return holding

    async def update(self, holding: Holding) -> None:
        if holding.id in self._uow.t_holdings:
            self._uow.t_holdings.put(holding.id, _stored(holding))

    async def get_in_chat(self, address: ChatAddress, holding_id: int) -> Holding | None:
        found = self._active(lambda h: h.id == holding_id and _same_chat(h.address, address))
        return found[0] if found else None

    async def list_in_chat(self, address: ChatAddress) -> list[Holding]:
        return self._active(lambda h: _same_chat(h.address, address))

    async def count_in_chat(self, address: ChatAddress) -> int:
        return len(await self.list_in_chat(address))

    async def for_items(self, item_ids: Sequence[int]) -> dict[int, list[Holding]]:
        return {i: self._active(lambda h, i=i: h.item_id == i) for i in item_ids}

    async def put_snapshot(
        self, address: ChatAddress, day: datetime, values: dict[str, Decimal]
    ) -> None:
        for currency, value in values.items():
            key = (address.platform, address.chat_id, _utc(day), currency)
            self._uow.t_snapshots.put(key, value)

    async def snapshots(
        self, address: ChatAddress, since: datetime
    ) -> list[tuple[datetime, str, Decimal]]:
        rows = [
            (day, currency, value)
            for (platform, chat, day, currency), value in self._uow.t_snapshots.rows()
            if (platform, chat) == (address.platform, address.chat_id) and day >= since
        ]
        return sorted(rows)

    async def snapshotted(
        self, addresses: Sequence[ChatAddress], day: datetime
    ) -> set[ChatAddress]:
        wanted, on = {(a.platform, a.chat_id) for a in addresses}, _utc(day)
        done = {(p, chat) for (p, chat, d, _), _ in self._uow.t_snapshots.rows() if d == on}
        return {ChatAddress(platform, chat) for platform, chat in wanted & done}


class MemoryMarketplaceRepository(_MemoryRepository, MarketplaceRepository):
    async def put(self, item_id: int, data: MarketplaceData) -> None:
        currencies = {m.currency for m in (data.lowest_ask, data.highest_bid, data.last_sale) if m}
        if len(currencies) > 1:
            raise ValueError("a marketplace row holds one currency")
        if item_id not in self._uow.t_items:
            raise ConstraintViolation(f"no market item {item_id}")
        # The row is in its amounts' currency, and says so when read back, as SQL's does.
        stored = replace(data, currency=data.amounts_currency)
        self._uow.t_marketplaces.put((item_id, data.platform), _stored(stored))

    async def for_items(self, item_ids: Sequence[int]) -> dict[int, list[MarketplaceData]]:
        found: dict[int, list[MarketplaceData]] = {item_id: [] for item_id in item_ids}
        for (item_id, _), data in sorted(self._uow.rows_of(self._uow.t_marketplaces)):
            if item_id in found:
                found[item_id].append(data)
        return found


class MemoryUnitOfWork(UnitOfWork):
    """One transaction over a MemoryStore: changes are private until commit()."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.t_products = _Table(store.products)
        self.t_price_points = _Table(store.price_points)
        self.t_watches = _Table(store.watches)
        self.t_outbox = _Table(store.outbox)
        self.t_chats = _Table(store.chats)
        self.t_users = _Table(store.users)
        self.t_offers = _Table(store.offers)
        self.t_state = _Table(store.state)
        self.t_items = _Table(store.items)
        self.t_market_prices = _Table(store.market_prices)
        self.t_holdings = _Table(store.holdings)
        self.t_marketplaces = _Table(store.marketplaces)
        self.t_snapshots = _Table(store.snapshots)
        self._tables: list[_Table[Any, Any]] = [
            self.t_products,
            self.t_price_points,
            self.t_watches,
            self.t_outbox,
            self.t_chats,
            self.t_users,
            self.t_offers,
            self.t_state,
            self.t_items,
            self.t_market_prices,
            self.t_holdings,
            self.t_marketplaces,
            self.t_snapshots,
        ]
        self.products = MemoryProductRepository(self)
        self.price_points = MemoryPricePointRepository(self)
        self.watches = MemoryWatchRepository(self)
        self.outbox = MemoryOutboxRepository(self)
        self.chats = MemoryChatRepository(self)
        self.users = MemoryUserRepository(self)
        self.offers = MemoryOfferRepository(self)
        self.state = MemoryStateRepository(self)
        self.items = MemoryMarketItemRepository(self)
        self.market_prices = MemoryMarketPriceRepository(self)
        self.holdings = MemoryHoldingRepository(self)
        self.marketplaces = MemoryMarketplaceRepository(self)

    @staticmethod
    def rows_of(table: _Table[Any, Any]) -> list[tuple[Any, Any]]:
        return table.rows()

    async def commit(self) -> None:
        # A concurrent unit of work may have committed the same dedupe key meanwhile; the
        # database's unique index would keep only the first, so the fake does too.
        taken = {m.dedupe_key for m in self.store.outbox.values()}
        changed = self.t_outbox.changed()
        for message_id, message in list(changed.items()):
            if message_id not in self.store.outbox and message.dedupe_key in taken:
                del changed[message_id]
        for table in self._tables:
            table.commit()
        self.store.commits += 1

    async def rollback(self) -> None:
        for table in self._tables:
            table.rollback()


class MemoryUnitOfWorkFactory(UnitOfWorkFactory):
    """Makes units of work over one shared MemoryStore (`factory.store` for assertions)."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)
