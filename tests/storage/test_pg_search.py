"""Search beyond the basics (test_store_search.py), on both backends, and what only PostgreSQL does.

Both: stemming, a word being typed, stop words and diacritics, paging totals, tsquery syntax as
hostile input, and the same top result for the same query over the sample archive. PostgreSQL
only: Hangul inside a word (pg_trgm), NUL in stored text, and the query builders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import CATEGORIES, make_post
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.sample import load_sample_posts
from kcrush_bot.storage import Store
from kcrush_bot.storage.postgres.records import NEWEST_FIRST, POST_COLUMNS
from kcrush_bot.storage.postgres.search import ellipsised, highlighted, tsquery_text
from sources.test_sample_search import distinctive_words

POSTGRES_ONLY = pytest.mark.parametrize("store_backend", ["postgres"])


async def test_stemmed_words_match(store: Store) -> None:
    await store.posts.upsert([make_post(1, title="Two interviews")], source="t", pushable=False)
    hits, _ = await store.posts.search("interview")
    assert [h.post.title for h in hits] == ["Two interviews"]


async def test_a_word_being_typed_matches_as_a_prefix(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="Dreamcatcher live"), make_post(2, title="Dreams of Seoul")],
        source="t",
        pushable=False,
    )
    hits, _ = await store.posts.search("dreamcat")
    assert [h.post.title for h in hits] == ["Dreamcatcher live"]


async def test_stop_words_and_diacritics_are_searchable(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="The Who at the Café"), make_post(2, title="Cafe society")],
        source="t",
        pushable=False,
    )
    hits, _ = await store.posts.search("the who")
    assert [h.post.title for h in hits] == ["The Who at the Café"]
    hits, _ = await store.posts.search("cafe")
    assert {h.post.title for h in hits} == {"The Who at the Café", "Cafe society"}


async def test_paging_counts_every_match(store: Store) -> None:
    await store.posts.upsert(
        [make_post(n, title=f"Seventeen part {n}") for n in range(1, 26)],
        source="t",
        pushable=False,
    )
    first, total = await store.posts.search("seventeen", limit=10)
    second, again = await store.posts.search("seventeen", limit=10, offset=10)
    assert total == again == 25
    assert len(first) == len(second) == 10
    assert not {h.post.id for h in first} & {h.post.id for h in second}


# tsquery's own syntax, beside FTS5's (test_store_search.py has those).
HOSTILE = [
    "a & b",
    "!knk",
    "knk:*",
    "knk <-> live",
    "knk <2> live",
    "a | | b",
    "''",
    "'knk'",
    "knk:A",
    "% _ %",
    "E'\\x00'",
    "$1",
    "\\'; SELECT pg_sleep(10); --",
]


async def test_tsquery_syntax_is_only_words(store: Store) -> None:
    await store.posts.upsert(
        [make_post(n) for n in range(1, 6)] + [make_post(6, title="KNK live", teaser="100% _x_")],
        source="t",
        pushable=False,
    )
    for query in HOSTILE:
        hits, total = await store.posts.search(query)
        assert total >= 0 and len(hits) <= 10, query
    assert (await store.posts.search("knk:*"))[0][0].post.title == "KNK live"
    assert await store.posts.count() == 6


@POSTGRES_ONLY
async def test_hangul_inside_a_word_is_found_by_trigrams(store: Store) -> None:
    # A compound written without a space: no word of the index starts with 콘서트, so FTS5
    # cannot find it; pg_trgm can.
    await store.posts.upsert(
        [
            make_post(1, title="크나큰 서울콘서트 후기", teaser="팬들이 모였다"),
            make_post(2, title="Busan", teaser="부산 공연"),
        ],
        source="t",
        pushable=False,
    )
    hits, total = await store.posts.search("콘서트")
    assert [h.post.title for h in hits] == ["크나큰 서울콘서트 후기"]
    assert total == 1
    assert f"{HIGHLIGHT_START}콘서트{HIGHLIGHT_END}" in hits[0].snippet


@POSTGRES_ONLY
async def test_nul_in_a_hostile_title_is_dropped_not_fatal(store: Store) -> None:
    # PostgreSQL's text cannot hold U+0000; SQLite's can. The post is stored all the same.
    result = await store.posts.upsert(
        [make_post(1, title="KNK\x00 live", teaser="a\x00b", tags=("t\x00",))],
        source="t",
        pushable=False,
    )
    stored = await store.posts.by_ids(result.new)
    assert [p.title for p in stored] == ["KNK live"]
    assert await store.posts.tags(result.new[0]) == ["t"]


@POSTGRES_ONLY
async def test_both_backends_agree_on_the_sample_archive(store: Store, tmp_path: Path) -> None:
    samples = load_sample_posts()
    await store.posts.upsert(samples, source="sample", pushable=False)
    queries = [" ".join(distinctive_words(p.title)) for p in samples]
    queries += ["interview", "크나큰", "서울", "knk", "kpop debut", "ateez", "girl group"]
    differ = []
    async with Store.open(tmp_path / "sqlite.db") as sqlite:
        await sqlite.posts.sync_categories(CATEGORIES)
        await sqlite.posts.upsert(samples, source="sample", pushable=False)
        for query in queries:
            on_pg = [h.post.url for h in (await store.posts.search(query, limit=3))[0]]
            on_sqlite = [h.post.url for h in (await sqlite.posts.search(query, limit=3))[0]]
            if on_pg[:1] != on_sqlite[:1]:
                differ.append((query, on_sqlite[:1], on_pg[:1]))
    assert differ == [], "\n".join(map(str, differ))


def test_tsquery_terms_are_quoted_lexemes() -> None:
    assert tsquery_text(["knk", "live"]) == "'knk' & 'live'"
    assert tsquery_text(["knk", "live"], prefix=True, any_term=True) == "'knk':* | 'live':*"
    assert tsquery_text(["서울", "k"]) == "'서울':* & 'k'"


def test_snippets_mark_where_they_cut() -> None:
    assert ellipsised("b \x02c\x03 d", "a b c d e") == "…b \x02c\x03 d…"
    assert ellipsised("\x02a\x03 b", "a b") == "\x02a\x03 b"
    assert highlighted("x 서울콘서트 y", ["콘서트"]) == "x 서울\x02콘서트\x03 y"


async def test_lookups_by_hostile_text_find_nothing_and_raise_nothing(store: Store) -> None:
    await store.posts.upsert([make_post(1)], source="t", pushable=False)
    assert await store.posts.latest(5, category="k\x00pop") == []
    assert await store.posts.by_url("https://www.kcrush.com/\x00/") is None
    assert await store.sources.state("feed\x00") is None


@POSTGRES_ONLY
async def test_the_newest_first_order_is_read_from_an_index_not_sorted(store: Store) -> None:
    # latest and the short-query fallback stop after a page only if an index has their order;
    # a sort of the whole archive took 200 ms at 100,000 posts. (The planner prefers a scan
    # and a sort on a table this small, so scans are switched off to see what it could do.)
    await store.posts.upsert([make_post(n) for n in range(1, 30)], source="t", pushable=False)
    async with store.db.transaction() as conn:  # type: ignore[attr-defined]
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                f"EXPLAIN SELECT {POST_COLUMNS} FROM posts p "
                f"WHERE p.title ILIKE '%k%' ORDER BY {NEWEST_FIRST} LIMIT 5"
            )
        )
    assert "posts_newest" in plan and "Sort" not in plan.split("SubPlan")[0], plan


@POSTGRES_ONLY
async def test_statements_are_planned_with_their_values(store: Store) -> None:
    # A generic plan (what a prepared statement gets after five runs) cannot tell a word in
    # every post from a rare one; search took 300 ms instead of 10 with it.
    assert await store.db.pool.fetchval("SHOW plan_cache_mode") == "force_custom_plan"  # type: ignore[attr-defined]
