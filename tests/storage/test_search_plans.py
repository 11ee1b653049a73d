"""Search reads what it needs and no more: the statements it runs and the plans they get.

Latency itself is measured by bench/bench_search.py, never asserted here. What these tests catch
is the shape that made it slow: a statement that reads every post (a short query's needle in
few titles walked all 100,000 of them, 70 ms), or a search taking several trips to the database
(on a loaded machine each one waits its turn).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
import pytest

from factories import make_post
from kcrush_bot.storage import Store

pytestmark = pytest.mark.parametrize("store_backend", ["sqlite"])


def ours(sql: str) -> bool:
    """A statement the store ran, not one FTS5 runs on its own tables to answer it."""
    return not sql.startswith(("--", "PRAGMA")) and "'main'." not in sql


@asynccontextmanager
async def statements_of(store: Store) -> AsyncIterator[list[str]]:
    """Every statement the store's read connection runs meanwhile, its values filled in."""
    reader: aiosqlite.Connection = store.db.reader  # type: ignore[attr-defined]
    seen: list[str] = []
    await reader.set_trace_callback(lambda sql: seen.append(sql) if ours(sql) else None)
    try:
        yield seen
    finally:
        await reader.set_trace_callback(None)


async def plan_of(store: Store, sql: str) -> str:
    rows = await store.db.all(f"EXPLAIN QUERY PLAN {sql}")  # type: ignore[attr-defined]
    return "\n".join(row["detail"] for row in rows)


def walks_posts(plan: str) -> bool:
    """Whether a plan reads the posts table row after row (all of it, unless it stops early)."""
    return any(re.match(r"SCAN p( |$)", line) for line in plan.splitlines())


async def archive(store: Store, count: int = 60) -> None:
    posts = [make_post(n, title=f"Dreamcatcher interview part {n}") for n in range(1, count)]
    posts.append(make_post(count, title="Interview with EXO", teaser="A rare band."))
    await store.posts.upsert(posts, source="t", pushable=False)


async def test_a_word_search_is_one_statement_that_reads_no_post_it_does_not_show(
    store: Store,
) -> None:
    await archive(store)
    async with statements_of(store) as seen:
        hits, total = await store.posts.search("interview", limit=5)
    assert len(hits) == 5 and total == 60
    assert len(seen) == 1, seen
    plan = await plan_of(store, seen[0])
    # posts is only looked up by id, for the page; the matches come from the FTS index.
    assert not walks_posts(plan) and "SEARCH p USING INTEGER PRIMARY KEY" in plan, plan


async def test_a_short_needle_in_few_titles_is_looked_up_not_searched_for(store: Store) -> None:
    await archive(store)
    async with statements_of(store) as seen:
        hits, _ = await store.posts.search("xo")  # inside a word: only the fallback finds it
    assert [h.post.title for h in hits] == ["Interview with EXO"]
    plans = [await plan_of(store, sql) for sql in seen]
    assert not any(walks_posts(plan) for plan in plans), plans
    assert any("posts_title_grams" in plan for plan in plans), plans


async def test_a_short_needle_in_many_titles_walks_the_newest_first_index(store: Store) -> None:
    await archive(store, count=2100)  # more titles with "dr" than the pieces' index hands over
    async with statements_of(store) as seen:
        hits, _ = await store.posts.search("dr", limit=5)
    assert len(hits) == 5
    assert hits[0].post.title == "Dreamcatcher interview part 2099"
    plans = [await plan_of(store, sql) for sql in seen]
    # The page is read in the index's order and the walk stops after it: nothing is sorted.
    assert "SCAN p USING INDEX posts_newest" in plans[-1], plans
    assert "USE TEMP B-TREE FOR ORDER BY" not in plans[-1], plans


async def test_title_pieces_follow_edits_and_deletions(store: Store) -> None:
    await store.posts.upsert([make_post(1, title="EXO live")], source="t", pushable=False)
    assert [h.post.title for h in (await store.posts.search("xo"))[0]] == ["EXO live"]
    await store.posts.upsert([make_post(1, title="Busan")], source="t", pushable=True)
    assert (await store.posts.search("xo"))[0] == []
    assert [h.post.title for h in (await store.posts.search("bu"))[0]] == ["Busan"]
    async with store.db.transaction() as conn:  # type: ignore[attr-defined]
        await conn.execute("DELETE FROM posts")
    assert (await store.posts.search("bu"))[0] == []


async def test_a_title_longer_than_its_pieces_is_still_found(store: Store) -> None:
    title = "A" * 250 + " with EXO"  # the pieces cover the first 201 characters only
    await store.posts.upsert([make_post(1, title=title), make_post(2)], source="t", pushable=False)
    assert [h.post.title for h in (await store.posts.search("xo"))[0]] == [title]
