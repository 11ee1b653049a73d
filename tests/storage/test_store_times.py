"""One stored form for every time, stamped by the injected clock, and old rows converted to it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from factories import make_post
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage import Store, migrate
from kcrush_bot.storage.db import from_db_time, to_db_time
from kcrush_bot.storage.outbox import NewRow

NOON = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_every_time_is_stored_fixed_width_in_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    assert to_db_time(datetime(2024, 5, 1, 21, 0, tzinfo=seoul)) == (
        "2024-05-01T12:00:00.000000+00:00"
    )
    assert to_db_time(datetime(2024, 5, 1, 12, 0)) == "2024-05-01T12:00:00.000000+00:00"
    assert to_db_time(NOON + timedelta(microseconds=5)) == "2024-05-01T12:00:00.000005+00:00"
    assert from_db_time("2024-05-01T12:00:00+00:00") == NOON  # rows of the old form still read
    assert from_db_time(to_db_time(NOON)) == NOON
    assert from_db_time(None) is None


async def test_now_utc_follows_the_injected_clock(tmp_path: Path) -> None:
    clock = Clock(NOON)
    async with Store.open(tmp_path / "bot.db", clock=clock) as store:
        assert store.db.now_utc() == NOON
        clock.now = NOON + timedelta(days=3)
        assert store.db.now_utc() == NOON + timedelta(days=3)
        draft = await store.announcements.create("hello", None, "operator")
        found = await store.announcements.get(draft)
        assert found is not None and found.created_at == NOON + timedelta(days=3)


async def test_a_naive_clock_is_read_as_utc(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.db", clock=lambda: datetime(2024, 5, 1, 12)) as store:
        assert store.db.now_utc() == NOON


async def test_outbox_and_posts_times_compare_as_times(tmp_path: Path) -> None:
    """A post first seen 0.7 s past noon is later than an outbox row due 0.5 s past noon, and a
    row due at the very instant the post was seen compares equal: both repositories write the
    same form, so SQL's text comparison is a time comparison."""
    clock = Clock(NOON + timedelta(milliseconds=700))
    async with Store.open(tmp_path / "bot.db", clock=clock) as store:
        chat = ChatRef("telegram", "1")
        await store.chats.subscribe(chat, ["kpop"], Mode.INSTANT)
        await store.posts.upsert([make_post(1)], source="t", pushable=True)
        half = NOON + timedelta(milliseconds=500)
        async with store.outbox.transaction() as conn:
            await store.outbox.insert(conn, [NewRow("post:1", chat.key, {}, "a")], half)
            await store.outbox.insert(conn, [NewRow("post:2", chat.key, {}, "b")], clock.now)
        async with store.db.connection.execute(
            "SELECT o.item, p.first_seen_at > o.due_at, p.first_seen_at = o.due_at "
            "FROM outbox o, posts p ORDER BY o.item"
        ) as cursor:
            rows = [tuple(r) for r in await cursor.fetchall()]
    assert rows == [("post:1", 1, 0), ("post:2", 0, 1)]


async def test_rows_stored_in_whole_seconds_are_converted(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _, _, first = migrate.available()[0]
    with sqlite3.connect(path) as raw:
        raw.executescript(first + "\nPRAGMA user_version = 1;")
        raw.execute(
            "INSERT INTO posts (url, title, published_at, first_seen_at, updated_at) "
            "VALUES ('https://x/1', 'Old', '2016-05-01T10:00:00+00:00', "
            "'2024-05-01T12:00:00+00:00', '2024-05-01T12:00:00+00:00')"
        )
        raw.execute(
            "INSERT INTO chats (key, platform, chat_id, created_at, updated_at) VALUES "
            "('telegram:1', 'telegram', '1', '2024-05-01T12:00:00+00:00', "
            "'2024-05-01T12:00:00.250000+00:00')"
        )
    async with Store.open(path) as store:
        async with store.db.connection.execute(
            "SELECT published_at, first_seen_at FROM posts"
        ) as cursor:
            assert tuple(await cursor.fetchone()) == (  # type: ignore[arg-type]
                "2016-05-01T10:00:00.000000+00:00",
                "2024-05-01T12:00:00.000000+00:00",
            )
        async with store.db.connection.execute("SELECT created_at, updated_at FROM chats") as c:
            assert tuple(await c.fetchone()) == (  # type: ignore[arg-type]
                "2024-05-01T12:00:00.000000+00:00",
                "2024-05-01T12:00:00.250000+00:00",  # already in the one form: untouched
            )
        post = await store.posts.by_url("https://x/1")
        assert post is not None
        assert post.published_at == datetime(2016, 5, 1, 10, tzinfo=UTC)
