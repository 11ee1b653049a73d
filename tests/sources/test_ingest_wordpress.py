"""The WordPress REST API: embedded images and terms, categories with parents, paging."""

from __future__ import annotations

from datetime import UTC, datetime

from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, count, fixture_bytes, make_settings

JSON = "application/json; charset=UTF-8"


def serve_site(server: FeedServer, *, pages: int = 1) -> str:
    server.serve(
        "/wp-json/wp/v2/posts?page=1",
        fixture_bytes("wp-posts.json"),
        content_type=JSON,
        etag='"posts-1"',
        headers={"X-WP-Total": "4", "X-WP-TotalPages": str(pages)},
    )
    server.serve(
        "/wp-json/wp/v2/posts?page=2",
        fixture_bytes("wp-posts-page2.json"),
        content_type=JSON,
        headers={"X-WP-Total": "4", "X-WP-TotalPages": str(pages)},
    )
    server.serve(
        "/wp-json/wp/v2/categories",
        fixture_bytes("wp-categories.json"),
        content_type=JSON,
        headers={"X-WP-TotalPages": "1"},
    )
    return server.url("/wp-json/wp/v2/posts")


async def test_posts_come_with_image_tags_and_categories_with_parents(
    store: Store, feed_server: FeedServer
) -> None:
    url = serve_site(feed_server)
    settings = make_settings([{"name": "rest", "kind": "wordpress", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])

    assert report.error is None and len(report.new) == 2 and report.silent
    post = await store.posts.by_url(
        "https://www.kcrush.com/kcrush-interview-with-webtoon-artist-oh-sung-dae/"
    )
    assert post is not None
    assert post.image_url == "https://www.kcrush.com/wp-content/uploads/2021/03/oh-sung-dae.jpg"
    assert set(post.categories) == {"featured-interview", "webtoon-interviews"}
    assert await store.posts.tags(post.id or 0) == ["Oh Sung-dae", "Webtoon"]
    assert post.published_at == datetime(2021, 3, 16, 10, 20, tzinfo=UTC)
    assert "Read More" not in post.teaser and post.teaser.endswith("over 10 years…")
    # Categories arrive with their parents, even a grandchild WordPress lists before its parent.
    assert "webtoon-interviews" in await store.posts.descendants("interviews")
    assert "k-pop-interviews" in await store.posts.descendants("interviews")
    mcnd = await store.posts.by_url("https://www.kcrush.com/kcrush-interview-with-mcnd/")
    assert mcnd is not None and mcnd.title == "Kcrush Interview with MCND – “ICE AGE”"
    # The poll asked for embedded data.
    posts_requests = [p for p, _ in feed_server.requests if p.startswith("/wp-json/wp/v2/posts")]
    assert "_embed=1" in posts_requests[0] and "per_page=20" in posts_requests[0]


async def test_a_second_poll_asks_only_for_what_changed_since_the_first(
    store: Store, feed_server: FeedServer
) -> None:
    url = serve_site(feed_server)
    settings = make_settings([{"name": "rest", "kind": "wordpress", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
        feed_server.requests.clear()
        report = await ingestor.poll(settings.sources[0])
    # This server ignores the filters and answers the same posts: all unchanged.
    assert report.error is None and report.new == [] and report.updated == []
    asked = [p for p, _ in feed_server.requests if p.startswith("/wp-json/wp/v2/posts")]
    assert len(asked) == 2
    assert "orderby=modified" in asked[0] and "modified_after=" in asked[0]
    assert "orderby=date" in asked[1] and "&after=" in asked[1]


async def test_backfill_pages_through_the_api_silently(
    store: Store, feed_server: FeedServer
) -> None:
    url = serve_site(feed_server, pages=2)
    settings = make_settings([{"name": "rest", "kind": "wordpress", "url": url, "max_pages": 5}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0], backfill=True)

    assert report.error is None and report.pages == 2
    assert len(report.new) == 3 and report.skipped == 1  # the staging copy on page 2
    assert await count(store, "SELECT count(*) FROM posts WHERE pushable = 1") == 0
    pages = [p for p, _ in feed_server.requests if p.startswith("/wp-json/wp/v2/posts")]
    assert len(pages) == 2  # X-WP-TotalPages said 2: page 3 never asked for
    assert all("per_page=100" in p for p in pages)


async def test_backfill_stops_when_wordpress_says_the_page_is_past_the_end(
    store: Store, feed_server: FeedServer
) -> None:
    url = serve_site(feed_server, pages=1)
    del feed_server.routes["/wp-json/wp/v2/posts?page=1"]
    feed_server.serve(
        "/wp-json/wp/v2/posts?page=1", fixture_bytes("wp-posts.json"), content_type=JSON
    )
    feed_server.serve(
        "/wp-json/wp/v2/posts?page=2",
        b'{"code":"rest_post_invalid_page_number","message":"The page number requested is '
        b'larger than the number of pages available.","data":{"status":400}}',
        status=400,
        content_type=JSON,
    )
    settings = make_settings([{"name": "rest", "kind": "wordpress", "url": url, "max_pages": 9}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0], backfill=True)
    assert report.error is None and report.pages == 1 and len(report.new) == 2


async def test_a_wordpress_error_answer_with_200_is_an_error(
    store: Store, feed_server: FeedServer
) -> None:
    feed_server.serve(
        "/wp-json/wp/v2/posts", fixture_bytes("wp-error-no-route.json"), content_type=JSON
    )
    settings = make_settings(
        [{"name": "rest", "kind": "wordpress", "url": feed_server.url("/wp-json/")}]
    )
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])
    assert report.line().startswith("rest: failed: WordPress error rest_no_route: No route")
    assert await count(store, "SELECT count(*) FROM posts") == 0
