"""SQL repositories for holdings and market data: items, observed prices, holdings,
marketplace rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Table, and_, bindparam, exists, func, insert, or_, select, true, update

from adapters.storage.keys import item_key
from adapters.storage.repositories import PerDialect, SqlRepository, chat_params
from adapters.storage.tables import (
    holdings,
    market_items,
    market_prices,
    marketplace_data,
    portfolio_snapshots,
)
from core.market import MarketplaceData
from core.market_stats import MEAN_WINDOW, Window, mean
from core.model import ChatAddress
from core.money import Money
from core.portfolio import Holding, ItemKind, MarketItem, MarketPrice, MarketStats, to_minor
from core.repositories import (
    HoldingRepository,
    MarketItemRepository,
    MarketplaceRepository,
    MarketPriceRepository,
)

# ----- items ----------------------------------------------------------------------------


def _item_values(item: MarketItem) -> dict[str, Any]:
    price = item.price
    return {
        "item_key": item_key(
            item.kind.value, item.source, item.source_id, item.finish, item.product_id
        ),
        "kind": item.kind.value,
        "name": item.name,
        "source": item.source,
        "source_id": item.source_id,
        "finish": item.finish,
        "product_id": item.product_id,
        "game": item.game,
        "set_name": item.set_name,
        "number": item.number,
        "image": item.image,
        "url": item.url,
        "next_refresh_at": item.next_refresh_at,
        "refreshed_at": item.refreshed_at,
        "price_amount": None if price is None else price.price.amount,
        "price_currency": None if price is None else price.price.currency,
        "price_source": None if price is None else price.source,
        "price_market": None if price is None else price.market,
        "price_kind": None if price is None else price.kind,
        "priced_at": None if price is None else price.observed_at,
    }


# The columns an item is read from, in the order _item unpacks them. Rows are unpacked by
# position: a Row's attribute access costs about 0.25 µs a column, which for the 5,000
# items of a large /holdings was a quarter of the command's time (benchmarks/RESULTS.md).
_ITEM_COLUMNS = tuple(
    market_items.c[name]
    for name in (
        "id",
        "kind",
        "name",
        "source",
        "source_id",
        "finish",
        "product_id",
        "game",
        "set_name",
        "number",
        "image",
        "url",
        "next_refresh_at",
        "refreshed_at",
        "price_amount",
        "price_currency",
        "price_source",
        "price_market",
        "price_kind",
        "priced_at",
    )
)


def _item(row: Row[Any]) -> MarketItem:
    (
        item_id,
        kind,
        name,
        source,
        source_id,
        finish,
        product_id,
        game,
        set_name,
        number,
        image,
        url,
        next_refresh_at,
        refreshed_at,
        amount,
        currency,
        price_source,
        price_market,
        price_kind,
        priced_at,
    ) = row
    price = None
    if amount is not None and currency is not None and priced_at is not None:
        price = MarketPrice(
            item_id,
            price_source or "",
            price_market or "",
            price_kind or "",
            Money(amount, currency),
            priced_at,
        )
    return MarketItem(
        id=item_id,
        kind=ItemKind(kind),
        name=name,
        source=source,
        source_id=source_id,
        finish=finish,
        product_id=product_id,
        game=game,
        set_name=set_name,
        number=number,
        image=image,
        url=url,
        next_refresh_at=next_refresh_at,
        refreshed_at=refreshed_at,
        price=price,
    )


_ITEMS_BY_ID = select(*_ITEM_COLUMNS).where(market_items.c.id.in_(bindparam("ids", expanding=True)))
_ITEM_BY_KEY = select(*_ITEM_COLUMNS).where(market_items.c.item_key == bindparam("key"))
_ADD_ITEM = PerDialect(
    lambda insert: (
        insert(market_items)
        .on_conflict_do_nothing(index_elements=[market_items.c.item_key])
        .returning(market_items.c.id)
    )
)
_UPDATE_ITEM = update(market_items).where(market_items.c.id == bindparam("row_id"))
_HELD = exists().where(holdings.c.item_id == market_items.c.id, holdings.c.active == true())
_DUE_ITEMS = (
    select(*_ITEM_COLUMNS)
    .where(
        or_(
            market_items.c.next_refresh_at.is_(None),
            market_items.c.next_refresh_at <= bindparam("now"),
        ),
        _HELD,
    )
    .order_by(market_items.c.next_refresh_at.asc().nulls_first(), market_items.c.id)
    .limit(bindparam("limit"))
)


class SqlMarketItemRepository(SqlRepository, MarketItemRepository):
    async def get_many(self, item_ids: Sequence[int]) -> dict[int, MarketItem]:
        if not item_ids:
            return {}
        rows = await self._execute(_ITEMS_BY_ID, {"ids": list(item_ids)})
        found = (_item(row) for row in rows)
        return {item.id: item for item in found if item.id is not None}

    async def get_or_add(self, item: MarketItem) -> MarketItem:
        values = _item_values(item)
        new_id = (await self._execute(_ADD_ITEM[self._dialect], values)).scalar_one_or_none()
        if new_id is not None:
            item.id = new_id
            return item
        row = (await self._execute(_ITEM_BY_KEY, {"key": values["item_key"]})).first()
        assert row is not None
        return _item(row)

    async def update(self, item: MarketItem) -> None:
        await self._execute(_UPDATE_ITEM, {"row_id": item.id, **_item_values(item)})

    async def due(self, now: datetime, limit: int) -> list[MarketItem]:
        rows = await self._execute(_DUE_ITEMS, {"now": now, "limit": limit})
        return [_item(row) for row in rows]


# ----- observed prices ------------------------------------------------------------------


def _price(row: Row[Any]) -> MarketPrice:
    return MarketPrice(
        row.item_id,
        row.source,
        row.market,
        row.kind,
        Money(row.amount, row.currency),
        row.observed_at,
    )


_ADD_PRICE = insert(market_prices)
_OF_ITEM = and_(
    market_prices.c.item_id == bindparam("item_id"),
    market_prices.c.currency == bindparam("currency"),
)
_RECENT = market_prices.alias("recent")
# Sums of minor units are exact integers on both databases.
_WINDOW = (
    select(
        func.count().label("window_count"),
        func.coalesce(func.sum(_RECENT.c.amount_minor), 0).label("window_sum"),
    )
    .where(
        _RECENT.c.item_id == bindparam("item_id"),
        _RECENT.c.currency == bindparam("currency"),
        _RECENT.c.observed_at >= bindparam("since"),
    )
    .subquery("window_sums")
)
# The newest price with the window's aggregates beside it: one indexed query per item.
_STATS = (
    select(market_prices, _WINDOW.c.window_count, _WINDOW.c.window_sum)
    .select_from(market_prices.join(_WINDOW, true()))
    .where(_OF_ITEM)
    .order_by(market_prices.c.observed_at.desc(), market_prices.c.id.desc())
    .limit(1)
)


class SqlMarketPriceRepository(SqlRepository, MarketPriceRepository):
    async def add(self, price: MarketPrice) -> None:
        values = {
            "item_id": price.item_id,
            "source": price.source,
            "market": price.market,
            "kind": price.kind,
            "amount": price.price.amount,
            "currency": price.price.currency,
            "amount_minor": to_minor(price.price),
            "observed_at": price.observed_at,
        }
        await self._execute(_ADD_PRICE, values)

    async def stats(self, item_id: int, currency: str, now: datetime) -> MarketStats:
        params = {"item_id": item_id, "currency": currency, "since": now - MEAN_WINDOW}
        row = (await self._execute(_STATS, params)).first()
        if row is None:  # no price in this currency: none in the window either
            return MarketStats(currency, None)
        window = Window(int(row.window_count), int(row.window_sum))
        return MarketStats(
            currency=currency,
            current=_price(row),
            mean_30d=mean(window, currency),
            observations_30d=window.count,
        )


# ----- holdings -------------------------------------------------------------------------


def _money_or_none(amount: Decimal | None, currency: str | None) -> Money | None:
    return None if amount is None or currency is None else Money(amount, currency)


def _holding_values(holding: Holding) -> dict[str, Any]:
    cost, ask = holding.unit_cost, holding.ask
    return {
        "owner": holding.owner,
        "platform": holding.address.platform,
        "chat_id": holding.address.chat_id,
        "thread_id": holding.address.thread_id,
        "item_id": holding.item_id,
        "quantity": holding.quantity,
        "cost_amount": None if cost is None else cost.amount,
        "cost_currency": None if cost is None else cost.currency,
        "condition": holding.condition,
        "alert_pct": holding.alert_percent,
        "alert_armed": holding.alert_armed,
        "last_alert_at": holding.last_alert_at,
        "ask_amount": None if ask is None else ask.amount,
        "ask_currency": None if ask is None else ask.currency,
        "ask_platform": holding.ask_platform,
        "ask_armed": holding.ask_armed,
        "active": holding.active,
        "created_at": holding.created_at,
    }


# The columns a holding is read from, in the order _holding unpacks them (by position, as
# items are).
_HOLDING_COLUMNS = tuple(
    holdings.c[name]
    for name in (
        "id",
        "owner",
        "platform",
        "chat_id",
        "thread_id",
        "item_id",
        "quantity",
        "created_at",
        "cost_amount",
        "cost_currency",
        "condition",
        "alert_pct",
        "alert_armed",
        "last_alert_at",
        "ask_amount",
        "ask_currency",
        "ask_platform",
        "ask_armed",
        "active",
    )
)


def _holding(row: Row[Any]) -> Holding:
    (
        holding_id,
        owner,
        platform,
        chat_id,
        thread_id,
        item_id,
        quantity,
        created_at,
        cost_amount,
        cost_currency,
        condition,
        alert_pct,
        alert_armed,
        last_alert_at,
        ask_amount,
        ask_currency,
        ask_platform,
        ask_armed,
        active,
    ) = row
    return Holding(
        id=holding_id,
        owner=owner,
        address=ChatAddress(platform, chat_id, thread_id),
        item_id=item_id,
        quantity=quantity,
        created_at=created_at,
        unit_cost=_money_or_none(cost_amount, cost_currency),
        condition=condition,
        alert_percent=alert_pct,
        alert_armed=alert_armed,
        last_alert_at=last_alert_at,
        ask=_money_or_none(ask_amount, ask_currency),
        ask_platform=ask_platform,
        ask_armed=ask_armed,
        active=active,
    )


_ACTIVE_HOLDINGS = (
    select(*_HOLDING_COLUMNS).where(holdings.c.active == true()).order_by(holdings.c.id)
)
_HOLDINGS_IN_CHAT = _ACTIVE_HOLDINGS.where(
    holdings.c.platform == bindparam("platform"), holdings.c.chat_id == bindparam("chat_id")
)
_HOLDING_IN_CHAT = _HOLDINGS_IN_CHAT.where(holdings.c.id == bindparam("holding_id"))
_COUNT_IN_CHAT = select(func.count()).where(
    holdings.c.active == true(),
    holdings.c.platform == bindparam("platform"),
    holdings.c.chat_id == bindparam("chat_id"),
)
_HOLDINGS_OF_ITEMS = _ACTIVE_HOLDINGS.where(
    holdings.c.item_id.in_(bindparam("ids", expanding=True))
)
_ADD_HOLDING = insert(holdings).returning(holdings.c.id)
_UPDATE_HOLDING = update(holdings).where(holdings.c.id == bindparam("row_id"))


def _snapshot_upsert(insert: Callable[[Table], Any]) -> Any:
    statement = insert(portfolio_snapshots)
    key = [
        portfolio_snapshots.c.platform,
        portfolio_snapshots.c.chat_id,
        portfolio_snapshots.c.day,
        portfolio_snapshots.c.currency,
    ]
    return statement.on_conflict_do_update(
        index_elements=key, set_={"value": statement.excluded.value}
    )


_PUT_SNAPSHOT = PerDialect(_snapshot_upsert)
_SNAPSHOTS = (
    select(portfolio_snapshots.c.day, portfolio_snapshots.c.currency, portfolio_snapshots.c.value)
    .where(
        portfolio_snapshots.c.platform == bindparam("platform"),
        portfolio_snapshots.c.chat_id == bindparam("chat_id"),
        portfolio_snapshots.c.day >= bindparam("since"),
    )
    .order_by(portfolio_snapshots.c.day, portfolio_snapshots.c.currency)
)
# Chats by platform and chat id lists (the unique index's leading columns), then by pair.
_SNAPSHOTTED = (
    select(portfolio_snapshots.c.platform, portfolio_snapshots.c.chat_id)
    .where(
        portfolio_snapshots.c.platform.in_(bindparam("platforms", expanding=True)),
        portfolio_snapshots.c.chat_id.in_(bindparam("chat_ids", expanding=True)),
        portfolio_snapshots.c.day == bindparam("day"),
    )
    .distinct()
)


class SqlHoldingRepository(SqlRepository, HoldingRepository):
    async def add(self, holding: Holding) -> Holding:
        holding.id = (await self._execute(_ADD_HOLDING, _holding_values(holding))).scalar_one()
        return holding

    async def update(self, holding: Holding) -> None:
        await self._execute(_UPDATE_HOLDING, {"row_id": holding.id, **_holding_values(holding)})

    async def get_in_chat(self, address: ChatAddress, holding_id: int) -> Holding | None:
        params = {
            "platform": address.platform,
            "chat_id": address.chat_id,
            "holding_id": holding_id,
        }
        row = (await self._execute(_HOLDING_IN_CHAT, params)).first()
        return None if row is None else _holding(row)

    async def list_in_chat(self, address: ChatAddress) -> list[Holding]:
        params = chat_params(address)
        return [_holding(row) for row in await self._execute(_HOLDINGS_IN_CHAT, params)]

    async def count_in_chat(self, address: ChatAddress) -> int:
        return int((await self._execute(_COUNT_IN_CHAT, chat_params(address))).scalar_one())

    async def for_items(self, item_ids: Sequence[int]) -> dict[int, list[Holding]]:
        found: dict[int, list[Holding]] = {item_id: [] for item_id in item_ids}
        if found:
            for row in await self._execute(_HOLDINGS_OF_ITEMS, {"ids": list(found)}):
                holding = _holding(row)
                found[holding.item_id].append(holding)
        return found

    async def put_snapshot(
        self, address: ChatAddress, day: datetime, values: dict[str, Decimal]
    ) -> None:
        for currency, value in values.items():
            row = {**chat_params(address), "day": day, "currency": currency, "value": value}
            await self._execute(_PUT_SNAPSHOT[self._dialect], row)

    async def snapshots(
        self, address: ChatAddress, since: datetime
    ) -> list[tuple[datetime, str, Decimal]]:
        rows = await self._execute(_SNAPSHOTS, {**chat_params(address), "since": since})
        return [(row.day, row.currency, row.value) for row in rows]

    async def snapshotted(
        self, addresses: Sequence[ChatAddress], day: datetime
    ) -> set[ChatAddress]:
        wanted = {(a.platform, a.chat_id) for a in addresses}
        if not wanted:
            return set()
        params = {
            "platforms": sorted({platform for platform, _ in wanted}),
            "chat_ids": sorted({chat_id for _, chat_id in wanted}),
            "day": day,
        }
        found = {(row.platform, row.chat_id) for row in await self._execute(_SNAPSHOTTED, params)}
        return {ChatAddress(platform, chat_id) for platform, chat_id in wanted & found}


# ----- marketplaces ---------------------------------------------------------------------


def _marketplace_upsert(insert: Callable[[Table], Any]) -> Any:
    statement = insert(marketplace_data)
    new = statement.excluded
    columns = (
        "item_ref",
        "currency",
        "lowest_ask",
        "highest_bid",
        "last_sale",
        "sales_30d",
        "volatility",
        "as_of",
    )
    return statement.on_conflict_do_update(
        index_elements=[marketplace_data.c.item_id, marketplace_data.c.platform],
        set_={name: getattr(new, name) for name in columns},
    )


_PUT_MARKETPLACE = PerDialect(_marketplace_upsert)
_MARKETPLACES_OF_ITEMS = (
    select(marketplace_data)
    .where(marketplace_data.c.item_id.in_(bindparam("ids", expanding=True)))
    .order_by(marketplace_data.c.item_id, marketplace_data.c.platform)
)


def _amount(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount


class SqlMarketplaceRepository(SqlRepository, MarketplaceRepository):
    async def put(self, item_id: int, data: MarketplaceData) -> None:
        currencies = {m.currency for m in (data.lowest_ask, data.highest_bid, data.last_sale) if m}
        if len(currencies) > 1:
            raise ValueError("a marketplace row holds one currency")
        values = {
            "item_id": item_id,
            "platform": data.platform,
            "item_ref": data.item_ref,
            "currency": data.amounts_currency,
            "lowest_ask": _amount(data.lowest_ask),
            "highest_bid": _amount(data.highest_bid),
            "last_sale": _amount(data.last_sale),
            "sales_30d": data.sales_30d,
            "volatility": data.volatility,
            "as_of": data.as_of,
        }
        await self._execute(_PUT_MARKETPLACE[self._dialect], values)

    async def for_items(self, item_ids: Sequence[int]) -> dict[int, list[MarketplaceData]]:
        found: dict[int, list[MarketplaceData]] = {item_id: [] for item_id in item_ids}
        if found:
            for row in await self._execute(_MARKETPLACES_OF_ITEMS, {"ids": list(found)}):
                found[row.item_id].append(_marketplace(row))
        return found


def _marketplace(row: Row[Any]) -> MarketplaceData:
    return MarketplaceData(
        platform=row.platform,
        item_ref=row.item_ref,
        lowest_ask=_money_or_none(row.lowest_ask, row.currency),
        highest_bid=_money_or_none(row.highest_bid, row.currency),
        last_sale=_money_or_none(row.last_sale, row.currency),
        sales_30d=row.sales_30d,
        volatility=row.volatility,
        as_of=row.as_of,
        currency=row.currency,
    )
