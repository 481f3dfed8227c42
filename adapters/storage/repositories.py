"""SQL repositories: the ports of core/ports.py as prepared Core statements on one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from importlib import import_module
from typing import Any, Protocol

from sqlalchemy import (
    Executable,
    Row,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from adapters.storage.keys import product_key
from adapters.storage.tables import (
    app_state,
    chats,
    holdings,
    market_items,
    offers,
    outbox,
    price_points,
    products,
    users,
    watches,
)
from core.model import (
    Availability,
    ChatAddress,
    OutboxMessage,
    OutboxStatus,
    PricePoint,
    Product,
    ProductStatus,
    Rule,
    RuleKind,
    Stats,
    Watch,
    summarize,
)
from core.money import Money
from core.ports import (
    ChatRepository,
    OfferRepository,
    OutboxRepository,
    PricePointRepository,
    ProductRepository,
    StateRepository,
    UserRepository,
    WatchRepository,
)


class Transaction(Protocol):
    """What repositories need from the unit of work: a way to run a statement in its
    transaction, and its dialect."""

    dialect: str

    async def execute(self, statement: Executable, params: dict[str, Any] | None) -> Any: ...


class SqlRepository:
    """Shared plumbing: run a statement on the unit of work's connection.

    Statements are built once at import time with bind parameters: building and hashing
    a fresh statement on every call costs more than SQLite takes to run it.
    """

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._dialect = transaction.dialect

    async def _execute(self, statement: Executable, params: dict[str, Any] | None = None) -> Any:
        return await self._transaction.execute(statement, params)


class PerDialect(dict[str, Any]):
    """Statements built on an INSERT that understands ON CONFLICT, per dialect name, each
    built on first use: a SQLite process never imports the PostgreSQL dialect (30 ms of
    every `pricebot check`), nor the other way round."""

    def __init__(self, build: Callable[[Callable[[Table], Any]], Any]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, dialect: str) -> Any:
        insert = import_module(f"sqlalchemy.dialects.{dialect}").insert
        built = self[dialect] = self._build(insert)
        return built


# ----- products -------------------------------------------------------------------------


def _product_values(product: Product) -> dict[str, Any]:
    return {
        "url_key": product_key(product.url, product.css_selector),
        "url": product.url,
        "title": product.title,
        "image": product.image,
        "currency": product.currency,
        "price": product.price,
        "availability": product.availability.value,
        "status": product.status.value,
        "status_reason": product.status_reason,
        "failure_count": product.failure_count,
        "next_check_at": product.next_check_at,
        "last_checked_at": product.last_checked_at,
        "last_success_at": product.last_success_at,
        "etag": product.etag,
        "last_modified": product.last_modified,
        "css_selector": product.css_selector,
        "low_30d": product.low_30d,
        "high_30d": product.high_30d,
        "avg_30d": product.avg_30d,
        "low_all": product.low_all,
        "high_all": product.high_all,
        "body_digest": product.body_digest,
        "claim_token": product.claim_token,
    }


def _product(row: Row[Any]) -> Product:
    return Product(
        id=row.id,
        url=row.url,
        title=row.title,
        image=row.image,
        currency=row.currency,
        price=row.price,
        availability=Availability(row.availability),
        status=ProductStatus(row.status),
        status_reason=row.status_reason,
        failure_count=row.failure_count,
        next_check_at=row.next_check_at,
        last_checked_at=row.last_checked_at,
        last_success_at=row.last_success_at,
        etag=row.etag,
        last_modified=row.last_modified,
        css_selector=row.css_selector,
        low_30d=row.low_30d,
        high_30d=row.high_30d,
        avg_30d=row.avg_30d,
        low_all=row.low_all,
        high_all=row.high_all,
        body_digest=row.body_digest,
        claim_token=row.claim_token,
    )


_PRODUCT_BY_ID = select(products).where(products.c.id == bindparam("product_id"))
_PRODUCT_BY_KEY = select(products).where(products.c.url_key == bindparam("key"))
_PRODUCTS_BY_ID = select(products).where(products.c.id.in_(bindparam("ids", expanding=True)))
# Two users tracking a new page at once: the second insert does nothing and reads the first.
_ADD_PRODUCT = PerDialect(
    lambda insert: (
        insert(products)
        .on_conflict_do_nothing(index_elements=[products.c.url_key])
        .returning(products.c.id)
    )
)
# "row_id" rather than "id": an UPDATE takes its SET values from parameters named like columns.
_UPDATE_PRODUCT = update(products).where(products.c.id == bindparam("row_id"))
_DUE = or_(products.c.next_check_at.is_(None), products.c.next_check_at <= bindparam("due"))
_INTERESTED = or_(
    exists().where(watches.c.product_id == products.c.id, watches.c.active == true()),
    # A page someone holds (its market item) is read like a watched one.
    exists().where(
        market_items.c.product_id == products.c.id,
        holdings.c.item_id == market_items.c.id,
        holdings.c.active == true(),
    ),
)
_DUE_CANDIDATES = (
    select(products)
    .where(_DUE, _INTERESTED)
    .order_by(products.c.next_check_at.asc().nulls_first(), products.c.id)
    .limit(bindparam("limit"))
)
_CLAIM_CANDIDATES = {
    "sqlite": _DUE_CANDIDATES,
    # Rows another worker is claiming right now are skipped, not waited for.
    "postgresql": _DUE_CANDIDATES.with_for_update(skip_locked=True, of=products),
}
# The lease re-checks that the product is due: on SQLite (no row locks) a product another
# worker leased since our SELECT is no longer due, so it is not claimed twice.
_LEASE = (
    update(products)
    .where(products.c.id.in_(bindparam("ids", expanding=True)), _DUE)
    .values(next_check_at=bindparam("until"), claim_token=bindparam("token"))
    .returning(products.c.id)
)
# A write statement, so on SQLite it takes the write lock before it looks: nothing can
# re-claim the product between this check and the batch's commit.
_RELEASE = (
    update(products)
    .where(
        products.c.id.in_(bindparam("ids", expanding=True)),
        products.c.claim_token == bindparam("token"),
    )
    .values(claim_token=None)
    .returning(products.c.id)
)
_MARK_STALE = (
    update(products)
    .where(
        products.c.status == ProductStatus.OK.value,
        products.c.last_success_at < bindparam("older_than"),
    )
    .values(status=ProductStatus.STALE.value)
)


class SqlProductRepository(SqlRepository, ProductRepository):
    async def get(self, product_id: int) -> Product | None:
        row = (await self._execute(_PRODUCT_BY_ID, {"product_id": product_id})).first()
        return None if row is None else _product(row)

    async def get_many(self, product_ids: Sequence[int]) -> dict[int, Product]:
        if not product_ids:
            return {}
        rows = await self._execute(_PRODUCTS_BY_ID, {"ids": list(product_ids)})
        return {row.id: _product(row) for row in rows}

    async def get_by_url(self, url: str, css_selector: str | None = None) -> Product | None:
        row = (
            await self._execute(_PRODUCT_BY_KEY, {"key": product_key(url, css_selector)})
        ).first()
        return None if row is None else _product(row)

    async def get_or_add(self, product: Product) -> Product:
        """The stored product with this URL and selector, inserted from `product` if new."""
        added = await self._execute(_ADD_PRODUCT[self._dialect], _product_values(product))
        new_id = added.scalar_one_or_none()
        if new_id is not None:
            product.id = new_id
            return product
        found = await self.get_by_url(product.url, product.css_selector)
        assert found is not None
        return found

    async def update(self, product: Product) -> None:
        await self._execute(_UPDATE_PRODUCT, {"row_id": product.id, **_product_values(product)})

    async def claim_due(
        self, due: datetime, until: datetime, limit: int, token: str
    ) -> list[Product]:
        candidates = _CLAIM_CANDIDATES[self._dialect]
        rows = (await self._execute(candidates, {"due": due, "limit": limit})).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        params = {"ids": ids, "due": due, "until": until, "token": token}
        leased = set((await self._execute(_LEASE, params)).scalars())
        claimed = []
        for row in rows:
            if row.id in leased:
                product = _product(row)
                product.next_check_at, product.claim_token = until, token
                claimed.append(product)
        return claimed

    async def release_claims(self, product_ids: Sequence[int], token: str) -> set[int]:
        if not product_ids:
            return set()
        params = {"ids": list(product_ids), "token": token}
        return set((await self._execute(_RELEASE, params)).scalars())

    async def mark_stale(self, older_than: datetime) -> int:
        return (await self._execute(_MARK_STALE, {"older_than": older_than})).rowcount


# ----- price points ---------------------------------------------------------------------


def _price_point(row: Row[Any]) -> PricePoint:
    return PricePoint(
        id=row.id,
        product_id=row.product_id,
        observed_at=row.observed_at,
        price=row.price,
        currency=row.currency,
        availability=Availability(row.availability),
    )


_ADD_POINT = insert(price_points).returning(price_points.c.id)
_LATEST_POINT = (
    select(price_points)
    .where(price_points.c.product_id == bindparam("product_id"))
    .order_by(price_points.c.observed_at.desc(), price_points.c.id.desc())
    .limit(1)
)
# The newest point of each product, one index lookup per product (a window over all their
# points would read every product's whole history).
_NEWEST_POINT_ID = (
    select(price_points.c.id)
    .where(price_points.c.product_id == products.c.id)
    .order_by(price_points.c.observed_at.desc(), price_points.c.id.desc())
    .limit(1)
    .correlate(products)
    .scalar_subquery()
)
_LATEST_POINTS = (
    select(price_points)
    .select_from(products.join(price_points, price_points.c.id == _NEWEST_POINT_ID))
    .where(products.c.id.in_(bindparam("ids", expanding=True)))
)
_POINTS_SINCE = (
    select(price_points)
    .where(
        price_points.c.product_id == bindparam("product_id"),
        price_points.c.observed_at >= bindparam("start"),
    )
    .order_by(price_points.c.observed_at, price_points.c.id)
)
_PRICES = (
    select(price_points.c.price, price_points.c.currency)
    .where(price_points.c.product_id == bindparam("product_id"), price_points.c.price.is_not(None))
    .order_by(price_points.c.observed_at, price_points.c.id)
)
_PRICES_SINCE = _PRICES.where(price_points.c.observed_at >= bindparam("start"))


class SqlPricePointRepository(SqlRepository, PricePointRepository):
    async def add(self, point: PricePoint) -> PricePoint:
        """Inserts the point; returns it with its id."""
        values = {
            "product_id": point.product_id,
            "observed_at": point.observed_at,
            "price": point.price,
            "currency": point.currency,
            "availability": point.availability.value,
        }
        return replace(point, id=(await self._execute(_ADD_POINT, values)).scalar_one())

    async def latest(self, product_id: int) -> PricePoint | None:
        row = (await self._execute(_LATEST_POINT, {"product_id": product_id})).first()
        return None if row is None else _price_point(row)

    async def latest_many(self, product_ids: Sequence[int]) -> dict[int, PricePoint]:
        if not product_ids:
            return {}
        rows = await self._execute(_LATEST_POINTS, {"ids": list(product_ids)})
        return {row.product_id: _price_point(row) for row in rows}

    async def since(self, product_id: int, start: datetime) -> list[PricePoint]:
        rows = await self._execute(_POINTS_SINCE, {"product_id": product_id, "start": start})
        return [_price_point(row) for row in rows]

    async def stats(self, product_id: int, start: datetime | None) -> Stats:
        """Low/high/average of priced points since `start` (all time when None), in the
        currency of the newest of them."""
        if start is None:
            rows = await self._execute(_PRICES, {"product_id": product_id})
        else:
            rows = await self._execute(_PRICES_SINCE, {"product_id": product_id, "start": start})
        return summarize([(row.price, row.currency) for row in rows])


# ----- watches --------------------------------------------------------------------------


def _watch_values(watch: Watch) -> dict[str, Any]:
    target = watch.rule.target
    return {
        "owner": watch.owner,
        "product_id": watch.product_id,
        "platform": watch.address.platform,
        "chat_id": watch.address.chat_id,
        "thread_id": watch.address.thread_id,
        "rule_kind": watch.rule.kind.value,
        "target_amount": None if target is None else target.amount,
        "target_currency": None if target is None else target.currency,
        "rule_percent": watch.rule.percent,
        "created_at": watch.created_at,
        "active": watch.active,
        "baseline_price": watch.baseline_price,
        "baseline_currency": watch.baseline_currency,
        "last_alert_price": watch.last_alert_price,
        "last_alert_at": watch.last_alert_at,
        "last_alert_kind": watch.last_alert_kind,
        "target_armed": watch.target_armed,
        "snoozed_until": watch.snoozed_until,
        "paused_reason": watch.paused_reason,
        "community": watch.community,
    }


def _watch(row: Row[Any]) -> Watch:
    target = (
        Money(row.target_amount, row.target_currency)
        if row.target_amount is not None and row.target_currency is not None
        else None
    )
    return Watch(
        id=row.id,
        owner=row.owner,
        product_id=row.product_id,
        address=ChatAddress(row.platform, row.chat_id, row.thread_id),
        rule=Rule(RuleKind(row.rule_kind), target, row.rule_percent),
        created_at=row.created_at,
        active=row.active,
        baseline_price=row.baseline_price,
        baseline_currency=row.baseline_currency,
        last_alert_price=row.last_alert_price,
        last_alert_at=row.last_alert_at,
        last_alert_kind=row.last_alert_kind,
        target_armed=row.target_armed,
        snoozed_until=row.snoozed_until,
        paused_reason=row.paused_reason,
        community=row.community,
    )


_ACTIVE_WATCHES = select(watches).where(watches.c.active == true()).order_by(watches.c.id)
_ADD_WATCH = insert(watches).returning(watches.c.id)
_UPDATE_WATCH = update(watches).where(watches.c.id == bindparam("row_id"))
_IN_CHAT = _ACTIVE_WATCHES.where(
    watches.c.platform == bindparam("platform"), watches.c.chat_id == bindparam("chat_id")
)
_WATCH_IN_CHAT = _IN_CHAT.where(watches.c.id == bindparam("watch_id"))
_WATCH_OF_URL_IN_CHAT = _IN_CHAT.where(
    watches.c.product_id.in_(select(products.c.id).where(products.c.url == bindparam("url")))
)
_COUNT_OWNED = (
    select(func.count())
    .select_from(watches)
    .where(watches.c.owner == bindparam("owner"), watches.c.active == true())
)
_COUNT_IN_COMMUNITY = (
    select(func.count())
    .select_from(watches)
    .where(
        watches.c.platform == bindparam("platform"),
        watches.c.community == bindparam("community"),
        watches.c.active == true(),
    )
)
_PRODUCTS_WATCHES = _ACTIVE_WATCHES.where(
    watches.c.product_id.in_(bindparam("ids", expanding=True))
)
_PAUSE_CHAT = (
    update(watches)
    .where(
        watches.c.platform == bindparam("chat_platform"),
        watches.c.chat_id == bindparam("chat"),
        watches.c.active == true(),
    )
    .values(active=False, paused_reason=bindparam("reason"))
)


def chat_params(address: ChatAddress) -> dict[str, Any]:
    return {"platform": address.platform, "chat_id": address.chat_id}


class SqlWatchRepository(SqlRepository, WatchRepository):
    async def _list(self, statement: Executable, params: dict[str, Any]) -> list[Watch]:
        return [_watch(row) for row in await self._execute(statement, params)]

    async def add(self, watch: Watch) -> Watch:
        """Inserts the watch, sets its id and returns it."""
        watch.id = (await self._execute(_ADD_WATCH, _watch_values(watch))).scalar_one()
        return watch

    async def update(self, watch: Watch) -> None:
        await self._execute(_UPDATE_WATCH, {"row_id": watch.id, **_watch_values(watch)})

    async def get_in_chat(self, address: ChatAddress, watch_id: int) -> Watch | None:
        found = await self._list(_WATCH_IN_CHAT, {**chat_params(address), "watch_id": watch_id})
        return found[0] if found else None

    async def list_in_chat(self, address: ChatAddress) -> list[Watch]:
        return await self._list(_IN_CHAT, chat_params(address))

    async def find_in_chat(self, address: ChatAddress, url: str) -> Watch | None:
        found = await self._list(_WATCH_OF_URL_IN_CHAT, {**chat_params(address), "url": url})
        return found[0] if found else None

    async def count_owned(self, owner: str) -> int:
        return (await self._execute(_COUNT_OWNED, {"owner": owner})).scalar_one()

    async def count_in_community(self, platform: str, community: str) -> int:
        params = {"platform": platform, "community": community}
        return (await self._execute(_COUNT_IN_COMMUNITY, params)).scalar_one()

    async def for_products(self, product_ids: Sequence[int]) -> dict[int, list[Watch]]:
        found: dict[int, list[Watch]] = {product_id: [] for product_id in product_ids}
        if found:
            for watch in await self._list(_PRODUCTS_WATCHES, {"ids": list(found)}):
                found[watch.product_id].append(watch)
        return found

    async def pause_for_chat(self, address: ChatAddress, reason: str) -> int:
        """Pauses every active watch in that chat (all its threads); returns how many."""
        params = {"chat_platform": address.platform, "chat": address.chat_id, "reason": reason}
        return (await self._execute(_PAUSE_CHAT, params)).rowcount


# ----- outbox ---------------------------------------------------------------------------


def _outbox_values(message: OutboxMessage) -> dict[str, Any]:
    return {
        "dedupe_key": message.dedupe_key,
        "platform": message.address.platform,
        "chat_id": message.address.chat_id,
        "thread_id": message.address.thread_id,
        "payload": message.payload,
        "created_at": message.created_at,
        "status": message.status.value,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "platform_message_id": message.platform_message_id,
        "error": message.error,
        "watch_id": message.watch_id,
        "owner": message.owner,
        "claim_token": message.claim_token,
    }


def _outbox_message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        dedupe_key=row.dedupe_key,
        address=ChatAddress(row.platform, row.chat_id, row.thread_id),
        payload=row.payload,
        created_at=row.created_at,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        platform_message_id=row.platform_message_id,
        error=row.error,
        watch_id=row.watch_id,
        owner=row.owner,
        claim_token=row.claim_token,
    )


# ON CONFLICT DO NOTHING rather than catching IntegrityError: a failed statement aborts the
# whole PostgreSQL transaction, and the alert's price point with it.
_ADD_MESSAGE = PerDialect(
    lambda insert: (
        insert(outbox)
        .on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
        .returning(outbox.c.id)
    )
)
_OPEN = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)
_earlier = outbox.alias("earlier")
_DUE = or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= bindparam("now"))
_PENDING = (
    select(outbox)
    .where(
        outbox.c.status.in_(_OPEN),
        _DUE,
        ~exists().where(
            _earlier.c.platform == outbox.c.platform,
            _earlier.c.chat_id == outbox.c.chat_id,
            _earlier.c.status.in_(_OPEN),
            _earlier.c.id < outbox.c.id,
            _earlier.c.next_attempt_at > bindparam("now"),
        ),
    )
    .order_by(outbox.c.id)
    .limit(bindparam("limit"))
)
_CLAIM = (
    update(outbox)
    .where(outbox.c.id == bindparam("row_id"), outbox.c.status.in_(_OPEN), _DUE)
    .values(
        status=OutboxStatus.SENDING.value,
        next_attempt_at=bindparam("until"),
        claim_token=bindparam("token"),
    )
)
_UPDATE_CLAIMED = update(outbox).where(
    outbox.c.id == bindparam("row_id"), outbox.c.claim_token == bindparam("held_by")
)
_CLOSE_CHAT = (
    update(outbox)
    .where(
        outbox.c.platform == bindparam("chat_platform"),
        outbox.c.chat_id == bindparam("chat"),
        outbox.c.status.in_(_OPEN),
    )
    .values(status=OutboxStatus.UNDELIVERABLE.value, error=bindparam("reason"))
)
_COUNT_SENT = (
    select(func.count())
    .select_from(outbox)
    .where(
        outbox.c.owner == bindparam("owner"),
        outbox.c.status.in_([*_OPEN, OutboxStatus.SENT.value]),
        outbox.c.created_at >= bindparam("start"),
    )
)


class SqlOutboxRepository(SqlRepository, OutboxRepository):
    async def add(self, message: OutboxMessage) -> bool:
        """Inserts the message (setting its id) unless its dedupe key exists."""
        result = await self._execute(_ADD_MESSAGE[self._dialect], _outbox_values(message))
        new_id = result.scalar_one_or_none()
        if new_id is None:
            return False
        message.id = new_id
        return True

    async def pending(self, now: datetime, limit: int) -> list[OutboxMessage]:
        rows = await self._execute(_PENDING, {"now": now, "limit": limit})
        return [_outbox_message(row) for row in rows]

    async def claim(self, message_id: int, now: datetime, until: datetime, token: str) -> bool:
        params = {"row_id": message_id, "now": now, "until": until, "token": token}
        return (await self._execute(_CLAIM, params)).rowcount == 1

    async def update_claimed(self, message: OutboxMessage, token: str) -> bool:
        params = {"row_id": message.id, "held_by": token, **_outbox_values(message)}
        return (await self._execute(_UPDATE_CLAIMED, params)).rowcount == 1

    async def close_pending_for_chat(self, address: ChatAddress, reason: str) -> int:
        """Marks every pending message to that chat (all its threads) undeliverable."""
        params = {"chat_platform": address.platform, "chat": address.chat_id, "reason": reason}
        return (await self._execute(_CLOSE_CHAT, params)).rowcount

    async def count_sent_since(self, owner: str, start: datetime) -> int:
        """Messages to `owner` created since `start` that are sent or still on their way."""
        return (await self._execute(_COUNT_SENT, {"owner": owner, "start": start})).scalar_one()


# ----- chats, users, audit --------------------------------------------------------------


def _chat_upserts(insert: Callable[[Table], Any]) -> dict[str, Any]:
    """'touch' (seen, active again) and 'deactivate' (gone, and why)."""
    statement = insert(chats)
    new = statement.excluded
    key = [chats.c.platform, chats.c.chat_id]
    return {
        "touch": statement.on_conflict_do_update(
            index_elements=key,
            set_={
                "kind": new.kind,
                "active": True,
                "inactive_reason": None,
                "last_seen_at": new.last_seen_at,
            },
        ),
        "deactivate": statement.on_conflict_do_update(
            index_elements=key,
            set_={"active": False, "inactive_reason": new.inactive_reason},
        ),
    }


_CHAT_UPSERT = PerDialect(_chat_upserts)


class SqlChatRepository(SqlRepository, ChatRepository):
    """Chats by platform and chat id (threads share their chat's state)."""

    async def _upsert(self, kind: str, address: ChatAddress, values: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        row = {
            "platform": address.platform,
            "chat_id": address.chat_id,
            "kind": "unknown",
            "created_at": now,
            "last_seen_at": now,
            **values,
        }
        await self._execute(_CHAT_UPSERT[self._dialect][kind], row)

    async def touch(self, address: ChatAddress, kind: str) -> None:
        """Records that the chat exists and is active (again, if it had been deactivated)."""
        await self._upsert(
            "touch", address, {"kind": kind, "active": True, "inactive_reason": None}
        )

    async def deactivate(self, address: ChatAddress, reason: str) -> None:
        """Marks the chat inactive (gone, or it blocked the bot), remembering why."""
        await self._upsert("deactivate", address, {"active": False, "inactive_reason": reason})


def _user_upserts(insert: Callable[[Table], Any]) -> dict[str, Any]:
    statement = insert(users)
    new = statement.excluded
    return {
        "ensure": statement.on_conflict_do_nothing(index_elements=[users.c.key]),
        # Only write when the name changed: most messages come from known users.
        "ensure_named": statement.on_conflict_do_update(
            index_elements=[users.c.key],
            set_={"display_name": new.display_name},
            where=users.c.display_name != new.display_name,
        ),
        "ban": statement.on_conflict_do_update(
            index_elements=[users.c.key], set_={"banned": new.banned}
        ),
    }


_USER_UPSERT = PerDialect(_user_upserts)
_USER_BANNED = select(users.c.banned).where(users.c.key == bindparam("key"))


class SqlUserRepository(SqlRepository, UserRepository):
    async def _upsert(self, kind: str, key: str, display_name: str, banned: bool) -> None:
        row = {
            "key": key,
            "display_name": display_name,
            "banned": banned,
            "created_at": datetime.now(UTC),
        }
        await self._execute(_USER_UPSERT[self._dialect][kind], row)

    async def ensure(self, key: str, display_name: str) -> None:
        """Creates the user if new; refreshes the display name when a non-empty one differs."""
        await self._upsert("ensure_named" if display_name else "ensure", key, display_name, False)

    async def is_banned(self, key: str) -> bool:
        return bool((await self._execute(_USER_BANNED, {"key": key})).scalar_one_or_none())

    async def set_banned(self, key: str, banned: bool) -> None:
        """Bans or unbans `key`, creating the user row if needed (ban before first contact)."""
        await self._upsert("ban", key, "", banned)


_ADD_OFFER = insert(offers)
_TAKE_OFFER = (
    delete(offers)
    .where(
        offers.c.token == bindparam("token"),
        offers.c.owner == bindparam("owner"),
        offers.c.platform == bindparam("platform"),
        offers.c.chat_id == bindparam("chat_id"),
        offers.c.created_at >= bindparam("since"),
    )
    .returning(offers.c.payload)
)
_FORGET_OLD_OFFERS = delete(offers).where(offers.c.created_at < bindparam("since"))


class SqlOfferRepository(SqlRepository, OfferRepository):
    async def put(
        self, token: str, owner: str, address: ChatAddress, payload: str, at: datetime
    ) -> None:
        values = {"token": token, "owner": owner, "payload": payload, "created_at": at}
        await self._execute(_ADD_OFFER, {**values, **chat_params(address)})

    async def take(
        self, token: str, owner: str, address: ChatAddress, since: datetime
    ) -> str | None:
        params = {"token": token, "owner": owner, "since": since, **chat_params(address)}
        url = (await self._execute(_TAKE_OFFER, params)).scalar_one_or_none()
        # Offers nobody pressed are forgotten here rather than by a job of their own.
        await self._execute(_FORGET_OLD_OFFERS, {"since": since})
        return url


_STATE_GET = select(app_state.c.value).where(app_state.c.key == bindparam("key"))


def _state_upsert(insert: Callable[[Table], Any]) -> Any:
    statement = insert(app_state)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[app_state.c.key],
        set_={"value": new.value, "updated_at": new.updated_at},
    )


_STATE_PUT = PerDialect(_state_upsert)


class SqlStateRepository(SqlRepository, StateRepository):
    async def get(self, key: str) -> str | None:
        return (await self._execute(_STATE_GET, {"key": key})).scalar_one_or_none()

    async def put(self, key: str, value: str) -> None:
        row = {"key": key, "value": value, "updated_at": datetime.now(UTC)}
        await self._execute(_STATE_PUT[self._dialect], row)
