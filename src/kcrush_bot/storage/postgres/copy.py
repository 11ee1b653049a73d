"""``db copy``: a whole SQLite store into an empty PostgreSQL database, ids and all.

The SQLite side is read inside one read transaction, so a bot still running on it is seen at
one instant (WAL gives readers a snapshot). The PostgreSQL side is written inside one
transaction with ``COPY``: the target holds everything or, on any error, nothing. A target
that already holds rows is refused: copying is for moving a store, never for merging two.

Each table's columns are the ones both schemas have (the target's generated search vector is
built by PostgreSQL itself), each value converted from SQLite's storage form to the column's
PostgreSQL type: ISO 8601 text to timestamptz, 0/1 to boolean. Identities then continue after
the highest id copied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg

from kcrush_bot.storage.postgres import migrate
from kcrush_bot.storage.postgres.db import clean

# Every table the two schemas share is copied (a table a later migration adds included); these
# go first, parents before children, so the progress bar reads in the order a reader expects.
# Foreign keys are checked at commit in any case.
FIRST = (
    "categories",
    "posts",
    "post_categories",
    "post_tags",
    "sources",
    "chats",
    "subscriptions",
    "digests",
    "announcements",
    "outbox",
    "audit_log",
)
# PostgreSQL's own bookkeeping: never copied, but a target with rows in the replicas' tables is
# in use all the same.
POSTGRES_ONLY = ("leases", "replicas")
BATCH = 2000

Progress = Callable[[str, int, int], None]  # table, rows copied so far in it, rows in it


class TargetNotEmpty(Exception):
    """The PostgreSQL database already holds a store's rows."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # information_schema's data_type: "timestamp with time zone", "boolean", …


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def converter(column: Column) -> Callable[[Any], Any]:
    """How a SQLite value becomes a value of the PostgreSQL column's type."""
    if column.type == "timestamp with time zone":
        return _time
    if column.type == "boolean":
        return lambda v: None if v is None else bool(v)
    if column.type in ("bigint", "integer", "smallint"):
        return lambda v: None if v is None else int(v)
    return lambda v: None if v is None else clean(str(v))


async def _target_columns(target: asyncpg.Connection, table: str) -> list[Column]:
    rows = await target.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' "
        "ORDER BY ordinal_position",
        table,
    )
    return [Column(r["column_name"], r["data_type"]) for r in rows]


async def _source_columns(source: aiosqlite.Connection, table: str) -> set[str]:
    async with source.execute("SELECT name FROM pragma_table_info(?)", (table,)) as cursor:
        return {row[0] for row in await cursor.fetchall()}


def _quoted(name: str) -> str:
    """A table or column name of our own schema, quoted for SQLite."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected name {name!r}")
    return f'"{name}"'


async def _rows(
    source: aiosqlite.Connection, table: str, columns: Sequence[Column]
) -> AsyncIterator[list[tuple[Any, ...]]]:
    convert = [converter(c) for c in columns]
    names = ", ".join(_quoted(c.name) for c in columns)
    # Names come from the two schemas (checked by _quoted), never from input.
    async with source.execute(f"SELECT {names} FROM {_quoted(table)}") as cursor:
        while batch := await cursor.fetchmany(BATCH):
            yield [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in batch]


async def shared_tables(source: aiosqlite.Connection, target: asyncpg.Connection) -> list[str]:
    """The tables both stores have, ``FIRST`` first (FTS5's and the schema's own aside)."""
    async with source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
    ) as cursor:
        in_source = {row[0] for row in await cursor.fetchall()}
    in_target = {
        row["table_name"]
        for row in await target.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    }
    shared = (in_source & in_target) - {"schema_version", *POSTGRES_ONLY}
    return [t for t in FIRST if t in shared] + sorted(shared - set(FIRST))


async def occupied_tables(target: asyncpg.Connection, tables: Sequence[str]) -> list[str]:
    """The store's tables in the target that hold at least one row."""
    occupied = []
    for table in (*tables, *POSTGRES_ONLY):
        # Table names are this module's constants; identifiers cannot be bound parameters.
        if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_quoted(table)})"):
            occupied.append(table)
    return occupied


async def count_rows(source: aiosqlite.Connection, tables: Sequence[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        async with source.execute(f"SELECT count(*) FROM {_quoted(table)}") as cursor:
            row = await cursor.fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


async def copy_store(
    source: aiosqlite.Connection,
    target: asyncpg.Connection,
    *,
    progress: Progress | None = None,
    counted: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Copy every table of a SQLite store into an empty PostgreSQL one; rows copied per table.

    ``source`` is a SQLite store's connection (migrated); the target is migrated here.
    ``counted`` hears how many rows each table holds before any is copied; ``progress`` hears
    how far each table has got.
    """
    await migrate.upgrade(target)
    tables = await shared_tables(source, target)
    await source.execute("BEGIN")  # one snapshot of the source for the whole copy
    try:
        totals = await count_rows(source, tables)
        if counted:
            counted(totals)
        copied: dict[str, int] = {}
        async with target.transaction():
            # Taken inside the transaction: two copies started together cannot both see
            # an empty target.
            await target.execute("LOCK TABLE posts IN EXCLUSIVE MODE")
            # Rows arrive in batches, a child category possibly before its parent's batch:
            # every foreign key is checked once, at commit.
            await target.execute("SET CONSTRAINTS ALL DEFERRED")
            occupied = await occupied_tables(target, tables)
            if occupied:
                raise TargetNotEmpty(
                    "the target database already holds a store "
                    f"(rows in {', '.join(occupied)}); copy into an empty database"
                )
            for table in tables:
                present = await _source_columns(source, table)
                columns = [c for c in await _target_columns(target, table) if c.name in present]
                done = 0
                if progress:
                    progress(table, done, totals[table])
                async for batch in _rows(source, table, columns):
                    await target.copy_records_to_table(
                        table, records=batch, columns=[c.name for c in columns]
                    )
                    done += len(batch)
                    if progress:
                        progress(table, done, totals[table])
                copied[table] = done
                if "id" in {c.name for c in columns}:
                    # Identities continue after the highest id copied (or start at 1).
                    await target.execute(
                        f"SELECT setval(pg_get_serial_sequence('{_quoted(table)}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {_quoted(table)}), 0) + 1, false)"
                    )
    finally:
        await source.execute("COMMIT")
    return copied
