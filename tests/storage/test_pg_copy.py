"""``db copy``: a SQLite store moved whole into PostgreSQL, refused into a non-empty one, and all
or nothing; the command line around it names no password."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from factories import CATEGORIES, make_post
from kcrush_bot.core.models import ChatRef, DigestSchedule, Mode, Post
from kcrush_bot.sample import load_sample_posts
from kcrush_bot.storage import Store
from kcrush_bot.storage.outbox import NewRow
from kcrush_bot.storage.postgres.copy import FIRST, TargetNotEmpty, copy_store
from ops.opskit import kcrush
from sources.test_sample_search import distinctive_words

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FAN = ChatRef("telegram", "-100500")


async def a_store_in_use(path: Path) -> None:
    """A SQLite store with something in every table."""
    async with Store.open(path) as store:
        await store.posts.sync_categories(CATEGORIES)
        await store.posts.upsert(load_sample_posts(), source="sample", pushable=False)
        await store.posts.upsert(
            [make_post(900, tags=("live",)), make_post(901, title="Hangul 서울의 밤")],
            source="feed",
            pushable=True,
        )
        await store.chats.subscribe(FAN, ["interviews", "kpop"], Mode.INSTANT, title="Fans")
        await store.chats.subscribe(ChatRef("discord", "77"), ["kpop"], Mode.DAILY)
        await store.chats.deactivate(ChatRef("discord", "77"), "Missing Access")
        await store.chats.set_digest(DigestSchedule(FAN, Mode.DAILY, "08:30", "Asia/Seoul"))
        await store.sources.record_poll("feed", "feed", "https://www.kcrush.com/feed/", ok=True)
        draft = await store.announcements.create("Hello fans", None, "operator")
        await store.announcements.set_status(draft, "confirmed")
        await store.announcements.audit("operator", "announce", chat=FAN, detail={"id": draft})
        async with store.outbox.transaction() as conn:
            await store.outbox.insert(
                conn, [NewRow("post:1", FAN.key, {"reply": {"text": "\x00 ok"}}, "a")], NOW
            )


async def counts(url: str, tables: Iterable[str] = FIRST) -> dict[str, int]:
    db = await asyncpg.connect(url)
    try:
        return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
    finally:
        await db.close()


async def test_the_whole_store_arrives_and_answers_the_same(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "bot.db"
    await a_store_in_use(path)
    async with Store.open(path) as sqlite:
        target = await asyncpg.connect(pg_url)
        try:
            copied = await copy_store(sqlite.db.connection, target)
        finally:
            await target.close()
        assert copied == await counts(pg_url, copied)
        assert all(copied[t] > 0 for t in FIRST), copied
        # Tables later migrations add travel too (WebSub's, say), not only the first ones.
        assert set(copied) > set(FIRST)
        async with Store.open(pg_url) as pg:
            for post in load_sample_posts()[:10]:
                assert await pg.posts.by_url(post.url) == await sqlite.posts.by_url(post.url)
            assert await pg.chats.subscriptions() == await sqlite.chats.subscriptions()
            assert await pg.chats.digests() == await sqlite.chats.digests()
            assert await pg.chats.inactive() == await sqlite.chats.inactive()
            assert await pg.sources.health() == await sqlite.sources.health()
            assert await pg.announcements.get(1) == await sqlite.announcements.get(1)
            assert await pg.outbox.counts() == await sqlite.outbox.counts()
            assert await pg.posts.tags(
                (await sqlite.posts.by_url(make_post(900).url)).id  # type: ignore[union-attr]
            ) == ["live"]
            for query in ["크나큰", "서울", "interview", *map(" ".join, map(distinctive_words, [
                p.title for p in load_sample_posts()[:15]
            ]))]:  # fmt: skip
                on_pg = [h.post.url for h in (await pg.posts.search(query, limit=3))[0]]
                on_sqlite = [h.post.url for h in (await sqlite.posts.search(query, limit=3))[0]]
                assert on_pg[:1] == on_sqlite[:1], query
            # New rows take ids after the copied ones.
            result = await pg.posts.upsert([make_post(5000)], source="t", pushable=False)
            assert result.new[0] > max(p.id or 0 for p in await sqlite.posts.latest(100))


async def test_a_target_that_holds_a_store_is_refused(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "bot.db"
    await a_store_in_use(path)
    async with Store.open(pg_url) as pg:  # the bot already ran here once
        await pg.chats.subscribe(FAN, ["kpop"], Mode.INSTANT)
    async with Store.open(path) as sqlite:
        target = await asyncpg.connect(pg_url)
        try:
            with pytest.raises(TargetNotEmpty, match="chats, subscriptions"):
                await copy_store(sqlite.db.connection, target)
        finally:
            await target.close()
    assert (await counts(pg_url))["posts"] == 0


async def test_a_copy_that_fails_half_way_leaves_nothing(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "bot.db"
    await a_store_in_use(path)

    def fail_at_chats(table: str, done: int, total: int) -> None:
        if table == "chats":
            raise RuntimeError("the operator pressed Ctrl-C")

    async with Store.open(path) as sqlite:
        target = await asyncpg.connect(pg_url)
        try:
            with pytest.raises(RuntimeError):
                await copy_store(sqlite.db.connection, target, progress=fail_at_chats)
        finally:
            await target.close()
    assert set((await counts(pg_url)).values()) == {0}


def test_the_command_copies_and_names_no_password(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.db"
    assert kcrush(capsys, monkeypatch, path, "latest", "-n", "1").code == 0  # the sample archive
    password = urlsplit(pg_url).password
    assert password

    done = kcrush(capsys, monkeypatch, path, "db", "copy", pg_url)
    assert done.code == 0, done.err
    assert "49 posts" in done.out and ":***@" in done.out
    again = kcrush(capsys, monkeypatch, path, "db", "copy", pg_url)
    assert again.code == 2 and "already holds a store" in again.err

    upgraded = kcrush(capsys, monkeypatch, path, "--db", pg_url, "db", "upgrade")
    stats = kcrush(capsys, monkeypatch, path, "--db", pg_url, "stats", "--json")
    found = kcrush(capsys, monkeypatch, path, "--db", pg_url, "search", "크나큰", "-n", "1")
    assert upgraded.code == stats.code == found.code == 0
    assert "up to date" in upgraded.out and '"posts": 49' in stats.out
    assert "KNK" in found.out
    for outcome in (done, again, upgraded, stats, found):
        assert password not in outcome.out + outcome.err


# A magazine's archive in miniature: every post names an artist and two common words, and
# carries one invented word of its own (its "key"), so a query has one right first answer.
ARTISTS = ["BTS", "NewJeans", "KNK", "Stray Kids", "아이유", "뉴진스", "Seventeen", "ATEEZ"]
COMMON = "album tour stage fans concert drama debut vocal chart story".split()
HANGUL_COMMON = ["서울의", "무대에서", "팬들과", "앨범을", "콘서트의"]
SYLLABLES = "ka ri mo su na le to vi en da pa si ro mi chu han gyu seo jin woo".split()


def key_word(n: int) -> str:
    """Post n's own word: its number spelled in syllables, so no two posts share one."""
    word = ""
    while True:
        n, digit = divmod(n, len(SYLLABLES))
        word += SYLLABLES[digit]
        if n == 0:
            return word + "x"  # one letter no prefix of another key ends in


