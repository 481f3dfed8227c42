"""SQL repositories: the ports of core/ports.py over one AsyncSession, as Core statements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Table, exists, func, or_, select, true, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.storage.tables import (
    audit_log,
    chats,
    holdings,
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
)
from core.money import Money
from core.ports import (
    AuditRepository,
    ChatRepository,
    OutboxRepository,
    PricePointRepository,
    ProductRepository,
    UserRepository,
    WatchRepository,
)


class _SqlRepository:
    """Shared plumbing: the session of the unit of work and the dialect's upsert."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self._session = session
        self._dialect = dialect

    def _insert(self, table: Table) -> Any:
        """An INSERT that understands ON CONFLICT on both supported dialects."""
        if self._dialect == "postgresql":
            return pg_insert(table)
        return sqlite_insert(table)


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


# ----- products -------------------------------------------------------------------------


def _product_values(product: Product) -> dict[str, Any]:
    return {
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
    )


class SqlProductRepository(_SqlRepository, ProductRepository):
    async def get(self, product_id: int) -> Product | None:
        row = (
            await self._session.execute(select(products).where(products.c.id == product_id))
        ).first()
        return None if row is None else _product(row)

    async def get_by_url(self, url: str) -> Product | None:
        row = (await self._session.execute(select(products).where(products.c.url == url))).first()
        return None if row is None else _product(row)

    async def add(self, product: Product) -> Product:
        """Inserts the product, sets its id and returns it."""
        stmt = sa_insert(products).returning(products.c.id)
        product.id = (await self._session.execute(stmt, _product_values(product))).scalar_one()
        return product

    async def update(self, product: Product) -> None:
        stmt = update(products).where(products.c.id == product.id)
        await self._session.execute(stmt.values(_product_values(product)))

    async def claim_due(self, now: datetime, until: datetime, limit: int) -> list[Product]:
        due = or_(products.c.next_check_at.is_(None), products.c.next_check_at <= now)
        interested = or_(
            exists().where(watches.c.product_id == products.c.id, watches.c.active == true()),
            exists().where(holdings.c.product_id == products.c.id),
        )
        candidates = (
            select(products)
            .where(due, interested)
            .order_by(products.c.next_check_at.asc().nulls_first(), products.c.id)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            # Rows another worker is claiming right now are skipped, not waited for.
            candidates = candidates.with_for_update(skip_locked=True, of=products)
        rows = (await self._session.execute(candidates)).all()
        if not rows:
            return []
        # The lease re-checks `due`: on SQLite (no row locks) a product another worker
        # leased since our SELECT is no longer due, so it is not claimed twice.
        lease = (
            update(products)
            .where(products.c.id.in_([row.id for row in rows]), due)
            .values(next_check_at=until)
            .returning(products.c.id)
        )
        leased = set((await self._session.execute(lease)).scalars())
        claimed = []
        for row in rows:
            if row.id in leased:
                product = _product(row)
                product.next_check_at = until
                claimed.append(product)
        return claimed

    async def mark_stale(self, older_than: datetime) -> int:
        stmt = (
            update(products)
            .where(
                products.c.status == ProductStatus.OK.value,
                products.c.last_success_at < older_than,
            )
            .values(status=ProductStatus.STALE.value)
        )
        return (await self._session.execute(stmt)).rowcount


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


class SqlPricePointRepository(_SqlRepository, PricePointRepository):
    async def add(self, point: PricePoint) -> PricePoint:
        """Inserts the point; returns it with its id."""
        stmt = sa_insert(price_points).returning(price_points.c.id)
        values = {
            "product_id": point.product_id,
            "observed_at": point.observed_at,
            "price": point.price,
            "currency": point.currency,
            "availability": point.availability.value,
        }
        new_id = (await self._session.execute(stmt, values)).scalar_one()
        return replace(point, id=new_id)

    async def latest(self, product_id: int) -> PricePoint | None:
        stmt = (
            select(price_points)
            .where(price_points.c.product_id == product_id)
            .order_by(price_points.c.observed_at.desc(), price_points.c.id.desc())
            .limit(1)
        )
        row = (await self._session.execute(stmt)).first()
        return None if row is None else _price_point(row)

    async def since(self, product_id: int, start: datetime) -> list[PricePoint]:
        stmt = (
            select(price_points)
            .where(price_points.c.product_id == product_id, price_points.c.observed_at >= start)
            .order_by(price_points.c.observed_at, price_points.c.id)
        )
        return [_price_point(row) for row in await self._session.execute(stmt)]

    async def stats(self, product_id: int, start: datetime | None) -> Stats:
        """Low/high/average of priced points since `start` (all time when None), in the
        currency of the newest of them."""
        stmt = (
            select(price_points.c.price, price_points.c.currency)
            .where(price_points.c.product_id == product_id, price_points.c.price.is_not(None))
            .order_by(price_points.c.observed_at, price_points.c.id)
        )
        if start is not None:
            stmt = stmt.where(price_points.c.observed_at >= start)
        rows = (await self._session.execute(stmt)).all()
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
    )


