"""Creates the async SQLAlchemy engine for SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.storage.inline_sqlite import inline_connector

SUPPORTED = "sqlite+aiosqlite:///path/to/pricebot.db or postgresql+asyncpg://user@host/dbname"

SQLITE_BUSY_TIMEOUT_MS = 5000


def sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    """Per-connection SQLite settings.

    WAL lets readers work while one writer commits; synchronous=NORMAL is the setting SQLite
    recommends with WAL (a power cut may lose the last commits, never corrupts the file);
    foreign_keys is off by default in SQLite; busy_timeout makes a second writer wait instead
    of failing at once with "database is locked".
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def make_engine(database_url: str, **engine_options: Any) -> AsyncEngine:
    """An AsyncEngine for `database_url`; raises ValueError for an unsupported scheme.

    `engine_options` go to create_async_engine (e.g. poolclass for one-off tools).
    """
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        # The text may hold a password: do not echo it.
        raise ValueError(f"not a database URL; use {SUPPORTED}") from exc
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite" and driver == "aiosqlite":
        # The aiosqlite dialect, fed connections that run sqlite3 on the event loop
        # instead of through aiosqlite's thread (see inline_sqlite for why it is safe).
        args, connect_args = SQLiteDialect_aiosqlite().create_connect_args(url)
        engine = create_async_engine(
            url, async_creator=inline_connector(*args, **connect_args), **engine_options
        )
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    if backend == "postgresql" and driver == "asyncpg":
        return create_async_engine(url, **engine_options)
    raise ValueError(
        f"unsupported database URL scheme {url.drivername!r}: pricebot needs an async driver, "
        f"use {SUPPORTED}"
    )
