"""PostgreSQL migrations: the same tables and columns as SQLite's, applied once, all or nothing."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import asyncpg
import pytest

from kcrush_bot.storage import migrate as sqlite_migrate
from kcrush_bot.storage.postgres import migrate
from pg import PgServer


def sqlite_schema() -> dict[str, set[str]]:
    """Every ordinary table of the SQLite migrations with its columns (FTS5 tables aside)."""
    db = sqlite3.connect(":memory:")
    for _, _, sql in sqlite_migrate.available():
        db.executescript(sql)
    tables = [
        name
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'"
        )
        if not re.match(r"posts_fts|posts_title_grams|sqlite_", name)
    ]
    return {t: {row[1] for row in db.execute(f"PRAGMA table_info({t})")} for t in tables}


async def pg_schema(url: str) -> dict[str, set[str]]:
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
    finally:
        await db.close()
    schema: dict[str, set[str]] = {}
    for row in rows:
        schema.setdefault(row["table_name"], set()).add(row["column_name"])
    return schema


async def test_every_sqlite_table_and_column_exists_on_postgres(pg_url: str) -> None:
    # A SQLite migration without its PostgreSQL twin fails here.
    pg = await pg_schema(pg_url)
    for table, columns in sqlite_schema().items():
        assert table in pg, table
        assert columns <= pg[table], (table, columns - pg[table])
    assert pg["posts"] - sqlite_schema()["posts"] == {"search_vector"}


async def fresh_database(server: PgServer, name: str) -> str:
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
    finally:
        await admin.close()
    return server.url(name)


async def test_upgrade_applies_each_migration_once(pg_server: PgServer) -> None:
    url = await fresh_database(pg_server, "upgrade_once")
    db = await asyncpg.connect(url)
    try:
        assert await migrate.current_version(db) == 0
        names = [name for _, name, _ in migrate.available()]
        assert await migrate.upgrade(db) == names
        assert await migrate.upgrade(db) == []
        assert await migrate.current_version(db) == len(names)
        rows = await db.fetch("SELECT version, name FROM schema_version ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == list(enumerate(names, start=1))
    finally:
        await db.close()


async def test_replicas_starting_together_migrate_once(pg_server: PgServer) -> None:
    url = await fresh_database(pg_server, "upgrade_together")
    connections = [await asyncpg.connect(url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate.upgrade(db) for db in connections))
        assert sorted(len(names) for names in applied) == [0, 0, len(migrate.available())]
    finally:
        for db in connections:
            await db.close()


async def test_a_failing_migration_leaves_the_database_as_it_was(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await fresh_database(pg_server, "upgrade_fails")
    good = migrate.available()
    broken = (len(good) + 1, f"{len(good) + 1:03d}_broken.sql", "CREATE TABLE half (x int); x;")
    monkeypatch.setattr(migrate, "available", lambda: [*good, broken])
    db = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrate.upgrade(db)
        assert await migrate.current_version(db) == 0
        assert await db.fetchval("SELECT to_regclass('posts')") is None
        assert await db.fetchval("SELECT to_regclass('half')") is None
    finally:
        await db.close()


def test_migrations_are_numbered_in_sequence() -> None:
    numbers = [number for number, _, _ in migrate.available()]
    assert numbers == list(range(1, len(numbers) + 1))
