"""The database file: WAL, foreign keys, numbered migrations recorded in user_version."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from kcrush_bot.core.models import Category, ChatRef, Mode
from kcrush_bot.storage import Store, migrate


async def test_fresh_database_is_migrated_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    async with Store.open(path) as store:
        assert await store.db.schema_version() == len(migrate.available())
        async with store.db.connection.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with store.db.connection.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "posts",
        "categories",
        "post_categories",
        "sources",
        "chats",
        "subscriptions",
        "outbox",
        "digests",
        "announcements",
        "audit_log",
        "posts_fts",
    } <= tables


async def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.db") as store:
        assert await migrate.upgrade(store.db.connection) == []


def test_migrations_are_numbered_without_gaps() -> None:
    names = [name for _, name, _ in migrate.available()]
    assert names[0].startswith("001_")
    assert [int(n[:3]) for n in names] == list(range(1, len(names) + 1))


async def test_category_parents_cover_children(store: Store) -> None:
    assert set(await store.posts.descendants("interviews")) >= {"interviews", "k-pop-interviews"}
    await store.posts.sync_categories([Category("sub", "Sub", parent="kpop")])
    assert "sub" in await store.posts.descendants("kpop")


async def test_deactivating_a_chat_records_the_reason(store: Store) -> None:
    chat = ChatRef("telegram", "-5")
    await store.chats.subscribe(chat, ["kpop"], Mode.INSTANT)
    await store.chats.deactivate(chat, "Forbidden: bot was kicked")
    [sub] = await store.chats.subscriptions(chat)
    assert not sub.active and sub.inactive_reason == "Forbidden: bot was kicked"
    assert await store.chats.inactive() == [(chat, "Forbidden: bot was kicked")]
    await store.chats.subscribe(chat, ["kpop"], Mode.INSTANT)  # re-subscribing reactivates
    assert (await store.chats.subscriptions(chat))[0].active


async def test_moving_a_chat_carries_its_subscriptions(store: Store) -> None:
    old, new = ChatRef("telegram", "-5"), ChatRef("telegram", "-1005")
    await store.chats.subscribe(old, ["kpop"], Mode.DAILY)
    await store.chats.move(old, new)
    assert [s.chat for s in await store.chats.subscriptions()] == [new]


async def test_a_transaction_waits_for_a_read_that_another_connection_outdated(
    tmp_path: Path,
) -> None:
    """A read still open on the shared connection while ingest (its own connection) commits:
    SQLite refuses BEGIN IMMEDIATE at once ("database is locked") until the read ends."""
    path = tmp_path / "bot.db"
    async with Store.open(path) as shared, Store.open(path) as ingest:
        for n in range(3):
            await shared.chats.subscribe(ChatRef("telegram", str(n)), ["kpop"], Mode.INSTANT)
        reading = await shared.db.connection.execute("SELECT key FROM chats")
        await reading.fetchone()  # the read's snapshot is now open
        await ingest.chats.subscribe(ChatRef("telegram", "99"), ["kpop"], Mode.INSTANT)

        async def finish_read() -> None:
            await asyncio.sleep(0.05)
            await reading.close()

        closer = asyncio.create_task(finish_read())
        await shared.chats.subscribe(ChatRef("telegram", "100"), ["kpop"], Mode.INSTANT)
        await closer
        assert len(await shared.chats.subscriptions()) == 5