_active_watch = watches.c.active == true()


class SqlWatchRepository(_SqlRepository, WatchRepository):
    async def add(self, watch: Watch) -> Watch:
        """Inserts the watch, sets its id and returns it."""
        stmt = sa_insert(watches).returning(watches.c.id)
        watch.id = (await self._session.execute(stmt, _watch_values(watch))).scalar_one()
        return watch

    async def update(self, watch: Watch) -> None:
        stmt = update(watches).where(watches.c.id == watch.id).values(_watch_values(watch))
        await self._session.execute(stmt)

    async def _list(self, *conditions: Any) -> list[Watch]:
        stmt = select(watches).where(*conditions).order_by(watches.c.id)
        return [_watch(row) for row in await self._session.execute(stmt)]

    async def get_owned(self, owner: str, watch_id: int) -> Watch | None:
        found = await self._list(watches.c.id == watch_id, watches.c.owner == owner, _active_watch)
        return found[0] if found else None

    async def list_owned(self, owner: str) -> list[Watch]:
        return await self._list(watches.c.owner == owner, _active_watch)

    async def count_owned(self, owner: str) -> int:
        stmt = (
            select(func.count()).select_from(watches).where(watches.c.owner == owner, _active_watch)
        )
        return (await self._session.execute(stmt)).scalar_one()

    async def find(self, owner: str, product_id: int, address: ChatAddress) -> Watch | None:
        found = await self._list(
            watches.c.owner == owner,
            watches.c.product_id == product_id,
            watches.c.platform == address.platform,
            watches.c.chat_id == address.chat_id,
            watches.c.thread_id.is_not_distinct_from(address.thread_id),
            _active_watch,
        )
        return found[0] if found else None

    async def for_product(self, product_id: int) -> list[Watch]:
        return await self._list(watches.c.product_id == product_id, _active_watch)

    async def pause_for_chat(self, address: ChatAddress, reason: str) -> int:
        """Pauses every active watch in that chat (all its threads); returns how many."""
        stmt = (
            update(watches)
            .where(
                watches.c.platform == address.platform,
                watches.c.chat_id == address.chat_id,
                _active_watch,
            )
            .values(active=False, paused_reason=reason)
        )
        return (await self._session.execute(stmt)).rowcount


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
    )


class SqlOutboxRepository(_SqlRepository, OutboxRepository):
    async def add(self, message: OutboxMessage) -> bool:
        """Inserts the message (setting its id) unless its dedupe key exists.

        ON CONFLICT DO NOTHING rather than catching IntegrityError: a failed statement
        would abort the whole PostgreSQL transaction, and the alert's price point with it.
        """
        stmt = (
            self._insert(outbox)
            .values(_outbox_values(message))
            .on_conflict_do_nothing(index_elements=[outbox.c.dedupe_key])
            .returning(outbox.c.id)
        )
        new_id = (await self._session.execute(stmt)).scalar_one_or_none()
        if new_id is None:
            return False
        message.id = new_id
        return True

    async def pending(self, now: datetime, limit: int) -> list[OutboxMessage]:
        stmt = (
            select(outbox)
            .where(
                outbox.c.status == OutboxStatus.PENDING.value,
                or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        return [_outbox_message(row) for row in await self._session.execute(stmt)]

    async def update(self, message: OutboxMessage) -> None:
        stmt = update(outbox).where(outbox.c.id == message.id).values(_outbox_values(message))
        await self._session.execute(stmt)

    async def close_pending_for_chat(self, address: ChatAddress, reason: str) -> int:
        """Marks every pending message to that chat (all its threads) undeliverable."""
        stmt = (
            update(outbox)
            .where(
                outbox.c.platform == address.platform,
                outbox.c.chat_id == address.chat_id,
                outbox.c.status == OutboxStatus.PENDING.value,
            )
            .values(status=OutboxStatus.UNDELIVERABLE.value, error=reason)
        )
        return (await self._session.execute(stmt)).rowcount

    async def count_sent_since(self, owner: str, start: datetime) -> int:
        """Messages to `owner` created since `start` that are sent or still on their way."""
        stmt = (
            select(func.count())
            .select_from(outbox)
            .where(
                outbox.c.owner == owner,
                outbox.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENT.value]),
                outbox.c.created_at >= start,
            )
        )
        return (await self._session.execute(stmt)).scalar_one()


