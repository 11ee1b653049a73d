"""The archive as WordPress says it is, on both backends: tags searchable, a withdrawn post out
of every list and every search (the short-query fallbacks included), one version of a post."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from factories import make_post
from kcrush_bot.storage import Store


def wp(n: int, **changes: object) -> object:
    return replace(
        make_post(n), guid=f"https://www.kcrush.com/?p={500 + n}", wp_id=500 + n, **changes
    )


async def test_tags_are_searchable_and_loaded_with_the_post(store: Store) -> None:
    await store.posts.upsert(
        [wp(1, title="A night in Seoul", teaser="Concert.", tags=("Stray Kids", "Live"))],
        source="rest",
        pushable=False,
        authoritative=True,
    )
    hits, total = await store.posts.search("stray kids")
    assert total == 1 and hits[0].post.tags == ("Live", "Stray Kids")


async def test_a_withdrawn_post_is_in_no_list_and_no_search(store: Store) -> None:
    result = await store.posts.upsert(
        [wp(1, title="KNK 크나큰 at KCON"), wp(2, title="Another story")],
        source="rest",
        pushable=True,
        authoritative=True,
    )
    knk = result.new[0]
    assert await store.posts.withdraw([knk]) == [knk]
    assert await store.posts.withdraw([knk]) == []  # already
    for query in ("KNK", "KN", "크나", "kcon"):
        assert (await store.posts.search(query))[1] == 0, query
    assert [p.title for p in await store.posts.latest(10)] == ["Another story"]
    assert [p.title for p in await store.posts.latest(10, "interviews")] == ["Another story"]
    counts = {c.category.slug: c.posts for c in await store.posts.category_counts()}
    assert counts["k-pop-interviews"] == 1
    since = datetime(2000, 1, 1, tzinfo=UTC)
    assert [p.wp_id for p in await store.posts.public_since(since)] == [502]
    assert set(await store.posts.by_wordpress_ids([501, 502])) == {501, 502}
    assert await store.posts.count() == 1 and await store.posts.count_withdrawn() == 1

    assert await store.posts.restore([knk]) == [knk]
    assert (await store.posts.search("KNK"))[1] == 1


async def test_a_feed_reading_never_changes_a_post_the_api_gave(store: Store) -> None:
    api = wp(1, title="From the API", image_url=None, categories=("kpop",))
    await store.posts.upsert([api], source="rest", pushable=False, authoritative=True)
    feed = wp(
        1,
        title="From the feed",
        image_url="https://www.kcrush.com/inline.jpg",
        categories=("interviews",),
    )
    result = await store.posts.upsert([feed], source="feed", pushable=False)
    assert result.updated == [] and result.unchanged == 1
    [stored] = await store.posts.latest(1)
    assert (stored.title, stored.image_url, stored.categories) == ("From the API", None, ("kpop",))


async def test_a_new_slug_moves_the_link_of_the_same_post(store: Store) -> None:
    first = await store.posts.upsert([wp(1)], source="rest", pushable=False, authoritative=True)
    moved = wp(1, url="https://www.kcrush.com/a-better-slug/")
    result = await store.posts.upsert([moved], source="rest", pushable=False, authoritative=True)
    assert result.updated == first.new and await store.posts.count() == 1
    assert (await store.posts.latest(1))[0].url == "https://www.kcrush.com/a-better-slug/"


async def test_what_the_reconcile_asks_about(store: Store) -> None:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    result = await store.posts.upsert(
        [wp(1), wp(2), replace(make_post(3), guid="https://www.kcrush.com/post-3/")],
        source="feed",
        pushable=False,
    )
    one, two, three = result.new
    await store.posts.withdraw([two])
    assert [p.id for p in await store.posts.public_since(since)] == [one]
    assert [p.id for p in await store.posts.withdrawn_since(since)] == [two]
    assert [p.id for p in await store.posts.public_without_wordpress_id(since)] == [three]
    await store.posts.set_wordpress_ids({three: 903})
    assert await store.posts.public_without_wordpress_id(since) == []
    assert {p.id for p in await store.posts.public_since(since)} == {one, three}
