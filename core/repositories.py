"""Repository ports: what core reads and writes, one small abstract class per kind of row."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from core.market import MarketplaceData
from core.model import (
    ChatAddress,
    OutboxMessage,
    PricePoint,
    Product,
    Stats,
    Watch,
)
from core.portfolio import Holding, MarketItem, MarketPrice, MarketStats


class ProductRepository(abc.ABC):
    """Products are keyed by page URL plus CSS selector: a watch with its own selector reads
    the page its own way without changing what the page's other watchers see."""

    @abc.abstractmethod
    async def get(self, product_id: int) -> Product | None: ...

    @abc.abstractmethod
    async def get_many(self, product_ids: Sequence[int]) -> dict[int, Product]:
        """The products that exist among `product_ids`, by id."""

    @abc.abstractmethod
    async def get_by_url(self, url: str, css_selector: str | None = None) -> Product | None: ...

    @abc.abstractmethod
    async def get_or_add(self, product: Product) -> Product:
        """The product with this URL and selector, inserted first when there is none (two
        users tracking a new page at once get one row)."""

    @abc.abstractmethod
    async def update(self, product: Product) -> None: ...

    @abc.abstractmethod
    async def claim_due(
        self, due: datetime, until: datetime, limit: int, token: str
    ) -> list[Product]:
        """Products with an interested watch and next_check_at <= `due`: marks them claimed
        by `token` until `until`, so a concurrent worker does not take them too."""

    @abc.abstractmethod
    async def release_claims(self, product_ids: Sequence[int], token: str) -> set[int]:
        """Ends `token`'s claim on these products; returns those it still held. A product
        missing from the answer was re-claimed by someone else after the claim expired: its
        reading must not be written."""

    @abc.abstractmethod
    async def mark_stale(self, older_than: datetime) -> int: ...


class PricePointRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, point: PricePoint) -> PricePoint: ...

    @abc.abstractmethod
    async def latest(self, product_id: int) -> PricePoint | None: ...

    @abc.abstractmethod
    async def latest_many(self, product_ids: Sequence[int]) -> dict[int, PricePoint]:
        """The newest point of each product that has one, by product id."""

    @abc.abstractmethod
    async def since(self, product_id: int, start: datetime) -> list[PricePoint]: ...

    @abc.abstractmethod
    async def stats(self, product_id: int, start: datetime | None) -> Stats: ...


class WatchRepository(abc.ABC):
    """Watches belong to the chat they were made in (platform and chat id; every thread of a
    chat shares them): a chat sees and changes only its own."""

    @abc.abstractmethod
    async def add(self, watch: Watch) -> Watch: ...

    @abc.abstractmethod
    async def update(self, watch: Watch) -> None: ...

    @abc.abstractmethod
    async def get_in_chat(self, address: ChatAddress, watch_id: int) -> Watch | None:
        """The watch only if it is active and belongs to the chat at `address`."""

    @abc.abstractmethod
    async def list_in_chat(self, address: ChatAddress) -> list[Watch]:
        """The chat's active watches, oldest first."""

    @abc.abstractmethod
    async def find_in_chat(self, address: ChatAddress, url: str) -> Watch | None:
        """The chat's active watch of the page at `url` (whatever its selector)."""

    @abc.abstractmethod
    async def count_owned(self, owner: str) -> int:
        """Active watches `owner` made, in every chat (the per-user limit)."""

    @abc.abstractmethod
    async def count_in_community(self, platform: str, community: str) -> int:
        """Active watches in every chat of one community (a Discord server's limit)."""

    @abc.abstractmethod
    async def for_products(self, product_ids: Sequence[int]) -> dict[int, list[Watch]]:
        """Active watches of each product (every id present, maybe with no watches)."""

    async def for_product(self, product_id: int) -> list[Watch]:
        return (await self.for_products([product_id]))[product_id]

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
    async def claim(self, message_id: int, now: datetime, until: datetime, token: str) -> bool:
        """Marks a due open row `sending` by `token` until `until`; False when another run
        has it."""

    @abc.abstractmethod
    async def update_claimed(self, message: OutboxMessage, token: str) -> bool:
        """Writes the row's outcome (sent, retry, undeliverable) only while `token` still
        holds its claim; False when the claim expired and another run took the row."""

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


