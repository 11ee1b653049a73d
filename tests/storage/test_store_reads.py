"""SQLite reads outside a transaction take a connection of their own.

A fan's command reads the archive while the delivery worker commits the broadcast's outcomes
on the writer: the read must not queue behind those writes on the writer's thread. A task
inside its own transaction still reads through the writer, and sees what it wrote.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from factories import make_post
from kcrush_bot.storage import Store

pytestmark = pytest.mark.timeout(60)

# Seconds of work for SQLite, on the writer's thread: a stand-in for a burst of group commits.
BUSY_WRITER = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000000) "
    "SELECT count(*) FROM n"
)


async def test_a_read_does_not_wait_for_the_writer(tmp_path: Path):
    async with Store.open(tmp_path / "bot.db") as store:
        await store.posts.upsert([make_post(n) for n in range(1, 6)], source="test", pushable=False)
        finished: list[str] = []

        async def busy_writer() -> None:
            async with store.db.transaction() as conn, conn.execute(BUSY_WRITER):
                finished.append("writer")  # its statement ran to its first (only) row

        writer = asyncio.create_task(busy_writer())
        await asyncio.sleep(0.1)  # the writer's thread is in its statement now
        latest = await store.posts.latest(3)
        finished.append("read")
        await writer
    assert [p.url for p in latest] == [make_post(n).url for n in (5, 4, 3)]
    assert finished == ["read", "writer"]


async def test_a_transaction_reads_its_own_writes_and_others_do_not_see_them(tmp_path: Path):
    async with Store.open(tmp_path / "bot.db") as store:
        seen_outside: list[int] = []
        inside = asyncio.Event()
        done = asyncio.Event()

        async def outside() -> None:
            await inside.wait()
            row = await store.db.one("SELECT count(*) FROM posts")
            assert row is not None
            seen_outside.append(row[0])
            done.set()

        reader = asyncio.create_task(outside())
        async with store.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO posts (url, title, teaser, first_seen_at, updated_at, source) "
                "VALUES ('https://www.kcrush.com/x/', 'X', '', ?, ?, 'test')",
                (store.db.now_db(), store.db.now_db()),
            )
            row = await store.db.one("SELECT count(*) FROM posts")
            assert row is not None and row[0] == 1  # its own write, through the writer
            inside.set()
            await done.wait()
        await reader
        assert seen_outside == [0]  # not committed yet: not seen elsewhere
        row = await store.db.one("SELECT count(*) FROM posts")
        assert row is not None and row[0] == 1