# ----- chats, users, audit --------------------------------------------------------------


def _chat_is(address: ChatAddress) -> Iterable[Any]:
    return (chats.c.platform == address.platform, chats.c.chat_id == address.chat_id)


class SqlChatRepository(_SqlRepository, ChatRepository):
    """Chats by platform and chat id (threads share their chat's state)."""

    async def _upsert(self, address: ChatAddress, kind: str | None, reason: str | None) -> None:
        now = datetime.now(UTC)
        active = reason is None
        changes: dict[str, Any] = {"active": active, "inactive_reason": reason}
        if active:
            changes["last_seen_at"] = now
        if kind is not None:
            changes["kind"] = kind
        stmt = (
            self._insert(chats)
            .values(
                platform=address.platform,
                chat_id=address.chat_id,
                kind=kind or "unknown",
                active=active,
                inactive_reason=reason,
                created_at=now,
                last_seen_at=now,
            )
            .on_conflict_do_update(index_elements=[chats.c.platform, chats.c.chat_id], set_=changes)
        )
        await self._session.execute(stmt)

    async def touch(self, address: ChatAddress, kind: str) -> None:
        """Records that the chat exists and is active (again, if it had been deactivated)."""
        await self._upsert(address, kind, None)

    async def deactivate(self, address: ChatAddress, reason: str) -> None:
        """Marks the chat inactive (gone, or it blocked the bot), remembering why."""
        await self._upsert(address, None, reason)

    async def is_active(self, address: ChatAddress) -> bool:
        """False only for a chat that was deactivated; a chat never seen counts as active."""
        stmt = select(chats.c.active).where(*_chat_is(address))
        active = (await self._session.execute(stmt)).scalar_one_or_none()
        return True if active is None else bool(active)


class SqlUserRepository(_SqlRepository, UserRepository):
    async def ensure(self, key: str, display_name: str) -> None:
        """Creates the user if new; refreshes the display name when a non-empty one differs."""
        stmt = self._insert(users).values(
            key=key, display_name=display_name, banned=False, created_at=datetime.now(UTC)
        )
        if display_name:
            stmt = stmt.on_conflict_do_update(
                index_elements=[users.c.key],
                set_={"display_name": display_name},
                where=users.c.display_name != display_name,
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[users.c.key])
        await self._session.execute(stmt)

    async def is_banned(self, key: str) -> bool:
        stmt = select(users.c.banned).where(users.c.key == key)
        return bool((await self._session.execute(stmt)).scalar_one_or_none())

    async def set_banned(self, key: str, banned: bool) -> None:
        """Bans or unbans `key`, creating the user row if needed (ban before first contact)."""
        stmt = (
            self._insert(users)
            .values(key=key, display_name="", banned=banned, created_at=datetime.now(UTC))
            .on_conflict_do_update(index_elements=[users.c.key], set_={"banned": banned})
        )
        await self._session.execute(stmt)

    async def count(self) -> int:
        stmt = select(func.count()).select_from(users)
        return (await self._session.execute(stmt)).scalar_one()


class SqlAuditRepository(_SqlRepository, AuditRepository):
    async def record(self, actor: str, action: str, detail: str, at: datetime) -> None:
        stmt = sa_insert(audit_log).values(actor=actor, action=action, detail=detail, at=at)
        await self._session.execute(stmt)
