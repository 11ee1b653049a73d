"""Local files and ad-hoc targets: the content decides the format."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, count, fixture_bytes, make_settings

JSONL = "\n".join(
    json.dumps(item, ensure_ascii=False)
    for item in [
        {
            "url": "http://kcrush.com/kcrush-interview-with-knk/?fbclid=abc",
            "title": "KCRUSH Interview with KNK",
            "teaser": "KNK (Hangul: 크나큰) is a five-member Korean boy band.",
            "categories": ["Interviews", "k-pop-interviews"],
            "published_at": "2016-05-01T10:00:00+00:00",
            "image_url": None,
        },
        {"url": "https://www.kcrush.com/no-title/", "title": ""},
        {"url": "https://www.kcrush.com/staging2025v2/x/", "title": "Staging"},
    ]
)


@pytest.mark.parametrize(
    ("name", "content", "posts", "skipped"),
    [
        ("archive.jsonl", JSONL.encode(), 1, 2),
        ("posts.json", fixture_bytes("wp-posts.json"), 2, 0),
        ("feed.xml", fixture_bytes("wordpress-feed.xml"), 3, 3),
        ("atom", fixture_bytes("atom.xml"), 2, 0),
        ("page.html", fixture_bytes("listing-page1.html"), 3, 0),
        (
            "listing.txt",
            b"Intro paragraph.\n\nKCRUSH Interview with Snuper\nSNUPER is a Korean boy band"
            b"... Read More\nKCRUSH Interview with KNK\n\nKNK is a boy band...\nRead More\n",
            2,
            0,
        ),
    ],
)
async def test_a_local_file_is_sniffed_and_ingested(
    name: str, content: bytes, posts: int, skipped: int, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    settings = make_settings([{"name": "local", "kind": "file", "url": str(path)}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.error is None, report.error
    assert (len(report.new), report.skipped) == (posts, skipped)
    assert report.kind == "file"


async def test_jsonl_categories_map_through_the_taxonomy(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "archive.jsonl"
    path.write_text(JSONL, encoding="utf-8")
    settings = make_settings([{"name": "local", "kind": "file", "url": str(path)}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
    post = await store.posts.by_url("https://www.kcrush.com/kcrush-interview-with-knk/")
    assert post is not None and set(post.categories) == {"interviews", "k-pop-interviews"}


async def test_an_unchanged_file_is_not_modified(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(fixture_bytes("wordpress-feed.xml"))
    settings = make_settings([{"name": "local", "kind": "file", "url": str(path)}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
        assert (await ingestor.poll(settings.sources[0])).not_modified
        path.write_bytes(fixture_bytes("wordpress-feed.xml").replace(b"with KNK<", b"with KNK!<"))
        os.utime(path, ns=(1, 2))  # mtime resolution must not hide the change
        report = await ingestor.poll(settings.sources[0])
    assert len(report.updated) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x01\x02 binary junk", "no posts found"),
        (b"[1, 2", "could not parse"),
        (b'{"broken": ', "could not parse"),
        (b"{}\n{not json}\n", "line 2 is not JSON"),
        (b'{"not": "a feed"}\n', "not a feed"),
        (b'{"title": "no link"}\n[1]\n', "not a feed"),
        (fixture_bytes("entity-bomb.xml"), "declares XML entities"),
    ],
)
async def test_a_bad_file_is_an_error_and_stores_nothing(
    content: bytes, expected: str, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    settings = make_settings([{"name": "local", "kind": "file", "url": str(path)}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.error is not None and expected in report.error, report.error
    assert await count(store, "SELECT count(*) FROM posts") == 0


async def test_missing_and_oversized_files_are_errors(store: Store, tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * 5000)
    settings = make_settings(
        [
            {"name": "missing", "kind": "file", "url": str(tmp_path / "nope.xml")},
            {"name": "big", "kind": "file", "url": str(big)},
        ],
        max_bytes=4096,
    )
    async with Ingestor(store, settings) as ingestor:
        missing, oversized = await ingestor.poll_all()
    assert missing.error is not None and "cannot read" in missing.error
    assert oversized.error is not None and "4,096-byte cap" in oversized.error


async def test_ad_hoc_targets_are_sniffed(
    store: Store, feed_server: FeedServer, tmp_path: Path
) -> None:
    # An URL that is neither /feed/ nor /wp-json: the body decides.
    feed_server.serve("/some/rss", fixture_bytes("wordpress-feed.xml"), content_type="text/html")
    feed_server.serve(
        "/category/featured/", fixture_bytes("listing-page1.html"), content_type="text/html"
    )
    feed_server.serve(
        "/wp-json/wp/v2/posts", fixture_bytes("wp-posts.json"), content_type="application/json"
    )
    feed_server.serve(
        "/wp-json/wp/v2/categories",
        fixture_bytes("wp-categories.json"),
        content_type="application/json",
    )
    local = tmp_path / "atom.xml"
    local.write_bytes(fixture_bytes("atom.xml"))
    settings = make_settings()
    async with Ingestor(store, settings) as ingestor:
        rss = await ingestor.ingest_target(feed_server.url("/some/rss"))
        page = await ingestor.ingest_target(feed_server.url("/category/featured/"))
        rest = await ingestor.ingest_target(feed_server.url("/wp-json/wp/v2/posts"))
        atom = await ingestor.ingest_target(str(local))
    assert (rss.kind, page.kind, rest.kind, atom.kind) == ("feed", "listing", "wordpress", "file")
    assert all(r.error is None and r.silent for r in (rss, page, rest, atom))
    assert rss.name == feed_server.url("/some/rss")
    assert await store.sources.state(str(local)) is not None
