"""Hostile feeds over real HTTP on loopback: each one is refused with one clear line or stored
clean, never half-stored; the other sources of the same poll still ingest; memory stays bounded.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from hostile.hostile_corpus import (
    EITHER,
    FORBIDDEN_IN_TEXT,
    REFUSED,
    STORED,
    HostileFeed,
    HostileServer,
    endless_document,
    feed_cases,
    hostile_server,
    item,
    many_items,
    rss,
)
from kcrush_bot.core.models import Post
from kcrush_bot.sources import Ingestor
from kcrush_bot.sources.feed import MAX_FEED_ITEMS
from kcrush_bot.storage import Store
from sources.sourcekit import make_settings, table_counts

pytestmark = pytest.mark.timeout(30)

DTD_PATH = "/evil.dtd"
GOOD_TITLES = {f"Hostile corpus post {n}" for n in (901, 902, 903)}


@pytest.fixture
async def server() -> AsyncIterator[HostileServer]:
    async with hostile_server() as running:
        running.serve(DTD_PATH, b'<!ENTITY i "pwned">', content_type="application/xml-dtd")
        running.serve(
            "/good/feed/", rss([item(n) for n in (901, 902, 903)]), content_type="application/xml"
        )
        yield running


def cases() -> list[HostileFeed]:
    return feed_cases("http://127.0.0.1:9/evil.dtd")  # names only; rebuilt with the real URL


async def stored_posts(store: Store, source: str) -> list[Post]:
    async with store.db.connection.execute(
        "SELECT url FROM posts WHERE source = ?", (source,)
    ) as cursor:
        urls = [row[0] for row in await cursor.fetchall()]
    posts = [await store.posts.by_url(url) for url in urls]
    return [p for p in posts if p is not None]


def assert_clean(post: Post) -> None:
    for text in (post.title, post.teaser):
        bad = FORBIDDEN_IN_TEXT.intersection(text)
        assert not bad, (post.url, sorted(map(hex, map(ord, bad))))
        assert "\n" not in text and "\t" not in text
    assert post.title.strip() and len(post.title) <= 500
    assert len(post.teaser) <= 300
    parts = urlsplit(post.url)
    assert parts.scheme == "https" and parts.netloc == "www.kcrush.com", post.url
    assert parts.path.endswith("/") and not parts.fragment, post.url
    assert "staging" not in parts.path
    if post.image_url is not None:
        assert urlsplit(post.image_url).scheme in ("http", "https"), post.image_url


def configure(server: HostileServer, case: HostileFeed) -> str:
    if case.kind == "wordpress":
        server.serve("/wp-json/wp/v2/categories", b"[]", content_type="application/json")
        path = "/wp-json/wp/v2/posts"
    else:
        path = f"/{case.name}/feed/"
    return server.serve(path, case.body, content_type=case.content_type, status=case.status)


@pytest.mark.parametrize("name", [c.name for c in cases()])
async def test_a_hostile_feed_is_refused_in_one_line_or_stored_clean(
    name: str, store: Store, server: HostileServer
) -> None:
    case = next(c for c in feed_cases(server.base + DTD_PATH) if c.name == name)
    url = configure(server, case)
    settings = make_settings(
        [
            {"name": "hostile", "kind": case.kind, "url": url},
            {"name": "good", "kind": "feed", "url": server.base + "/good/feed/"},
        ]
    )
    before = await table_counts(store)
    async with Ingestor(store, settings) as ingestor:
        hostile, good = await ingestor.poll_all()

    # The other source of the same poll is untouched by its neighbour's trouble.
    assert good.error is None and len(good.new) == 3, good.line()
    assert {p.title for p in await stored_posts(store, "good")} == GOOD_TITLES
    # Nothing ever fetched the external DTD or entity.
    assert server.hits[DTD_PATH] == 0

    line = hostile.line()
    assert "\n" not in line and len(line) < 400
    assert "Traceback" not in line and "unexpected" not in line, line
    posts = await stored_posts(store, "hostile")
    if hostile.error is not None:
        assert case.expect in (REFUSED, EITHER), f"{name} was refused: {line}"
        assert case.error_words in hostile.error, line
        assert posts == []
        after = await table_counts(store)
        assert after["posts"] - before["posts"] == 3  # only the good source's posts
        state = await store.sources.state("hostile")
        assert state is not None and state["failures"] == 1
    else:
        assert case.expect in (STORED, EITHER), f"{name} was stored: {line}"
        assert len(posts) == len(hostile.new) > 0, line
        for post in posts:
            assert_clean(post)
            assert "root:" not in post.title + post.teaser and "pwned" not in post.title
        if case.titles:
            assert sorted(p.title for p in posts) == sorted(case.titles)


async def test_javascript_links_are_skipped_and_counted(
    store: Store, server: HostileServer
) -> None:
    case = next(c for c in feed_cases("") if c.name == "javascript-and-foreign-links")
    url = configure(server, case)
    settings = make_settings([{"name": "hostile", "kind": "feed", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.error is None
    # Only the one genuine post is kept (the entity-spelt javascript: link decodes to one too).
    assert [p.url for p in await stored_posts(store, "hostile")] == [
        "https://www.kcrush.com/hostile-corpus-post-1/"
    ]
    assert report.skipped == len(case.body.split(b"<item>")) - 2
    async with store.db.connection.execute(
        "SELECT count(*) FROM posts WHERE url LIKE '%javascript%' OR image_url LIKE 'javascript%'"
    ) as cursor:
        assert (await cursor.fetchone())[0] == 0


async def test_relative_links_resolve_on_the_magazine(store: Store, server: HostileServer) -> None:
    case = next(c for c in feed_cases("") if c.name == "relative-links")
    settings = make_settings([{"name": "hostile", "kind": "feed", "url": configure(server, case)}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
    urls = sorted(p.url for p in await stored_posts(store, "hostile"))
    assert "https://www.kcrush.com/relative-post/" in urls
    assert all(u.startswith("https://www.kcrush.com/") for u in urls)
    assert not any("127.0.0.1" in u for u in urls)  # resolved against the site, not the server


async def test_duplicate_guids_with_different_links_are_one_post(
    store: Store, server: HostileServer
) -> None:
    case = next(c for c in feed_cases("") if c.name == "duplicate-guids-different-links")
    settings = make_settings([{"name": "hostile", "kind": "feed", "url": configure(server, case)}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
        again = await ingestor.poll(settings.sources[0], force=True)
    posts = await stored_posts(store, "hostile")
    by_guid: dict[str | None, list[str]] = {}
    for post in posts:
        by_guid.setdefault(post.guid, []).append(post.url)
    assert len(by_guid["https://www.kcrush.com/?p=7"]) == 1
    assert by_guid["tag:same"] == ["https://www.kcrush.com/third-link/"]
    assert len(report.new) == len(posts) == 2
    assert again.new == []


@pytest.mark.timeout(30)
async def test_a_50_mb_document_stops_at_the_cap_with_memory_bounded(
    store: Store, server: HostileServer
) -> None:
    cap = 2_000_000
    url = server.serve("/huge/feed/", stream=lambda: endless_document(50 * 1024 * 1024))
    settings = make_settings(
        [
            {"name": "huge", "kind": "feed", "url": url},
            {"name": "good", "kind": "feed", "url": server.base + "/good/feed/"},
        ],
        max_bytes=cap,
    )
    before = await table_counts(store)
    gc.collect()
    tracemalloc.start()
    try:
        async with Ingestor(store, settings) as ingestor:
            huge, good = await ingestor.poll_all()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert huge.error is not None and f"{cap:,}-byte cap" in huge.error
    assert good.error is None and len(good.new) == 3
    assert (await table_counts(store))["posts"] == before["posts"] + 3
    assert server.streamed["/huge/feed/"] < 20 * 1024 * 1024  # reading stopped early
    assert peak < 6 * cap + 8_000_000, f"peak {peak:,} bytes"


@pytest.mark.timeout(40)
async def test_100000_items_are_refused_before_parsing_with_memory_bounded(
    store: Store, server: HostileServer
) -> None:
    """100,000 bare items fit in 8 MB, under the default 10 MB cap; parsing them would take
    seconds and well over 100 MB. The item cap refuses them from the raw bytes."""
    url = server.serve("/many/feed/", stream=lambda: many_items(100_000))
    settings = make_settings([{"name": "many", "kind": "feed", "url": url}])
    assert settings.ingest.max_bytes >= 8_000_000
    before = await table_counts(store)
    gc.collect()
    tracemalloc.start()
    try:
        async with Ingestor(store, settings) as ingestor:
            report = await ingestor.poll(settings.sources[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert server.streamed["/many/feed/"] < settings.ingest.max_bytes  # all of it was read
    assert report.error is not None
    assert f"100,000 items, over the {MAX_FEED_ITEMS:,}-item cap" in report.error
    assert await table_counts(store) == before
    assert peak < 40_000_000, f"peak {peak:,} bytes"
