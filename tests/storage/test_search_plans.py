"""Search reads what it needs and no more: the statements it runs and the plans they get.

Latency itself is measured by bench/bench_search.py, never asserted here. What these tests catch
is the shape that made it slow: a statement that reads every post (a short query's needle in
few titles walked all 100,000 of them: 70 ms on SQLite, a second on PostgreSQL), ranking that
reads every match of a common word from the table, or a search taking several trips to the
database (on a loaded machine each one waits its turn).

The PostgreSQL tests switch sequential scans off: on a table of a few dozen rows the planner
rightly prefers one, and the question is which index it can use when the table is large.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import pytest

from factories import make_post
from kcrush_bot.storage import Store

SQLITE_ONLY = pytest.mark.parametrize("store_backend", ["sqlite"])
POSTGRES_ONLY = pytest.mark.parametrize("store_backend", ["postgres"])


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


@SQLITE_ONLY
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


@SQLITE_ONLY
async def test_a_short_needle_in_few_titles_is_looked_up_not_searched_for(store: Store) -> None:
    await archive(store)
    async with statements_of(store) as seen:
        hits, _ = await store.posts.search("xo")  # inside a word: only the fallback finds it
    assert [h.post.title for h in hits] == ["Interview with EXO"]
    plans = [await plan_of(store, sql) for sql in seen]
    assert not any(walks_posts(plan) for plan in plans), plans
    assert any("posts_title_grams" in plan for plan in plans), plans


@SQLITE_ONLY
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


@SQLITE_ONLY
async def test_title_pieces_follow_edits_and_deletions(store: Store) -> None:
    await store.posts.upsert([make_post(1, title="EXO live")], source="t", pushable=False)
    assert [h.post.title for h in (await store.posts.search("xo"))[0]] == ["EXO live"]
    await store.posts.upsert([make_post(1, title="Busan")], source="t", pushable=True)
    assert (await store.posts.search("xo"))[0] == []
    assert [h.post.title for h in (await store.posts.search("bu"))[0]] == ["Busan"]
    async with store.db.transaction() as conn:  # type: ignore[attr-defined]
        await conn.execute("DELETE FROM posts")
    assert (await store.posts.search("bu"))[0] == []


@SQLITE_ONLY
async def test_a_title_longer_than_its_pieces_is_still_found(store: Store) -> None:
    title = "A" * 250 + " with EXO"  # the pieces cover the first 201 characters only
    await store.posts.upsert([make_post(1, title=title), make_post(2)], source="t", pushable=False)
    assert [h.post.title for h in (await store.posts.search("xo"))[0]] == [title]


# -- PostgreSQL ----------------------------------------------------------------------------------


@asynccontextmanager
async def plans_on_postgres(
    store: Store, *, index_scans: bool = True, sequential_scans: bool = False
) -> AsyncIterator[tuple[Any, list[str]]]:
    """A connection whose statements, and those run inside its functions, log their plans."""
    plans: list[str] = []
    async with store.db.transaction() as conn:  # type: ignore[attr-defined]

        def listen(_: Any, message: Any) -> None:
            plans.append(message.message)

        conn.add_log_listener(listen)
        await conn.execute(
            "LOAD 'auto_explain'; SET LOCAL auto_explain.log_min_duration = 0; "
            "SET LOCAL auto_explain.log_nested_statements = on; "
            "SET LOCAL client_min_messages = log; "
            f"SET LOCAL enable_seqscan = {'on' if sequential_scans else 'off'}; "
            f"SET LOCAL enable_indexscan = {'on' if index_scans else 'off'}"
        )
        try:
            yield conn, plans
        finally:
            await conn.execute("SELECT 1")  # the last plan's message is delivered by now
            conn.remove_log_listener(listen)


async def spread_archive(store: Store) -> None:
    """Matches for "seventeen" far apart: ids 1-30, 40,000-40,009 and 100,000-100,002."""
    old = [make_post(n, title=f"Seventeen part {n}") for n in range(1, 31)]
    middle = [make_post(n, title=f"Seventeen part {n}") for n in range(31, 41)]
    middle += [make_post(n, title=f"Other news {n}") for n in range(41, 141)]
    new = [make_post(n, title=f"Seventeen part {n}") for n in range(141, 144)]
    for start, posts in [(1, old), (40_000, middle), (100_000, new)]:
        await store.db.execute(f"ALTER SEQUENCE posts_id_seq RESTART WITH {start}")  # type: ignore[attr-defined]
        await store.posts.upsert(posts, source="t", pushable=False)


@POSTGRES_ONLY
async def test_the_newest_matches_are_found_however_far_apart(store: Store) -> None:
    await spread_archive(store)
    newest = [
        row["id"]
        for row in await store.db.all(  # type: ignore[attr-defined]
            "SELECT id FROM posts WHERE title LIKE 'Seventeen%' ORDER BY id DESC"
        )
    ]
    for wanted in (2, 3, 13, 20, 50):
        rows = await store.db.all(  # type: ignore[attr-defined]
            "SELECT id FROM kcrush_newest_matches(to_tsquery('kcrush', 'seventeen'), "
            "'{0, 0.5, 0.1, 1}', $1)",
            wanted,
        )
        assert [r["id"] for r in rows] == newest[:wanted], wanted


@POSTGRES_ONLY
async def test_the_id_blocks_leave_scores_as_they_were(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="Seventeen live", teaser="Seventeen on tour.", tags=("seventeen",))],
        source="t",
        pushable=False,
    )
    vector = (
        "setweight(to_tsvector('kcrush', title), 'A') || setweight(to_tsvector('kcrush', "
        "teaser), 'B') || setweight(to_tsvector('kcrush', tags), 'C')"
    )
    ranked, plain = await store.db.one(  # type: ignore[attr-defined]
        "SELECT m.score, ts_rank_cd('{0, 0.5, 0.1, 1}', "
        f"(SELECT {vector} FROM posts), to_tsquery('kcrush', 'seventeen'), 2) "
        "FROM kcrush_newest_matches(to_tsquery('kcrush', 'seventeen'), '{0, 0.5, 0.1, 1}', 10) m"
    )
    assert ranked == plain


@POSTGRES_ONLY
async def test_ranking_reads_from_the_table_only_matches_in_the_newest_blocks(
    store: Store,
) -> None:
    await spread_archive(store)
    # Walking the primary key is the other way a small table's few rows are found; a large
    # table's newest matches are found in the word index, if the newest blocks are asked there.
    async with plans_on_postgres(store, index_scans=False) as (_conn, plans):
        hits, total = await store.posts.search("seventeen", limit=5)
    assert len(hits) == 5 and total == 43
    rounds = [p for p in plans if "ts_rank_cd" in p and "Query Text: SELECT p.id" in p]
    assert rounds, plans
    assert not any("Seq Scan on posts" in p for p in plans), plans
    # The first round asks the word index for matches among the newest ids only.
    index_condition = rounds[0].split("Bitmap Index Scan on posts_search")[1]
    assert "Index Cond:" in index_condition and "'#f390'" in index_condition, rounds[0]


@POSTGRES_ONLY
async def test_a_short_needle_is_looked_up_in_the_title_pieces(store: Store) -> None:
    # Enough titles, and statistics, for the planner to weigh the pieces' index as it would on
    # a real archive: a needle in one title of a thousand is looked up, not searched for.
    posts = [make_post(n, title=f"Dreamcatcher interview {n}") for n in range(1, 1000)]
    await store.posts.upsert(
        [*posts, make_post(1000, title="Interview with EXO")], source="t", pushable=False
    )
    await store.db.execute("ANALYZE posts")  # type: ignore[attr-defined]
    async with plans_on_postgres(store, sequential_scans=True) as (_conn, plans):
        hits, _ = await store.posts.search("xo")
    assert [h.post.title for h in hits] == ["Interview with EXO"]
    assert any("Bitmap Index Scan on posts_title_grams" in p for p in plans), plans
    assert not any("Seq Scan on posts" in p for p in plans), plans


@POSTGRES_ONLY
async def test_a_hangul_stem_is_asked_of_the_index_as_one_word(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="서울의 밤"), make_post(2, title="서울에서 만나요"), make_post(3)],
        source="t",
        pushable=False,
    )
    async with plans_on_postgres(store, index_scans=False) as (_conn, plans):
        hits, _ = await store.posts.search("서울")
    assert {h.post.title for h in hits} == {"서울의 밤", "서울에서 만나요"}
    conditions = [p.split("Index Cond:")[1] for p in plans if "Index Cond: (search_vector" in p]
    assert conditions and all("'~서울'" in c and "':*" not in c for c in conditions), plans
