"""SQLite for the async engine without a thread hop per call: sqlite3 runs on the event loop.

Why: aiosqlite sends every DBAPI call (cursor, execute, fetch, close) to a per-connection
thread and back, about four thread hand-offs per statement. SQLite itself answers our
indexed statements in microseconds, so those hand-offs were most of the time of a product
check (measured: ~3x fewer checks per second). These classes look like aiosqlite's
Connection and Cursor to SQLAlchemy's `sqlite+aiosqlite` dialect (passed as its
`async_creator`) but call sqlite3 directly.

Blocking on a lock is what makes inline execution dangerous: if one connection of this
process held SQLite's write lock while another, on the same event loop, waited in SQLite's
busy handler, the holder could never run to release it. So writers of one process queue on
an asyncio.Lock per database file before their first write, and only other processes are
left to SQLite's busy_timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# How long a writer of this process waits for another one before giving up, like
# SQLite's busy_timeout does between processes.
WRITE_LOCK_TIMEOUT = 5.0

# pysqlite (legacy transaction control) opens a transaction before these statements only;
# any other statement runs in autocommit mode and needs no lock of ours.
_TRANSACTION_OPENERS = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def write_lock(database: str) -> asyncio.Lock:
    """The lock of this database file on the running event loop."""
    per_loop = _write_locks.setdefault(asyncio.get_running_loop(), {})
    lock = per_loop.get(database)
    if lock is None:
        lock = per_loop[database] = asyncio.Lock()
    return lock


def _opens_transaction(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_TRANSACTION_OPENERS)


class InlineCursor:
    """aiosqlite.Cursor's interface over a sqlite3 cursor."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()
    ) -> InlineCursor:
        await self._connection._before_statement(sql)
        try:
            self._cursor.execute(sql, parameters)
        finally:
            self._connection._after_statement()
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        await self._connection._before_statement(sql)
        try:
            self._cursor.executemany(sql, parameters)
        finally:
            self._connection._after_statement()
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses to change the
    isolation level: runs the request at once."""

    def put_nowait(self, request: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = request
        try:
            future.set_result(function())
        except Exception as error:  # handed to the waiting caller, as aiosqlite does
            future.set_exception(error)


class InlineConnection:
    """aiosqlite.Connection's interface over a sqlite3 connection, run on the calling thread."""

    def __init__(self, connection: sqlite3.Connection, database: str) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._database = database
        self._holds_write_lock = False
        self._tx = _ImmediateQueue()

    @property
    def _conn(self) -> sqlite3.Connection:
        """The sqlite3 connection (aiosqlite's name for it, used by SQLAlchemy)."""
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def _before_statement(self, sql: str) -> None:
        if self._holds_write_lock or self._conn.in_transaction or not _opens_transaction(sql):
            return
        try:
            # asyncio.timeout rather than wait_for: on Python 3.11 wait_for can lose a lock
            # acquired just as the timeout fires, and nobody would ever release it.
            async with asyncio.timeout(WRITE_LOCK_TIMEOUT):
                await write_lock(self._database).acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._holds_write_lock = True

    def _after_statement(self) -> None:
        # A statement that failed before its transaction began leaves nothing to protect.
        if self._holds_write_lock and not (self._connection and self._connection.in_transaction):
            self._release()

    def _release(self) -> None:
        if not self._holds_write_lock:
            return
        self._holds_write_lock = False
        try:
            write_lock(self._database).release()
        except RuntimeError:  # no running loop (a garbage-collected connection): nobody waits
            pass

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()
    ) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self._conn.commit()
        finally:
            self._after_statement()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._after_statement()

    async def close(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.close()
        finally:
            self._connection = None
            self._release()

    def stop(self) -> None:
        """Hard close (SQLAlchemy's terminate): nothing runs elsewhere, so just close."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._release()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


def inline_connector(database: str, **connect_args: Any) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine that opens InlineConnections."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(database, **connect_args), database)

    return connect