def archive(count: int) -> list[Post]:
    rng = random.Random(15)
    start = datetime(2016, 1, 1, tzinfo=UTC)
    posts = []
    for n in range(count):
        artist = rng.choice(ARTISTS)
        words = rng.sample(COMMON, 2)
        title = f"{artist} on {words[0]} and {words[1]} {rng.choice(HANGUL_COMMON)} {key_word(n)}"
        teaser = " ".join(rng.choices(COMMON + HANGUL_COMMON, k=30))
        posts.append(
            Post(
                url=f"https://www.kcrush.com/archive-{n}/",
                title=title,
                teaser=teaser,
                categories=(rng.choice(["k-pop-interviews", "kpop", "k-dramas"]),),
                published_at=start + timedelta(hours=7 * n),
            )
        )
    return posts


def test_the_sample_and_a_10000_post_archive_move_and_search_alike(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bot.db"
    assert kcrush(capsys, monkeypatch, path, "latest", "-n", "1").code == 0  # the sample archive
    posts = archive(10_000)

    async def fill() -> None:
        async with Store.open(path) as store:
            # The sample stays beside these: its posts are not replaced by a real source here.
            await store.posts.upsert(posts, source="sample", pushable=False)

    asyncio.run(fill())
    done = kcrush(capsys, monkeypatch, path, "db", "copy", pg_url)
    assert done.code == 0, done.err
    assert "10,049 posts" in done.out

    rng = random.Random(27)
    picked = rng.sample(posts, 40)
    queries = [
        *(key_word(int(p.url.rsplit("-", 1)[1].rstrip("/"))) for p in picked[:15]),  # whole word
        *(f"{p.title.split(' on ')[0]} {p.title.split()[-1]}" for p in picked[15:25]),  # + artist
        *(p.title.split()[-1][:-1] for p in picked[25:35]),  # a word being typed: its prefix
        *(distinctive_words(p.title)[0] for p in load_sample_posts()[:10]),  # the sample's own
        "크나큰",  # Hangul in the sample
        "서울",  # a Hangul stem: found with its particle (서울의), in thousands of posts
        "album",  # a word in thousands of posts
    ]

    async def answers(url: str | Path) -> dict[str, tuple[list[str], int]]:
        async with Store.open(url) as store:
            found = {}
            for query in queries:
                hits, total = await store.posts.search(query, limit=5)
                found[query] = ([h.post.url for h in hits], total)
            return found

    on_sqlite = asyncio.run(answers(path))
    on_pg = asyncio.run(answers(pg_url))
    for query in queries:
        (sqlite_top, sqlite_total), (pg_top, pg_total) = on_sqlite[query], on_pg[query]
        assert sqlite_total > 0, query
        assert pg_total == sqlite_total, query
        assert pg_top[:1] == sqlite_top[:1], query
