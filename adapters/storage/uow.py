"""SQL units of work: one transaction shared by every repository (PostgreSQL through the
async engine, SQLite on a plain connection run on the event loop)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.base import Executable

from adapters.storage import inline_sqlite
from adapters.storage.engine import sqlite_pragmas
from adapters.storage.market_repositories import (
    SqlHoldingRepository,
    SqlMarketItemRepository,
    SqlMarketplaceRepository,
    SqlMarketPriceRepository,
)
from adapters.storage.repositories import (
    SqlChatRepository,
    SqlOfferRepository,
    SqlOutboxRepository,
    SqlPricePointRepository,
    SqlProductRepository,
    SqlStateRepository,
    SqlUserRepository,
    SqlWatchRepository,
)
from core.ports import UnitOfWork, UnitOfWorkFactory


class _SqlRepositories(UnitOfWork):
    """The repositories, each running its statements through `execute`."""

    dialect: str

    def _attach_repositories(self) -> None:
        self.products = SqlProductRepository(self)
        self.price_points = SqlPricePointRepository(self)
        self.watches = SqlWatchRepository(self)
        self.outbox = SqlOutboxRepository(self)
        self.chats = SqlChatRepository(self)
        self.users = SqlUserRepository(self)
        self.offers = SqlOfferRepository(self)
        self.state = SqlStateRepository(self)
        self.items = SqlMarketItemRepository(self)
        self.market_prices = SqlMarketPriceRepository(self)
        self.holdings = SqlHoldingRepository(self)
        self.marketplaces = SqlMarketplaceRepository(self)

    async def execute(self, statement: Executable, params: dict[str, Any] | None) -> Any:
        raise NotImplementedError


class SqlUnitOfWork(_SqlRepositories):
    """Repositories over one async session; leaving `async with` without commit() rolls
    back."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        self._connection: AsyncConnection | None = None
        self._attach_repositories()

    async def execute(self, statement: Executable, params: dict[str, Any] | None) -> Any:
        # The connection of the session's current transaction (begun on first use), kept
        # until the transaction ends: asking the session for it on every statement would
        # cost a round through its machinery each time.
        if self._connection is None:
            self._connection = await self.session.connection()
        return await self._connection.execute(statement, params)

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


class SqliteUnitOfWork(_SqlRepositories):
    """Repositories over one plain SQLAlchemy connection to a SQLite file.

    sqlite3 runs on the event loop either way (see inline_sqlite), so the async engine's
    machinery bought nothing here: a greenlet and several switches per statement, about
    half of each statement's cost (measured: 160-240 us against 80-115 for the same
    statements on a plain connection). Writers of this process still queue on the
    database's asyncio lock before their first write and keep it until the transaction
    ends, exactly as the inline connections do, so no writer ever blocks the loop waiting
    for another one of ours.
    """

    dialect = "sqlite"

    def __init__(self, engine: Engine, database: str) -> None:
        self._engine = engine
        self._database = database
        self._connection: Connection | None = None
        self._holds_write_lock = False
        self._attach_repositories()

    async def execute(self, statement: Executable, params: dict[str, Any] | None) -> Any:
        connection = self._connection
        if connection is None:
            connection = self._connection = self._engine.connect()
        if not self._holds_write_lock and getattr(statement, "is_dml", False):
            await self._take_write_lock(statement, params)
        try:
            return connection.execute(statement, params)
        finally:
            if self._holds_write_lock and not self._in_transaction():
                self._release()  # failed before its transaction began: nothing to protect

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        try:
            if connection is not None:
                connection.close()  # rolls back whatever was not committed
        finally:
            self._release()

    async def commit(self) -> None:
        self._end(Connection.commit)

    async def rollback(self) -> None:
        self._end(Connection.rollback)

    def _end(self, how: Callable[[Connection], None]) -> None:
        """Commits or rolls back the transaction; the write lock goes back either way."""
        try:
            if self._connection is not None:
                how(self._connection)
        finally:
            self._release()

    async def _take_write_lock(self, statement: Executable, params: dict[str, Any] | None) -> None:
        try:
            # asyncio.timeout rather than wait_for: on Python 3.11 wait_for can lose a lock
            # acquired just as the timeout fires, and nobody would ever release it.
            async with asyncio.timeout(inline_sqlite.WRITE_LOCK_TIMEOUT):
                await inline_sqlite.write_lock(self._database).acquire()
        except TimeoutError:
            raise OperationalError(
                str(statement), params, sqlite3.OperationalError("database is locked")
            ) from None
        self._holds_write_lock = True

    def _in_transaction(self) -> bool:
        connection = self._connection
        if connection is None or connection.closed:
            return False
        raw = connection.connection.dbapi_connection
        return bool(raw is not None and raw.in_transaction)

    def _release(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            inline_sqlite.write_lock(self._database).release()


class SqlUnitOfWorkFactory(UnitOfWorkFactory):
    """Makes a unit of work per call: on a fresh async session for PostgreSQL, on a plain
    connection from a pool of its own for SQLite (the same file as `engine`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        # Repositories run Core statements and build dataclasses themselves, so ORM
        # bookkeeping (autoflush, expiring objects on commit) has nothing to do.
        self._sessions = async_sessionmaker(engine, autoflush=False, expire_on_commit=False)
        self._sqlite: Engine | None = None
        self._database = ""
        if self._dialect == "sqlite":
            self._database = engine.url.database or ""
            self._sqlite = create_engine(
                engine.url.set(drivername="sqlite+pysqlite"),
                # Connections are only ever used on the event loop's thread, one unit of
                # work at a time, but a pooled one may be handed to a test's other loop.
                connect_args={"check_same_thread": False},
                # Never wait for a pooled connection: a wait would block the event loop
                # that the holders need to finish (idle ones beyond five are closed).
                pool_size=5,
                max_overflow=-1,
            )
            event.listen(self._sqlite, "connect", sqlite_pragmas)

    def __call__(self) -> _SqlRepositories:
        if self._sqlite is not None:
            return SqliteUnitOfWork(self._sqlite, self._database)
        return SqlUnitOfWork(self._sessions(), self._dialect)

    async def aclose(self) -> None:
        """Closes the SQLite connections this factory opened (the async engine is the
        caller's to dispose)."""
        if self._sqlite is not None:
            self._sqlite.dispose()
