"""Polling an RSS/Atom feed over HTTP: conditional GET, first-sight silence, edits, dedupe."""

from __future__ import annotations

from datetime import UTC, datetime

from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, count, fixture_bytes, make_settings

FEED = fixture_bytes("wordpress-feed.xml")
NEW_ITEM = b"""<item>
    <title>KCrush Interview with Singer Soulsweet</title>
    <link>https://www.kcrush.com/kcrush-interview-with-singer-soulsweet/</link>
    <pubDate>Thu, 25 May 2023 08:00:00 +0000</pubDate>
    <category><![CDATA[Interviews]]></category>
    <guid isPermaLink="false">http://www.kcrush.com/?p=1010</guid>
    <description><![CDATA[<p>Soulsweet is a Korean Soul singer-songwriter.</p>]]></description>
  </item>
  <item>"""


def with_new_item(feed: bytes) -> bytes:
    return feed.replace(b"<item>", NEW_ITEM, 1)


async def pushable_by_url(store: Store) -> dict[str, int]:
    async with store.db.connection.execute("SELECT url, pushable FROM posts") as cursor:
        return {url: flag for url, flag in await cursor.fetchall()}


async def test_first_poll_archives_silently_and_counts_skipped(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", FEED, etag='"v1"')
    settings = make_settings([{"name": "kcrush-all", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])

    assert report.error is None
    assert len(report.new) == 3 and report.skipped == 3  # staging, foreign host, no title
    assert report.silent
    assert report.line().startswith("kcrush-all: 3 new, 0 updated, 0 unchanged, 3 skipped")
    flags = await pushable_by_url(store)
    assert set(flags.values()) == {0}
    assert "https://www.kcrush.com/kcrush-interview-with-dreamcatcher/" in flags
    assert not any("staging" in u or "example.com" in u for u in flags)
    state = await store.sources.state("kcrush-all")
    assert state is not None and state["etag"] == '"v1"' and state["first_seen_at"]


async def test_second_poll_sends_validators_and_a_304_changes_nothing(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve(
        "/feed/", FEED, etag='"v1"', last_modified="Wed, 24 May 2023 14:05:12 GMT"
    )
    settings = make_settings([{"name": "kcrush-all", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
        before = await count(store, "SELECT count(*) FROM posts")
        report = await ingestor.poll(settings.sources[0])

    assert report.not_modified and report.error is None
    assert report.line() == "kcrush-all: not modified"
    _, headers = feed_server.requests[-1]
    assert headers.get("If-None-Match") == '"v1"'
    assert headers.get("If-Modified-Since") == "Wed, 24 May 2023 14:05:12 GMT"
    assert await count(store, "SELECT count(*) FROM posts") == before
    state = await store.sources.state("kcrush-all")
    assert state is not None and state["etag"] == '"v1"'  # kept for the next poll


async def test_a_new_post_after_first_sight_is_pushable(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", FEED, etag='"v1"')
    settings = make_settings([{"name": "kcrush-all", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
        feed_server.serve("/feed/", with_new_item(FEED), etag='"v2"')
        report = await ingestor.poll(settings.sources[0])

    assert len(report.new) == 1 and report.unchanged == 3 and not report.silent
    flags = await pushable_by_url(store)
    assert flags["https://www.kcrush.com/kcrush-interview-with-singer-soulsweet/"] == 1
    assert flags["https://www.kcrush.com/kcrush-interview-with-knk/"] == 0


async def test_an_edited_title_updates_the_stored_post(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", FEED)
    settings = make_settings([{"name": "kcrush-all", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
        edited = FEED.replace(
            b"<title>KCRUSH Interview with KNK</title>",
            b"<title>KCRUSH Interview with KNK (\xed\x81\xac\xeb\x82\x98\xed\x81\xb0)</title>",
        )
        feed_server.serve("/feed/", edited)
        report = await ingestor.poll(settings.sources[0])

    assert len(report.updated) == 1 and not report.new
    post = await store.posts.by_url("https://www.kcrush.com/kcrush-interview-with-knk/")
    assert post is not None and post.title == "KCRUSH Interview with KNK (크나큰)"
    assert await count(store, "SELECT count(*) FROM posts") == 3


async def test_the_same_post_from_two_category_feeds_is_stored_once(
    store: Store, feed_server: FeedServer
) -> None:
    # The interviews feed links the post over http on the bare host with tracking parameters;
    # the featured feed links it canonically. One row, both categories.
    interviews = FEED
    featured = FEED.replace(
        b"http://kcrush.com/kcrush-interview-with-dreamcatcher/amp/?utm_source=rss&#038;"
        b"utm_medium=rss&#038;utm_campaign=kcrush-interview-with-dreamcatcher",
        b"https://www.kcrush.com/kcrush-interview-with-dreamcatcher/#comments",
    )
    a = feed_server.serve("/category/interviews/feed/", interviews)
    b = feed_server.serve("/category/interviews/featured-interview/feed/", featured)
    settings = make_settings(
        [
            {"name": "interviews", "kind": "feed", "url": a},
            {"name": "featured", "kind": "feed", "url": b, "categories": ["Video"]},
        ]
    )
    async with Ingestor(store, settings) as ingestor:
        reports = await ingestor.poll_all()

    assert [r.error for r in reports] == [None, None]
    # Polled concurrently: whichever stored first found the posts new, the other found them
    # stored (with its categories added: a visible change for the posts it adds one to).
    assert sorted(len(r.new) for r in reports) == [0, 3]
    assert sum(len(r.updated) + r.unchanged for r in reports) == 3
    assert await count(store, "SELECT count(*) FROM posts") == 3
    # Polled again, the two feeds agree with what is stored: nothing flips.
    async with Ingestor(store, settings) as ingestor:
        again = await ingestor.poll_all()
    assert [len(r.updated) for r in again] == [0, 0] and sum(r.unchanged for r in again) == 6
    post = await store.posts.by_url("https://www.kcrush.com/kcrush-interview-with-dreamcatcher/")
    assert post is not None
    # RSS terms mapped through the taxonomy, the feed URL's category, the source's own
    # ("Video" is an alias of video-interviews).
    assert set(post.categories) == {"interviews", "featured-interview", "video-interviews"}
    assert await store.posts.tags(post.id or 0) == ["Dreamcatcher"]


async def test_rss_terms_map_to_categories_and_the_rest_become_tags(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", FEED)
    settings = make_settings([{"name": "kcrush-all", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])

    knk = await store.posts.by_url("https://www.kcrush.com/kcrush-interview-with-knk/")
    assert knk is not None
    assert set(knk.categories) == {"interviews", "k-pop-interviews"}
    assert await store.posts.tags(knk.id or 0) == ["KNK", "크나큰"]
    assert knk.published_at == datetime(2023, 5, 24, 10, 0, tzinfo=UTC)
    assert knk.image_url == "https://www.kcrush.com/wp-content/uploads/2023/05/knk-1.jpg"
    girls = await store.posts.by_url("https://www.kcrush.com/five-girl-groups-to-watch-in-2023/")
    assert girls is not None and girls.categories == ("kpop",)
    assert girls.title == "Five Girl Groups to Watch in 2023 – Don’t Miss Them"
    assert girls.teaser.startswith("It’s hard to believe it’s February")  # mojibake repaired
    assert girls.teaser.endswith("may provide us…")
    assert "appeared first on" not in girls.teaser and "Read More" not in knk.teaser


async def test_an_atom_feed_is_ingested(store: Store, feed_server: FeedServer) -> None:
    url = feed_server.serve(
        "/feed/atom/", fixture_bytes("atom.xml"), content_type="application/atom+xml"
    )
    settings = make_settings([{"name": "atom", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])

    assert report.error is None and len(report.new) == 2
    ikon = await store.posts.by_url(
        "https://www.kcrush.com/korean-leg-of-the-ikon-take-off-world-tour/"
    )
    assert ikon is not None and ikon.title == "Korean leg of the iKON “Take Off” World Tour"
    assert ikon.image_url == "https://www.kcrush.com/wp-content/uploads/2023/05/ikon.jpg"
    assert ikon.categories == ("kpop",)  # "K-Pop Articles" is an alias of kpop
    # A relative link resolves against the site, not the loopback server it was served from.
    assert await store.posts.by_url("https://www.kcrush.com/best-k-indie-artists/") is not None


async def test_feed_backfill_pages_with_paged_and_stays_silent(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", FEED)
    page2 = FEED.replace(b"kcrush-interview-with-knk", b"kcrush-interview-with-knk-part-2")
    page2 = page2.replace(b"?p=1001", b"?p=9001").replace(b"?p=1003", b"?p=9003")
    page2 = page2.replace(b"kcrush-interview-with-dreamcatcher", b"older-dreamcatcher")
    feed_server.serve("/feed/?paged=2", page2)
    settings = make_settings([{"name": "kcrush-all", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])  # first sight
        report = await ingestor.poll(settings.sources[0], backfill=True)

    assert report.error is None and report.pages == 2 and len(report.new) == 2
    flags = await pushable_by_url(store)
    assert flags["https://www.kcrush.com/kcrush-interview-with-knk-part-2/"] == 0
    # The test server ignores an unknown ?paged=3 and repeats page 1, as some sites do:
    # a page with nothing new ends the backfill instead of looping to max_pages.
    assert feed_server.hits["/feed/"] == 4
