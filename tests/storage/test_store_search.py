"""FTS5 search: ranking, snippets, Hangul prefixes, short queries, and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import make_post
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START
from kcrush_bot.storage import Store


async def test_title_outranks_teaser(store: Store) -> None:
    await store.posts.upsert(
        [
            make_post(1, title="A chat about albums", teaser="Dreamcatcher fans will love it."),
            make_post(2, title="Dreamcatcher interview", teaser="The seven members talk."),
        ],
        source="t",
        pushable=False,
    )
    hits, total = await store.posts.search("dreamcatcher")
    assert total == 2
    assert hits[0].post.title == "Dreamcatcher interview"
    assert f"{HIGHLIGHT_START}Dreamcatcher{HIGHLIGHT_END}" in hits[0].snippet


async def test_hangul_prefix_matches_word_with_particle(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="서울의 밤", teaser="크나큰 무대"), make_post(2, title="Busan")],
        source="t",
        pushable=False,
    )
    hits, _ = await store.posts.search("서울")
    assert [h.post.title for h in hits] == ["서울의 밤"]
    hits, _ = await store.posts.search("크나큰")
    assert [h.post.title for h in hits] == ["서울의 밤"]


async def test_all_words_first_then_any_word(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="KNK live in Seoul"), make_post(2, title="SNUPER live")],
        source="t",
        pushable=False,
    )
    hits, _ = await store.posts.search("knk live")
    assert [h.post.title for h in hits] == ["KNK live in Seoul"]
    hits, _ = await store.posts.search("knk snuper")  # no post has both: either will do
    assert {h.post.title for h in hits} == {"KNK live in Seoul", "SNUPER live"}


async def test_short_query_falls_back_to_title_substring(store: Store) -> None:
    await store.posts.upsert(
        [make_post(1, title="Interview with EXO", teaser="Nothing else here.")],
        source="t",
        pushable=False,
    )
    hits, _ = await store.posts.search("xo")  # inside a word: FTS prefixes cannot find it
    assert [h.post.title for h in hits] == ["Interview with EXO"]


async def test_hostile_queries_return_results_or_none(filled_store: Store) -> None:
    for query in [
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
    ]:
        hits, total = await filled_store.posts.search(query)
        assert total >= 0 and len(hits) <= 10
    assert await filled_store.posts.count() == 13


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=300))
async def test_search_never_raises_on_any_unicode(filled_store: Store, query: str) -> None:
    hits, total = await filled_store.posts.search(query, limit=5)
    assert len(hits) <= 5 and total >= 0


async def test_edit_updates_post_and_search_index(store: Store) -> None:
    await store.posts.upsert([make_post(1, title="Old title")], source="t", pushable=False)
    result = await store.posts.upsert([make_post(1, title="New title")], source="t", pushable=True)
    assert result.updated and not result.new
    assert (await store.posts.search("old"))[1] == 0
    assert (await store.posts.search("new"))[1] == 1


async def test_dedupe_on_url_and_guid(store: Store) -> None:
    first = make_post(1, guid="https://www.kcrush.com/?p=1")
    await store.posts.upsert([first], source="t", pushable=False)
    same_guid = make_post(1, url="https://www.kcrush.com/renamed/", guid=first.guid)
    result = await store.posts.upsert([same_guid, first], source="t", pushable=False)
    assert result.new == [] and await store.posts.count() == 1


async def test_failed_transaction_stores_nothing(store: Store) -> None:
    posts = [make_post(1), make_post(2, categories=(None,))]  # the second cannot be stored
    with pytest.raises(AttributeError):
        await store.posts.upsert(posts, source="t", pushable=False)
    assert await store.posts.count() == 0
