"""WordPress as the truth: polls ask only for what changed, posts keep WordPress's categories,
protected posts are never stored, and one post has one version whichever source reads it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factories import CATEGORIES
from fakes.wordpress_site import SITE, FakeWordPress
from kcrush_bot.settings import Settings
from kcrush_bot.sources import Ingestor
from kcrush_bot.sources import wordpress as wp
from kcrush_bot.sources.items import ParseContext
from kcrush_bot.sources.listing import parse_listing_html
from kcrush_bot.sources.normalise import CategoryMap
from kcrush_bot.storage import Store
from sources.sourcekit import count, make_settings

POSTS = "/wp-json/wp/v2/posts"


def rest_settings(site: FakeWordPress, *more: dict[str, object]) -> Settings:
    return make_settings(
        [{"name": "rest", "kind": "wordpress", "url": site.url(POSTS)}, *more]  # type: ignore[list-item]
    )


async def poll(store: Store, settings: Settings, name: str = "rest") -> object:
    source = next(s for s in settings.sources if s.name == name)
    async with Ingestor(store, settings) as ingestor:
        return await ingestor.poll(source, force=True)


async def pushable(store: Store, url: str) -> int:
    return await count(store, "SELECT pushable FROM posts WHERE url = ?", (url,))


async def test_an_edit_to_post_51_of_200_is_seen_by_a_normal_poll(
    store: Store, wordpress: FakeWordPress
) -> None:
    ids = []
    for n in range(200):
        ids.append(wordpress.publish(f"Interview number {n}"))
        wordpress.tick(3600)
    settings = make_settings(
        [{"name": "rest", "kind": "wordpress", "url": wordpress.url(POSTS), "max_pages": 5}]
    )
    async with Ingestor(store, settings) as ingestor:
        assert len((await ingestor.poll(settings.sources[0], backfill=True)).new) == 200
        await ingestor.poll(settings.sources[0])  # the first normal poll: the cursor is set

    wordpress.tick(300)
    wordpress.edit(ids[-51], title="Interview number 149, corrected")
    wordpress.tick(60)
    wordpress.requests.clear()
    report = await poll(store, settings)

    post = await store.posts.by_url(f"{SITE}/interview-number-149/")
    assert post is not None and post.title == "Interview number 149, corrected"
    assert report.updated == [post.id] and report.new == []  # type: ignore[attr-defined]
    posts_requests = wordpress.requests_to(POSTS)
    assert any("orderby=modified" in r and "modified_after=" in r for r in posts_requests)
    assert all("per_page=20&page=1" not in r for r in posts_requests)  # not the newest page


async def test_an_old_post_first_seen_because_it_changed_is_archived_silently(
    store: Store, wordpress: FakeWordPress
) -> None:
    ids = []
    for n in range(60):
        ids.append(wordpress.publish(f"Feature {n}"))
        wordpress.tick(86400)
    settings = rest_settings(wordpress)
    first = await poll(store, settings)
    assert len(first.new) == 20 and first.silent  # type: ignore[attr-defined]

    wordpress.edit(ids[5], title="Feature 5, corrected")
    wordpress.tick(60)
    report = await poll(store, settings)

    post = await store.posts.by_url(f"{SITE}/feature-5/")
    assert post is not None and post.title == "Feature 5, corrected"
    assert report.new == [post.id] and not report.silent  # type: ignore[attr-defined]
    assert await pushable(store, post.url) == 0  # weeks old: not news, never pushed


async def test_an_idle_poll_is_two_requests_answered_with_nothing(
    store: Store, wordpress: FakeWordPress
) -> None:
    for n in range(30):
        wordpress.publish(f"Post {n}")
        wordpress.tick(60)
    settings = rest_settings(wordpress)
    await poll(store, settings)
    wordpress.tick(600)
    wordpress.requests.clear()

    report = await poll(store, settings)

    assert report.error is None and report.new == [] and report.updated == []  # type: ignore[attr-defined]
    # One query for changes, one for posts going live; neither finds anything, so the
    # categories are not read either.
    assert len(wordpress.requests) == 2
    assert all(r.startswith(POSTS + "?") for r in wordpress.requests)


async def test_a_post_edited_within_the_same_second_as_the_poll_is_not_lost(
    store: Store, wordpress: FakeWordPress
) -> None:
    a = wordpress.publish("First")
    c = wordpress.publish("Second")
    settings = rest_settings(wordpress)
    await poll(store, settings)
    wordpress.tick(30)
    wordpress.edit(a, title="First, edited")
    await poll(store, settings)  # the server's clock reads the same second as the edit
    wordpress.edit(c, title="Second, edited")  # saved in that same second, after the answer
    wordpress.tick(30)
    report = await poll(store, settings)
    assert [p.title for p in await store.posts.by_ids(report.updated)] == ["Second, edited"]  # type: ignore[attr-defined]


async def test_more_changes_than_a_page_are_taken_over_successive_polls(
    store: Store, wordpress: FakeWordPress
) -> None:
    ids = [wordpress.publish(f"Story {n}") for n in range(150)]
    settings = rest_settings(wordpress)
    await poll(store, settings)
    wordpress.tick(60)
    for post_id in ids:  # a bulk edit: every post in the same second
        wordpress.edit(post_id, excerpt="Updated by a bulk edit.")
    wordpress.tick(60)
    seen: set[int] = set()
    for _ in range(4):
        report = await poll(store, settings)
        seen.update(report.new + report.updated)  # type: ignore[attr-defined]
    assert len(seen) == 150
    assert await count(store, "SELECT count(*) FROM posts WHERE teaser LIKE 'Updated%'") == 150


async def test_a_scheduled_post_going_live_is_seen_though_its_modified_time_is_old(
    store: Store, wordpress: FakeWordPress
) -> None:
    wordpress.publish("Already out")
    scheduled = wordpress.publish(
        "Scheduled interview", status="future", date=wordpress.now + timedelta(hours=1)
    )
    settings = rest_settings(wordpress)
    await poll(store, settings)
    wordpress.tick(60)
    wordpress.publish("Another post")  # moves the change cursor past the scheduling
    await poll(store, settings)
    wordpress.tick(3600)
    wordpress.go_live(scheduled)
    wordpress.tick(5)

    report = await poll(store, settings)

    stored = await store.posts.by_ids(report.new)  # type: ignore[attr-defined]
    assert [p.title for p in stored] == ["Scheduled interview"]
    assert await pushable(store, stored[0].url) == 1  # news: pushed


async def test_password_protected_and_private_posts_are_never_stored(
    store: Store, wordpress: FakeWordPress
) -> None:
    wordpress.publish("Open post")
    settings = rest_settings(
        wordpress, {"name": "feed", "kind": "feed", "url": wordpress.url("/feed/")}
    )
    await poll(store, settings)
    await poll(store, settings, "feed")
    wordpress.tick(60)
    wordpress.publish("Secret interview", password="letmein")
    wordpress.publish("Private notes", status="private")
    wordpress.tick(60)

    rest = await poll(store, settings)
    feed = await poll(store, settings, "feed")

    assert rest.new == [] and feed.new == []  # type: ignore[attr-defined]
    assert rest.skipped == 1 and feed.skipped == 1  # type: ignore[attr-defined]
    assert await count(store, "SELECT count(*) FROM posts") == 1
    hits, _ = await store.posts.search("protected")
    assert hits == []


async def test_a_removed_featured_image_clears_the_image_and_a_new_slug_moves_the_link(
    store: Store, wordpress: FakeWordPress
) -> None:
    post_id = wordpress.publish("Interview with KNK")
    settings = rest_settings(wordpress)
    await poll(store, settings)
    before = await store.posts.by_url(f"{SITE}/interview-with-knk/")
    assert before is not None and before.image_url is not None

    wordpress.tick(60)
    wordpress.edit(post_id, image=None, slug="knk-interview-2026")
    wordpress.tick(60)
    report = await poll(store, settings)

    assert report.updated == [before.id]  # type: ignore[attr-defined]
    after = await store.posts.by_ids([before.id or 0])
    assert after[0].image_url is None
    assert after[0].url == f"{SITE}/knk-interview-2026/"  # the same post, moved
    assert await count(store, "SELECT count(*) FROM posts") == 1


async def test_rest_categories_are_wordpress_categories_and_replace_what_was_stored(
    store: Store, wordpress: FakeWordPress
) -> None:
    post_id = wordpress.publish("NewJeans at KCON", categories=["kpop"], tags=["interview"])
    settings = rest_settings(wordpress)
    await poll(store, settings)
    stored = await store.posts.by_url(f"{SITE}/newjeans-at-kcon/")
    assert stored is not None and stored.categories == ("kpop",)
    assert stored.tags == ("interview",)

    wordpress.tick(60)
    wordpress.edit(post_id, categories=["k-pop-interviews"])
    wordpress.tick(60)
    await poll(store, settings)
    moved = await store.posts.by_ids([stored.id or 0])
    assert moved[0].categories == ("k-pop-interviews",)  # replaced, not added to


async def test_a_feed_tag_never_makes_a_category(store: Store, wordpress: FakeWordPress) -> None:
    wordpress.publish("NewJeans comeback", categories=["kpop"], tags=["interview", "Video"])
    wordpress.publish("Talking with KNK", categories=["k-pop-interviews"], tags=["KNK"])
    settings = make_settings(
        [
            {"name": "all", "kind": "feed", "url": wordpress.url("/feed/")},
            {"name": "iv", "kind": "feed", "url": wordpress.url("/category/interviews/feed/")},
        ]
    )
    await poll(store, settings, "all")
    await poll(store, settings, "iv")

    kpop = await store.posts.by_url(f"{SITE}/newjeans-comeback/")
    assert kpop is not None and kpop.categories == ("kpop",)
    assert set(kpop.tags) == {"interview", "Video"}
    knk = await store.posts.by_url(f"{SITE}/talking-with-knk/")
    # Its own category from the item, and the category feed's.
    assert knk is not None and set(knk.categories) == {"interviews", "k-pop-interviews"}
    interviews = await store.posts.latest(10, "interviews")
    assert [p.title for p in interviews] == ["Talking with KNK"]


async def test_tags_are_searchable(store: Store, wordpress: FakeWordPress) -> None:
    wordpress.publish("A night in Seoul", categories=["kpop"], tags=["Stray Kids"])
    await poll(store, rest_settings(wordpress))
    hits, total = await store.posts.search("stray kids")
    assert total == 1 and hits[0].post.title == "A night in Seoul"


async def test_rest_and_feeds_together_keep_one_version_of_a_post(
    store: Store, wordpress: FakeWordPress
) -> None:
    wordpress.publish(
        "Interview with Le Sserafim",
        categories=["k-pop-interviews"],
        tags=["interview"],
        excerpt="The short excerpt the editors wrote.",
        content="<p>A much longer body that a feed would cut into a different teaser.</p>",
    )
    settings = rest_settings(
        wordpress, {"name": "feed", "kind": "feed", "url": wordpress.url("/feed/")}
    )
    url = f"{SITE}/interview-with-le-sserafim/"
    # Whichever reads first, the REST API's version is what stays.
    await poll(store, settings, "feed")
    await poll(store, settings)
    for _ in range(2):
        wordpress.tick(60)
        rest = await poll(store, settings)
        feed = await poll(store, settings, "feed")
        assert rest.updated == [] and feed.updated == []  # type: ignore[attr-defined]
    post = await store.posts.by_url(url)
    assert post is not None
    assert post.image_url == f"{SITE}/wp-content/uploads/interview-with-le-sserafim.jpg"
    assert post.teaser == "The short excerpt the editors wrote."
    assert post.categories == ("k-pop-interviews",)
    assert await count(store, "SELECT count(*) FROM posts") == 1


def test_the_cursor_never_passes_the_servers_clock_minus_the_same_second() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    just_saved = now - timedelta(seconds=1)
    assert wp.advance(None, [just_saved], full_page=False, server_now=now) == now - timedelta(
        seconds=2
    )
    earlier = now - timedelta(minutes=5)
    assert wp.advance(None, [earlier], full_page=False, server_now=now) == earlier
    # Never back.
    assert wp.advance(now, [earlier], full_page=False, server_now=now) == now
    # A full page asks for its newest second again.
    assert wp.advance(None, [earlier], full_page=True, server_now=now) == earlier - timedelta(
        seconds=1
    )


@pytest.mark.parametrize("text", [None, "", "not json", '{"modified": 3}', "[]"])
def test_an_unreadable_cursor_starts_over(text: str | None) -> None:
    assert wp.Cursor.load(text) is None


def test_a_listing_skips_protected_posts_and_names_each_post_by_its_wordpress_id() -> None:
    page = f"""<html><body>
    <article class="post-7 post type-post hentry category-kpop tag-interview">
      <h2 class="entry-title"><a href="{SITE}/open/">Open</a></h2><p>Text.</p></article>
    <article class="post-8 post type-post hentry post-password-required category-kpop">
      <h2 class="entry-title"><a href="{SITE}/closed/">Protected: Closed</a></h2>
      <p>There is no excerpt because this is a protected post.</p></article>
    </body></html>""".encode()
    ctx = ParseContext(cmap=CategoryMap(CATEGORIES), base_url=SITE + "/")
    parsed = parse_listing_html(page, ctx)
    assert [(p.title, p.guid, p.categories, p.tags) for p in parsed.posts] == [
        ("Open", f"{SITE}/?p=7", ("kpop",), ("interview",))
    ]
    assert parsed.skip_reasons == {"password-protected": 1}
