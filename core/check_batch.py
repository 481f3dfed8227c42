"""What one check batch carries: each product's reading, and the rows its writes start from."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import PricebotError
from core.model import Observation, PricePoint, Product, Watch
from core.ports import UnitOfWork
from core.reading import PageRead
from core.recording import Known


@dataclass(slots=True)
class Reading:
    """What fetching and reading one product gave, before anything is written."""

    product: Product
    read: PageRead | None = None
    error: PricebotError | None = None


def without_tracebacks(error: BaseException) -> None:
    """Drops the frames an error holds (and those of its causes): a reading keeps its error
    until the batch is written, and the frames would keep each failed page's body and DOM."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__


@dataclass(slots=True)
class BatchRows:
    """The rows a batch's writes start from, read in the batch's own transaction with one
    query per table instead of a few per product."""

    products: dict[int, Product]
    latest: dict[int, PricePoint]
    watches: dict[int, list[Watch]]

    @classmethod
    async def read(cls, uow: UnitOfWork, readings: list[Reading]) -> BatchRows:
        ids = [reading.product.id for reading in readings if reading.product.id is not None]
        # Points and watches matter only where something was read.
        read_ok = [
            reading.product.id
            for reading in readings
            if reading.product.id is not None and reading.error is None
        ]
        return cls(
            products=await uow.products.get_many(ids),
            latest=await uow.price_points.latest_many(read_ok),
            watches=await uow.watches.for_products(read_ok),
        )

    def known(self, product_id: int) -> Known:
        return Known(self.latest.get(product_id), self.watches.get(product_id, []))


def current_reading(product: Product) -> Observation:
    """The observation a product's fields hold (what its last full reading found)."""
    return Observation(
        price=product.price,
        currency=product.currency,
        availability=product.availability,
        title=product.title,
        image=product.image,
        method="unchanged",
        confidence=1.0,
    )
