"""A document that reaches the bot another way (a push notice, a WebSub delivery) is read and
stored exactly as a poll of its source would, without passing for a poll."""

from __future__ import annotations

from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, fixture_bytes, make_settings
from sources.test_ingest_feed import FEED, pushable_by_url, with_new_item

SOULSWEET = "https://www.kcrush.com/kcrush-interview-with-singer-soulsweet/"
FEATURED = "/category/interviews/featured-interview/feed/"


async def test_a_pushed_document_is_stored_as_a_poll_would_store_it(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve(FEATURED, FEED, etag='"v1"')
    settings = make_settings([{"name": "interviews", "kind": "feed", "url": url}])
    source = settings.sources[0]
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(source)
        before = await store.sources.state("interviews")
        report = await ingestor.ingest_document(source, with_new_item(FEED))
        after = await store.sources.state("interviews")

    assert report.error is None and report.kind == "feed"
    assert len(report.new) == 1 and report.unchanged == 3 and report.skipped == 3
    assert not report.silent and (await pushable_by_url(store))[SOULSWEET] == 1
    post = await store.posts.by_url(SOULSWEET)
    assert post is not None and "featured-interview" in post.categories  # the URL's category
    assert after == before  # not a poll: validators and schedule untouched
    assert feed_server.hits[FEATURED] == 1


async def test_a_pushed_document_for_a_source_never_polled_is_archived_silently(
    store: Store, feed_server: FeedServer
) -> None:
    settings = make_settings([{"name": "all", "kind": "feed", "url": feed_server.url("/feed/")}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.ingest_document(settings.sources[0], FEED)
    assert report.error is None and report.silent and len(report.new) == 3
    assert set((await pushable_by_url(store)).values()) == {0}


async def test_a_bad_pushed_document_is_refused_without_counting_as_a_failure(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", FEED)
    settings = make_settings([{"name": "all", "kind": "feed", "url": url}])
    source = settings.sources[0]
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(source)
        before = await store.sources.state("all")
        report = await ingestor.ingest_document(source, fixture_bytes("broken.xml"))
    assert report.error is not None and "malformed XML at line" in report.error
    assert await store.sources.state("all") == before  # no back-off for a bad delivery
