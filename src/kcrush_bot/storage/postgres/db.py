"""The PostgreSQL database every repository shares: a connection pool, transactions, a clock.

A transaction holds one pooled connection for its task; statements a repository runs while
that task's transaction is open go through the same connection (a context variable carries
it), so a call made "inside the caller's transaction" joins it as it does on SQLite's single
connection. Elsewhere statements take any free connection from the pool: replicas and tasks
do not queue behind one another's reads.

The password may come in the URL, from ``PGPASSWORD`` or from a ``.pgpass`` file (asyncpg reads
both); ``storage.urls.shown`` is what logs and errors show instead of the URL.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from kcrush_bot.core.errors import KcrushError
from kcrush_bot.storage.db import Clock, as_utc, system_clock
from kcrush_bot.storage.postgres import migrate
from kcrush_bot.storage.urls import scrubbed, shown

log = logging.getLogger(__name__)


def maybe_utc(value: datetime | None) -> datetime | None:
    """Times go to asyncpg aware: it would read a naive one as the machine's local time, where
    the SQLite store takes it to be UTC already (``storage.db.as_utc``)."""
    return None if value is None else as_utc(value)


def clean(value: str) -> str:
    """Text PostgreSQL can store: without U+0000, which its text type cannot hold (SQLite's
    can). A hostile feed or message may carry one in a title or an announcement; dropping it
    keeps such input from failing a whole transaction."""
    return value.replace("\x00", "")


def clean_or_none(value: str | None) -> str | None:
    return None if value is None else clean(value)


def _cleaned(args: tuple[Any, ...]) -> list[Any]:
    return [
        clean(a)
        if isinstance(a, str)
        else [clean(x) if isinstance(x, str) else x for x in a]
        if isinstance(a, list)
        else a
        for a in args
    ]


def affected(status: str) -> int:
    """How many rows a command touched, from its status tag ("UPDATE 3", "INSERT 0 5")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgDatabase:
    """The shared pool. Use ``async with PgDatabase.open(url) as db``."""

    def __init__(self, pool: asyncpg.Pool, url: str, clock: Clock | None = None) -> None:
        self.pool = pool
        # ``path`` as the SQLite database names it, so a second store can be opened on it; it
        # may hold the password: show ``display`` instead.
        self.path = url
        self.display = shown(url)
        self.clock: Clock = clock or system_clock
        self._current: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
            f"kcrush_pg_transaction_{id(self)}", default=None
        )

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        upgrade: bool = True,
        clock: Clock | None = None,
        max_connections: int = 10,
    ) -> AsyncIterator[PgDatabase]:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_connections,
                server_settings={
                    "application_name": "kcrush-bot",
                    # asyncpg prepares every statement, and after five runs PostgreSQL may
                    # switch to a generic plan made without the parameters' values. Search
                    # depends on them (a word in every post wants a different plan from a
                    # rare one): without this, a common word took 300 ms instead of 10.
                    "plan_cache_mode": "force_custom_plan",
                },
            )
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # One clear line naming the database, never its password (the driver's message
            # names host and user; a malformed URL's may quote it).
            raise KcrushError(
                f"cannot connect to {shown(url)}: {scrubbed(str(exc), url)}"
            ) from None
        try:
            if upgrade:
                async with pool.acquire() as connection:
                    await migrate.upgrade(connection)
            log.info("connected to %s", shown(url))
            yield cls(pool, url, clock)
        finally:
            await pool.close()

    def now_utc(self) -> datetime:
        """Now, by the injected clock, in UTC."""
        return as_utc(self.clock())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction on one connection, committed on success and rolled back on any error.

        Nested inside this task's open transaction it is a savepoint on the same connection.
        """
        current = self._current.get()
        if current is not None:
            async with current.transaction():
                yield current
            return
        async with self.pool.acquire() as connection, connection.transaction():
            token = self._current.set(connection)
            try:
                yield connection
            finally:
                self._current.reset(token)

    @property
    def q(self) -> Any:
        """Where a statement goes: this task's open transaction, or the pool."""
        return self._current.get() or self.pool

    # The helpers below clean every text argument (``clean``): a lookup by a hostile
    # category name or URL finds nothing instead of failing on U+0000.

    async def one(self, sql: str, *args: Any) -> Any:
        return await self.q.fetchrow(sql, *_cleaned(args))

    async def all(self, sql: str, *args: Any) -> list[Any]:
        return list(await self.q.fetch(sql, *_cleaned(args)))

    async def value(self, sql: str, *args: Any) -> Any:
        return await self.q.fetchval(sql, *_cleaned(args))

    async def execute(self, sql: str, *args: Any) -> str:
        return str(await self.q.execute(sql, *_cleaned(args)))

    async def schema_version(self) -> int:
        async with self.pool.acquire() as connection:
            return await migrate.current_version(connection)
