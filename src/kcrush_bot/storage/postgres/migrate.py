"""Numbered SQL migrations for PostgreSQL, all pending ones applied in one transaction.

``migrations/NNN_name.sql`` files, append-only as the SQLite ones are; the versions applied are
rows of ``schema_version``. Replicas starting together take an advisory lock first, so one
applies the migrations and the others find them applied.
"""

from __future__ import annotations

import logging

import asyncpg

from kcrush_bot.storage import migrate as sqlite_migrate

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key: "kcrush" + "mig" in ASCII, any constant no other code uses.
MIGRATION_LOCK = 0x6B637275_6D6967


def available() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every bundled PostgreSQL migration, in order."""
    return sqlite_migrate.available("kcrush_bot.storage.postgres")


async def current_version(db: asyncpg.Connection) -> int:
    if await db.fetchval("SELECT to_regclass('schema_version')") is None:
        return 0
    return int(await db.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def upgrade(db: asyncpg.Connection) -> list[str]:
    """Apply every migration newer than the database; returns the names applied.

    One transaction for all of them: a failure anywhere leaves the database as it was.
    """
    applied: list[str] = []
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        version = await current_version(db)
        for number, name, sql in available():
            if number <= version:
                continue
            await db.execute(sql)  # no arguments: the simple protocol runs the whole file
            await db.execute(
                "INSERT INTO schema_version (version, name) VALUES ($1, $2)", number, name
            )
            applied.append(name)
    for name in applied:
        log.info("applied migration %s", name)
    return applied