class UserRepository(abc.ABC):
    @abc.abstractmethod
    async def ensure(self, key: str, display_name: str) -> None: ...

    @abc.abstractmethod
    async def is_banned(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def set_banned(self, key: str, banned: bool) -> None: ...


class OfferRepository(abc.ABC):
    """What a button press needs to remember, kept in the database so that a press landing
    on another replica, or after a restart, still works: a "Track it" offer's link, or the
    printings a card name matched."""

    @abc.abstractmethod
    async def put(
        self, token: str, owner: str, address: ChatAddress, payload: str, at: datetime
    ) -> None: ...

    @abc.abstractmethod
    async def take(
        self, token: str, owner: str, address: ChatAddress, since: datetime
    ) -> str | None:
        """The offer's payload, once, if `owner` made it in that chat after `since`."""


class StateRepository(abc.ABC):
    """Small named values the process keeps between runs and replicas (e.g. a hash of the
    slash commands last registered with Discord)."""

    @abc.abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abc.abstractmethod
    async def put(self, key: str, value: str) -> None: ...


class MarketItemRepository(abc.ABC):
    """Things with a market price: card printings (by source, source id and finish) and
    tracked pages (by product)."""

    @abc.abstractmethod
    async def get_many(self, item_ids: Sequence[int]) -> dict[int, MarketItem]: ...

    @abc.abstractmethod
    async def get_or_add(self, item: MarketItem) -> MarketItem:
        """The stored item with the same key, inserted from `item` when there is none."""

    @abc.abstractmethod
    async def update(self, item: MarketItem) -> None: ...

    @abc.abstractmethod
    async def due(self, now: datetime, limit: int) -> list[MarketItem]:
        """Items someone holds whose next refresh is due, oldest first."""


class MarketPriceRepository(abc.ABC):
    """Every observation of every item's price; statistics come from indexed queries."""

    @abc.abstractmethod
    async def add(self, price: MarketPrice) -> None: ...

    @abc.abstractmethod
    async def stats(self, item_id: int, currency: str, now: datetime) -> MarketStats:
        """The item's market in `currency`: newest price and the 30-day mean and count, over
        every source and listing."""


class HoldingRepository(abc.ABC):
    """Holdings belong to the chat they were added in, like watches."""

    @abc.abstractmethod
    async def add(self, holding: Holding) -> Holding: ...

    @abc.abstractmethod
    async def update(self, holding: Holding) -> None: ...

    @abc.abstractmethod
    async def get_in_chat(self, address: ChatAddress, holding_id: int) -> Holding | None: ...

    @abc.abstractmethod
    async def list_in_chat(self, address: ChatAddress) -> list[Holding]:
        """The chat's active holdings, oldest first."""

    @abc.abstractmethod
    async def count_in_chat(self, address: ChatAddress) -> int:
        """The chat's active holdings, counted (the per-chat limit)."""

    @abc.abstractmethod
    async def for_items(self, item_ids: Sequence[int]) -> dict[int, list[Holding]]:
        """Active holdings of each item (every id present)."""

    @abc.abstractmethod
    async def put_snapshot(
        self, address: ChatAddress, day: datetime, values: dict[str, Decimal]
    ) -> None:
        """The chat's portfolio value per currency on `day` (midnight UTC), replacing it."""

    @abc.abstractmethod
    async def snapshots(
        self, address: ChatAddress, since: datetime
    ) -> list[tuple[datetime, str, Decimal]]:
        """(day, currency, value) of the chat's snapshots since `since`, oldest first."""

    @abc.abstractmethod
    async def snapshotted(
        self, addresses: Sequence[ChatAddress], day: datetime
    ) -> set[ChatAddress]:
        """Those of these chats (platform and chat id, no thread) with a snapshot on `day`."""


class MarketplaceRepository(abc.ABC):
    """Each item's market on each marketplace (one row per item and platform)."""

    @abc.abstractmethod
    async def put(self, item_id: int, data: MarketplaceData) -> None: ...

    @abc.abstractmethod
    async def for_items(self, item_ids: Sequence[int]) -> dict[int, list[MarketplaceData]]:
        """Each item's marketplaces by platform (every id present, maybe with none)."""

    async def for_item(self, item_id: int) -> list[MarketplaceData]:
        return (await self.for_items([item_id]))[item_id]
