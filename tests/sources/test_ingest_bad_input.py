"""Bad input gets a clear one-line answer, the other sources are still ingested, and the store is
untouched by the failed document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, fixture_bytes, make_settings, table_counts

FEED = fixture_bytes("wordpress-feed.xml")
WRONG_ENCODING = (
    "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>t</title>"
    "<item><title>KCRUSH Interview with KNK (크나큰)</title>"
    "<link>https://www.kcrush.com/knk-euc-kr/</link>"
    "<description>KNK (Hangul: 크나큰) is a five-member Korean boy band.</description></item>"
    "</channel></rss>"
).encode("euc-kr")

# (route options, the words the one-line error must contain)
BAD_FEEDS = {
    "malformed": (
        {"body": fixture_bytes("broken.xml")},
        "malformed XML at line",
    ),
    "wrong-encoding": ({"body": WRONG_ENCODING}, "wrong encoding"),
    "entity-bomb": ({"body": fixture_bytes("entity-bomb.xml")}, "declares XML entities"),
    "html-not-feed": (
        {"body": fixture_bytes("listing-page1.html"), "content_type": "text/html"},
        "got an HTML page",
    ),
    "server-error": ({"status": 500, "body": b"oops"}, "HTTP 500"),
    "json-not-feed": (
        {"body": fixture_bytes("wp-error-no-route.json"), "content_type": "application/json"},
        "got JSON",
    ),
    "empty": ({"body": b"  \n"}, "empty document"),
}


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
async def test_a_bad_feed_is_one_line_and_the_other_sources_still_ingest(
    case: str, store: Store, feed_server: FeedServer
) -> None:
    options, expected = BAD_FEEDS[case]
    bad = feed_server.serve("/bad/feed/", **options)
    good = feed_server.serve("/feed/", FEED)
    settings = make_settings(
        [
            {"name": "bad", "kind": "feed", "url": bad},
            {"name": "good", "kind": "feed", "url": good},
        ]
    )
    async with Ingestor(store, settings) as ingestor:
        bad_report, good_report = await ingestor.poll_all()

    assert bad_report.error is not None and expected in bad_report.error
    line = bad_report.line()
    assert line.startswith("bad: failed: ") and "\n" not in line and len(line) < 400
    assert good_report.error is None and len(good_report.new) == 3
    async with store.db.connection.execute(
        "SELECT count(*) FROM posts WHERE source = 'bad'"
    ) as cur:
        assert (await cur.fetchone())[0] == 0
    state = await store.sources.state("bad")
    assert state is not None and state["failures"] == 1 and state["first_seen_at"] is None


BAD_ELSEWHERE = {
    "wordpress-no-route": ("wordpress", "rest_no_route"),
    "unreachable": ("feed", "cannot connect"),
    "slow": ("feed", "within 0.5 s"),
    "listing-without-posts": ("listing", "no posts found"),
}


@pytest.mark.parametrize("case", sorted(BAD_ELSEWHERE))
async def test_bad_sources_of_every_kind_leave_the_store_untouched(
    case: str, store: Store, feed_server: FeedServer, closed_port_url: str
) -> None:
    kind, expected = BAD_ELSEWHERE[case]
    if case == "wordpress-no-route":
        url = feed_server.url("/wp-json/wp/v2/posts")
        feed_server.serve(
            "/wp-json/wp/v2/posts",
            fixture_bytes("wp-error-no-route.json"),
            status=404,
            content_type="application/json",
        )
    elif case == "unreachable":
        url = closed_port_url
    elif case == "slow":
        url = feed_server.serve("/slow/feed/", FEED, delay=1.5)  # past the 0.5 s timeout
    else:
        url = feed_server.serve(
            "/category/empty/",
            b"<html><body><p>Nothing here</p></body></html>",
            content_type="text/html",
        )
    settings = make_settings([{"name": "bad", "kind": kind, "url": url}], timeout=0.5)
    before = await table_counts(store)
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.error is not None and expected in report.error, report.error
    assert "\n" not in report.line()
    assert await table_counts(store) == before


async def test_a_50_mb_document_is_cut_off_at_the_size_cap(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/huge/feed/", stream_bytes=50 * 1024 * 1024)
    settings = make_settings([{"name": "huge", "kind": "feed", "url": url}], max_bytes=1_000_000)
    before = await table_counts(store)
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])

    assert report.error is not None and "1,000,000-byte cap" in report.error
    assert await table_counts(store) == before
    # Reading stopped early: the server could not push anywhere near the 50 MB.
    assert feed_server.streamed < 20 * 1024 * 1024


async def test_a_declared_content_length_over_the_cap_is_not_read(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/big/feed/", FEED * 400)  # ~2.6 MB with a Content-Length
    settings = make_settings([{"name": "big", "kind": "feed", "url": url}], max_bytes=1_000_000)
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.error is not None and "over the 1,000,000-byte cap; not read" in report.error


async def test_a_benign_encoding_mismatch_is_accepted_with_a_warning(
    store: Store, feed_server: FeedServer
) -> None:
    # Declared UTF-8, written in windows-1252 (curly quotes, an accent): feedparser reads it as
    # windows-1252 correctly, so the posts are kept and the report says what happened.
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>t</title>"
        "<item><title>KCRUSH Interview with \u201cParis is our Seoul\u201d</title>"
        "<link>https://www.kcrush.com/kcrush-interview-with-paris-is-our-seoul/</link>"
        "<description>the Baccalaur\u00e9at</description></item></channel></rss>"
    ).encode("cp1252")
    url = feed_server.serve("/feed/", body)
    settings = make_settings([{"name": "latin", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.error is None and len(report.new) == 1
    assert report.warning and "windows-1252" in report.warning
    assert "warning:" in report.line()
    post = await store.posts.by_url(
        "https://www.kcrush.com/kcrush-interview-with-paris-is-our-seoul/"
    )
    assert post is not None and post.title == "KCRUSH Interview with “Paris is our Seoul”"
    assert post.teaser == "the Baccalauréat"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_failing_source_backs_off_exponentially_and_recovery_resets_it(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", status=503)
    settings = make_settings(
        [{"name": "flaky", "kind": "feed", "url": url, "interval": 60}], max_backoff=300
    )
    clock = Clock()
    source = settings.sources[0]
    async with Ingestor(store, settings, clock=clock) as ingestor:
        delays = []
        for _ in range(4):
            report = await ingestor.poll(source)
            assert report.error == "HTTP 503 Service Unavailable"
            state = await store.sources.state("flaky")
            assert state is not None
            next_at = datetime.fromisoformat(state["next_poll_at"])
            delays.append((next_at - clock.now).total_seconds())
            # Before next_poll_at the source is left alone (no request made).
            hits = feed_server.hits["/feed/"]
            deferred = await ingestor.poll(source)
            assert deferred.deferred_until == next_at and deferred.error is None
            assert "backing off" in deferred.line()
            assert feed_server.hits["/feed/"] == hits
            clock.now = next_at
        assert delays == [120, 240, 300, 300]  # doubling, capped at max_backoff

        feed_server.serve("/feed/", FEED)
        report = await ingestor.poll(source)
        assert report.error is None and len(report.new) == 3
        assert report.silent  # never polled successfully before: still the first sight
        state = await store.sources.state("flaky")
        assert state is not None and state["failures"] == 0 and state["last_error"] is None
        next_at = datetime.fromisoformat(state["next_poll_at"])
        assert next_at - clock.now == timedelta(seconds=60)


async def test_force_polls_a_source_that_is_backing_off(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/feed/", status=500)
    settings = make_settings([{"name": "flaky", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
        feed_server.serve("/feed/", FEED)
        report = await ingestor.poll(settings.sources[0], force=True)
    assert report.error is None and len(report.new) == 3


async def test_an_unknown_source_name_is_reported_not_raised(store: Store) -> None:
    settings = make_settings()
    async with Ingestor(store, settings) as ingestor:
        (report,) = await ingestor.poll_all(["nope"])
    assert report.line() == "nope: failed: no configured source named 'nope'"
