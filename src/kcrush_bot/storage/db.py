"""The one database every repository shares: its connection, transaction lock, clock and times.

One aiosqlite connection over a WAL database, opened with the migrations applied, writes and
reads inside a transaction; a second one, query-only, takes every other read (``one``, ``all``).
Under WAL a read sees every committed write and waits for none, so a fan's ``/search`` does not
queue on the writer's thread behind the broadcast's group commits. Every stored
time goes through ``to_db_time`` / ``from_db_time`` here: fixed-width ISO 8601 UTC with
microseconds (``2024-05-01T12:00:00.000000+00:00``), so text order is time order and a
half-second ``retry_after`` is not rounded away. The clock is injected: ``now_utc()`` is what
the repositories stamp rows with, so a test's clock and the rows agree.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence, Sized
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

import aiosqlite

from kcrush_bot.core.errors import StoreUnavailable
from kcrush_bot.storage import migrate

BEGIN_ATTEMPTS = 20
# Set while this task holds the writer's transaction: its reads must see its own writes.
_in_transaction: ContextVar[bool] = ContextVar("kcrush_sqlite_in_transaction", default=False)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC time; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@overload
def to_db_time(value: datetime) -> str: ...


@overload
def to_db_time(value: None) -> None: ...


def to_db_time(value: datetime | None) -> str | None:
    """The one stored form of a time: fixed-width UTC text with microseconds."""
    if value is None:
        return None
    return as_utc(value).isoformat(timespec="microseconds")


def from_db_time(value: str | None) -> datetime | None:
    """A stored time back as an aware UTC datetime (None for NULL or empty)."""
    return as_utc(datetime.fromisoformat(value)) if value else None


def chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Slices small enough for SQLite's limit on host parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def marks(values: Sized) -> str:
    """``?, ?, ?``: one placeholder per value for an ``IN (...)`` list."""
    return ",".join("?" * len(values))


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its journal files the
    same mode); an existing file keeps the mode its owner chose."""
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(20, f"Not a directory: {path.parent} is a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(21, "it is a directory")
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))


def _why_not(path: str, exc: BaseException) -> str:
    """One line an operator can act on, naming the path, for a database that will not open."""
    reason = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, sqlite3.Error) and "readonly" in reason.replace(" ", ""):
        reason = "it is read-only, and the bot writes to it and to its folder (for its journal)"
    elif isinstance(exc, sqlite3.DatabaseError) and "not a database" in reason:
        reason = "the file is not a kcrush-bot database"
    return f"cannot open the database {path}: {reason}"


class Database:
    """The shared connection. Use ``async with Database.open(path) as db``."""

    def __init__(
        self,
        connection: aiosqlite.Connection,
        path: str,
        clock: Clock | None = None,
        reader: aiosqlite.Connection | None = None,
    ) -> None:
        self.connection = connection
        self.reader = reader or connection  # ":memory:" has no second connection to open
        self.path = path
        self.clock: Clock = clock or system_clock
        # One connection is shared by every task, and SQLite has one transaction per
        # connection: transactions take turns, or one task's statements land in another's.
        self.write_lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, path: str | Path, *, upgrade: bool = True, clock: Clock | None = None
    ) -> AsyncIterator[Database]:
        path = str(path)
        try:
            if path != ":memory:":
                _create_private(Path(path))
            connection = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(_why_not(path, exc)) from None
        try:
            try:
                await connection.execute("PRAGMA journal_mode = WAL")
                await connection.execute("PRAGMA foreign_keys = ON")
                await connection.execute("PRAGMA synchronous = NORMAL")
                await connection.execute("PRAGMA busy_timeout = 5000")
                if upgrade:
                    await migrate.upgrade(connection)
            except (OSError, sqlite3.Error) as exc:
                raise StoreUnavailable(_why_not(path, exc)) from None
            async with _reader(path) as reader:
                yield cls(connection, path, clock, reader)
        finally:
            await connection.close()

    def now_utc(self) -> datetime:
        """Now, by the injected clock, in UTC."""
        return as_utc(self.clock())

    def now_db(self) -> str:
        """Now, by the injected clock, in the stored form."""
        return to_db_time(self.now_utc())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error: nothing is stored half-way."""
        async with self.write_lock:
            await self._begin()
            inside = _in_transaction.set(True)
            try:
                yield self.connection
            except BaseException:
                await self.connection.execute("ROLLBACK")
                raise
            else:
                await self.connection.execute("COMMIT")
            finally:
                _in_transaction.reset(inside)

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried briefly when SQLite answers "database is locked" at once.

        Another connection (ingest has its own) may have written since a read still open on
        this shared connection began; SQLite then refuses the write lock without waiting for
        busy_timeout (SQLITE_BUSY_SNAPSHOT). The read finishes within milliseconds.
        """
        for attempt in range(BEGIN_ATTEMPTS):
            try:
                await self.connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == BEGIN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))

    def _reading(self) -> aiosqlite.Connection:
        """The writer inside this task's transaction, else the reader."""
        return self.connection if _in_transaction.get() else self.reader

    async def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, its columns readable by name."""
        async with self._reading().execute(sql, params) as cursor:
            cursor.row_factory = sqlite3.Row
            return await cursor.fetchone()

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row of a query, its columns readable by name."""
        async with self._reading().execute(sql, params) as cursor:
            cursor.row_factory = sqlite3.Row
            return list(await cursor.fetchall())

    async def rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """``all`` in one trip to the reader's thread instead of three (execute, fetch, close).

        Each trip is a thread wake-up, and on a busy machine a wake-up can wait a scheduler
        slice: a read that has to answer a fan at once (search) takes one trip.
        """
        if _in_transaction.get() or self.reader is self.connection:
            async with self._reading().execute(sql, params) as cursor:
                cursor.row_factory = sqlite3.Row
                return list(await cursor.fetchall())
        return list(await self.reader.execute_fetchall(sql, params))

    async def schema_version(self) -> int:
        return await migrate.current_version(self.connection)


@asynccontextmanager
async def _reader(path: str) -> AsyncIterator[aiosqlite.Connection | None]:
    """The read connection (query-only, on a thread of its own); None for ``:memory:``."""
    if path == ":memory:":
        yield None
        return
    reader = await aiosqlite.connect(path, isolation_level=None)
    try:
        reader.row_factory = sqlite3.Row  # rows() reads without a cursor of its own
        await reader.execute("PRAGMA query_only = ON")
        await reader.execute("PRAGMA busy_timeout = 5000")
        yield reader
    finally:
        await reader.close()
