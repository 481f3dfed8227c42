"""SQL unit of work: one AsyncSession (one transaction) shared by every repository."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

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
        self.dialect = dialect
        self._connection: AsyncConnection | None = None
        self.products = SqlProductRepository(self)
        self.price_points = SqlPricePointRepository(self)
        self.watches = SqlWatchRepository(self)
        self.outbox = SqlOutboxRepository(self)
        self.chats = SqlChatRepository(self)
        self.users = SqlUserRepository(self)
        self.audit = SqlAuditRepository(self)

    async def connection(self) -> AsyncConnection:
        """The connection of the session's current transaction (begun on first use).

        Kept until the transaction ends: asking the session for it on every statement
        would cost a round through its machinery each time.
        """
        if self._connection is None:
            self._connection = await self.session.connection()
        return self._connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and returns the connection.
        self._connection = None
        await self.session.close()

    async def commit(self) -> None:
        self._connection = None
        await self.session.commit()

    async def rollback(self) -> None:
        self._connection = None
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
