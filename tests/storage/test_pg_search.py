"""Search on PostgreSQL: what the SQLite store's search does, and what only a word index misses.

Ranking with the title over the teaser, snippets, prefixes of a word being typed, Hangul words
with their particles, short queries, hostile input; then Hangul inside a word (pg_trgm),
stop words and diacritics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import CATEGORIES, make_post
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.sample import load_sample_posts
from kcrush_bot.storage import Store
from kcrush_bot.storage.postgres.db import PgDatabase
from kcrush_bot.storage.postgres.posts import PgPostRepository
from kcrush_bot.storage.postgres.search import ellipsised, highlighted, tsquery_text
from sources.test_sample_search import distinctive_words


@pytest.fixture
async def posts(pg_url: str) -> AsyncIterator[PgPostRepository]:
    async with PgDatabase.open(pg_url) as db:
        repo = PgPostRepository(db)
        await repo.sync_categories(CATEGORIES)
        yield repo


async def test_title_outranks_teaser(posts: PgPostRepository) -> None:
    await posts.upsert(
        [
            make_post(1, title="A chat about albums", teaser="Dreamcatcher fans will love it."),
            make_post(2, title="Dreamcatcher interview", teaser="The seven members talk."),
        ],
        source="t",
        pushable=False,
    )
    hits, total = await posts.search("dreamcatcher")
    assert total == 2
    assert hits[0].post.title == "Dreamcatcher interview"
    assert hits[0].score > hits[1].score > 0
    assert f"{HIGHLIGHT_START}Dreamcatcher{HIGHLIGHT_END}" in hits[0].snippet
    assert f"{HIGHLIGHT_START}Dreamcatcher{HIGHLIGHT_END}" in hits[1].snippet


async def test_stemmed_words_match(posts: PgPostRepository) -> None:
    await posts.upsert([make_post(1, title="Two interviews")], source="t", pushable=False)
    hits, _ = await posts.search("interview")
    assert [h.post.title for h in hits] == ["Two interviews"]


async def test_a_word_being_typed_matches_as_a_prefix(posts: PgPostRepository) -> None:
    await posts.upsert(
        [make_post(1, title="Dreamcatcher live"), make_post(2, title="Dreams of Seoul")],
        source="t",
        pushable=False,
    )
    hits, _ = await posts.search("dreamcat")
    assert [h.post.title for h in hits] == ["Dreamcatcher live"]


async def test_hangul_prefix_matches_word_with_particle(posts: PgPostRepository) -> None:
    await posts.upsert(
        [make_post(1, title="서울의 밤", teaser="크나큰 무대"), make_post(2, title="Busan")],
        source="t",
        pushable=False,
    )
    hits, _ = await posts.search("서울")
    assert [h.post.title for h in hits] == ["서울의 밤"]
    assert f"{HIGHLIGHT_START}서울의{HIGHLIGHT_END}" in hits[0].snippet
    hits, _ = await posts.search("크나큰")
    assert [h.post.title for h in hits] == ["서울의 밤"]


async def test_hangul_inside_a_word_is_found_by_trigrams(posts: PgPostRepository) -> None:
    # A compound written without a space: no word of the index starts with 콘서트.
    await posts.upsert(
        [
            make_post(1, title="크나큰 서울콘서트 후기", teaser="팬들이 모였다"),
            make_post(2, title="Busan", teaser="부산 공연"),
        ],
        source="t",
        pushable=False,
    )
    hits, total = await posts.search("콘서트")
    assert [h.post.title for h in hits] == ["크나큰 서울콘서트 후기"]
    assert total == 1
    assert f"{HIGHLIGHT_START}콘서트{HIGHLIGHT_END}" in hits[0].snippet


async def test_all_words_first_then_any_word(posts: PgPostRepository) -> None:
    await posts.upsert(
        [make_post(1, title="KNK live in Seoul"), make_post(2, title="SNUPER live")],
        source="t",
        pushable=False,
    )
    hits, _ = await posts.search("knk live")
    assert [h.post.title for h in hits] == ["KNK live in Seoul"]
    hits, _ = await posts.search("knk snuper")  # no post has both: either will do
    assert {h.post.title for h in hits} == {"KNK live in Seoul", "SNUPER live"}


async def test_short_query_falls_back_to_title_substring(posts: PgPostRepository) -> None:
    await posts.upsert(
        [make_post(1, title="Interview with EXO", teaser="Nothing else here.")],
        source="t",
        pushable=False,
    )
    hits, total = await posts.search("xo")  # inside a word: no word index can find it
    assert [h.post.title for h in hits] == ["Interview with EXO"]
    assert total == 1
    assert hits[0].snippet == "Nothing else here."


async def test_stop_words_and_diacritics_are_searchable(posts: PgPostRepository) -> None:
    # SQLite keeps every word and folds diacritics: so does the PostgreSQL configuration.
    await posts.upsert(
        [make_post(1, title="The Who at the Café"), make_post(2, title="Cafe society")],
        source="t",
        pushable=False,
    )
    hits, _ = await posts.search("the who")
    assert [h.post.title for h in hits] == ["The Who at the Café"]
    hits, _ = await posts.search("cafe")
    assert {h.post.title for h in hits} == {"The Who at the Café", "Cafe society"}


async def test_paging_counts_every_match(posts: PgPostRepository) -> None:
    await posts.upsert(
        [make_post(n, title=f"Seventeen part {n}") for n in range(1, 26)],
        source="t",
        pushable=False,
    )
    first, total = await posts.search("seventeen", limit=10)
    second, again = await posts.search("seventeen", limit=10, offset=10)
    assert total == again == 25
    assert len(first) == len(second) == 10
    assert not {h.post.id for h in first} & {h.post.id for h in second}


async def test_edit_updates_the_search_index(posts: PgPostRepository) -> None:
    await posts.upsert([make_post(1, title="Old title")], source="t", pushable=False)
    result = await posts.upsert([make_post(1, title="New title")], source="t", pushable=True)
    assert result.updated and not result.new
    assert (await posts.search("old"))[1] == 0
    assert (await posts.search("new"))[1] == 1


HOSTILE = [
    '"foo',
    "AND OR",
    "NEAR(",
    "-x",
    "*",
    "\x00",
    "a" * 10_000,
    "title:x",
    "'; DROP TABLE posts; --",
    "^",
    "(",
    ")",
    '"',
    "\\",
    "NOT",
    "{title}: x",
    # tsquery syntax
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
]


async def test_hostile_queries_return_results_or_none(posts: PgPostRepository) -> None:
    await posts.upsert(
        [make_post(n) for n in range(1, 6)] + [make_post(6, title="KNK live", teaser="100% _x_")],
        source="t",
        pushable=False,
    )
    for query in HOSTILE:
        hits, total = await posts.search(query)
        assert total >= 0 and len(hits) <= 10, query
    assert await posts.count() == 6


async def test_nul_in_a_hostile_title_is_dropped_not_fatal(posts: PgPostRepository) -> None:
    # PostgreSQL's text cannot hold U+0000; SQLite's can. The post is stored all the same.
    result = await posts.upsert(
        [make_post(1, title="KNK\x00 live", teaser="a\x00b", tags=("t\x00",))],
        source="t",
        pushable=False,
    )
    stored = await posts.by_ids(result.new)
    assert [p.title for p in stored] == ["KNK live"]
    assert await posts.tags(result.new[0]) == ["t"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=300), offset=st.integers(-5, 50), limit=st.integers(0, 12))
async def test_search_never_raises_on_any_unicode(
    posts: PgPostRepository, query: str, offset: int, limit: int
) -> None:
    hits, total = await posts.search(query, limit=limit, offset=offset)
    assert len(hits) <= limit and total >= 0


async def test_every_sample_post_is_found_by_two_words_of_its_title(
    posts: PgPostRepository,
) -> None:
    samples = load_sample_posts()
    await posts.upsert(samples, source="sample", pushable=False)
    misses = []
    for post in samples:
        query = " ".join(distinctive_words(post.title))
        hits, _ = await posts.search(query, limit=3)
        if post.url not in [h.post.url for h in hits]:
            misses.append((query, post.title))
    assert misses == []


@pytest.mark.parametrize("query", ["크나큰", "크나"])
async def test_hangul_queries_find_hangul_text(posts: PgPostRepository, query: str) -> None:
    await posts.upsert(load_sample_posts(), source="sample", pushable=False)
    hits, total = await posts.search(query)
    assert total >= 1
    assert hits[0].post.url == "https://www.kcrush.com/kcrush-interview-with-knk/"


def test_tsquery_terms_are_quoted_lexemes() -> None:
    assert tsquery_text(["knk", "live"]) == "'knk' & 'live'"
    assert tsquery_text(["knk", "live"], prefix=True, any_term=True) == "'knk':* | 'live':*"
    assert tsquery_text(["서울", "k"]) == "'서울':* & 'k'"


def test_snippets_mark_where_they_cut() -> None:
    assert ellipsised("b \x02c\x03 d", "a b c d e") == "…b \x02c\x03 d…"
    assert ellipsised("\x02a\x03 b", "a b") == "\x02a\x03 b"
    assert highlighted("x 서울콘서트 y", ["콘서트"]) == "x 서울\x02콘서트\x03 y"


async def test_both_backends_agree_on_the_sample_archive(
    posts: PgPostRepository, store: Store
) -> None:
    samples = load_sample_posts()
    await posts.upsert(samples, source="sample", pushable=False)
    await store.upsert_posts(samples, source="sample", pushable=False)
    queries = [" ".join(distinctive_words(p.title)) for p in samples]
    queries += ["interview", "크나큰", "서울", "knk", "kpop debut", "ateez"]
    differ = []
    for query in queries:
        on_pg = [h.post.url for h in (await posts.search(query, limit=3))[0]]
        on_sqlite = [h.post.url for h in (await store.search(query, limit=3))[0]]
        if on_pg[:1] != on_sqlite[:1]:
            differ.append((query, on_sqlite[:1], on_pg[:1]))
    assert differ == [], "\n".join(map(str, differ))
