"""SQL unit of work: one AsyncSession (one transaction) shared by every repository."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.storage.repositories import (
    SqlAuditRepository,
    SqlChatRepository,
    SqlOutboxRepository,
    SqlPricePointRepository,
    SqlProductRepository,
    SqlUserRepository,
    SqlWatchRepository,
)
from core.ports import UnitOfWork, UnitOfWorkFactory


class SqlUnitOfWork(UnitOfWork):
    """Repositories over one session; leaving `async with` without commit() rolls back."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.products = SqlProductRepository(session, dialect)
        self.price_points = SqlPricePointRepository(session, dialect)
        self.watches = SqlWatchRepository(session, dialect)
        self.outbox = SqlOutboxRepository(session, dialect)
        self.chats = SqlChatRepository(session, dialect)
        self.users = SqlUserRepository(session, dialect)
        self.audit = SqlAuditRepository(session, dialect)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and returns the connection.
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class SqlUnitOfWorkFactory(UnitOfWorkFactory):
    """Makes a SqlUnitOfWork with a fresh session on `engine` per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        # Repositories run Core statements and build dataclasses themselves, so ORM
        # bookkeeping (autoflush, expiring objects on commit) has nothing to do.
        self._sessions = async_sessionmaker(engine, autoflush=False, expire_on_commit=False)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions(), self._dialect)
