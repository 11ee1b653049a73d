"""HTML listing pages in the seeds' shape, paged at /page/N/, and the seeds' plain-text form."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kcrush_bot.sources import Ingestor
from kcrush_bot.sources.listing import page_url, split_text_listing
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, count, fixture_bytes, make_settings

# The seed pages live beside the repository, not in it; the sample archive is built from them.
# Copies of the magazine's listing pages (the seeds), kept with the tests.
SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
LISTING = "/category/interviews/featured-interview/"


async def test_a_listing_page_gives_titles_links_teasers_images(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve(LISTING, fixture_bytes("listing-page1.html"), content_type="text/html")
    settings = make_settings([{"name": "featured", "kind": "listing", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0])

    assert report.error is None and len(report.new) == 3
    hmlt = await store.posts.by_url("https://www.kcrush.com/kcrush-interview-with-hmlt-and-kei-li/")
    assert hmlt is not None
    # Lazy-loaded image: the real one is in data-src, not the placeholder src.
    assert (
        hmlt.image_url
        == "https://www.kcrush.com/wp-content/uploads/2021/03/hmlt-kei-li-300x200.jpg"
    )
    assert hmlt.published_at == datetime(2021, 3, 16, 10, 20, tzinfo=UTC)
    assert set(hmlt.categories) == {"featured-interview", "interviews"}
    assert hmlt.teaser.startswith("We’re bringing you an interview from HMLT and KEI-LI.")
    assert hmlt.teaser.endswith("a singer, producer…") and "Read More" not in hmlt.teaser
    # A relative link with a tracking parameter becomes the canonical URL.
    vicke = await store.posts.by_url(
        "https://www.kcrush.com/kcrush-interview-with-singer-songwriter-vicke-blanka/"
    )
    assert vicke is not None
    assert (
        vicke.image_url
        == "https://www.kcrush.com/wp-content/uploads/2021/02/vicke-blanka-300x200.jpg"
    )
    # The page's text around the posts (intro, visits, footer, scripts) is no post.
    assert await count(store, "SELECT count(*) FROM posts WHERE title LIKE '%Visits%'") == 0


async def test_listing_backfill_pages_until_the_site_says_404(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve(LISTING, fixture_bytes("listing-page1.html"), content_type="text/html")
    feed_server.serve(
        LISTING + "page/2/", fixture_bytes("listing-page2.html"), content_type="text/html"
    )
    settings = make_settings([{"name": "featured", "kind": "listing", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        report = await ingestor.poll(settings.sources[0], backfill=True)

    assert report.error is None and report.pages == 2
    assert len(report.new) == 5 and report.skipped == 1  # the staging copy on page 2
    assert feed_server.hits[LISTING + "page/3/"] == 1  # asked once, 404, stopped
    assert await count(store, "SELECT count(*) FROM posts WHERE pushable = 1") == 0
    assert "from 2 pages" in report.line()


def test_page_urls_follow_wordpress() -> None:
    base = "https://www.kcrush.com/category/interviews/"
    assert page_url(base, 1) == base
    assert page_url(base, 3) == base + "page/3/"
    assert page_url(base + "page/2/", 5) == base + "page/5/"
    assert page_url("https://www.kcrush.com/category/kpop", 2) == (
        "https://www.kcrush.com/category/kpop/page/2/"
    )


def test_the_seed_text_listings_yield_every_item() -> None:
    expected = {
        "interviews-listing.txt": 20,
        "featured-interview-listing.txt": 14,
        "kpop-articles-listing.txt": 15,
    }
    for name, items in expected.items():
        pairs = split_text_listing((SEEDS / name).read_text(encoding="utf-8"))
        assert len(pairs) == items, name
        for title, teaser in pairs:
            assert not title.lower().endswith("read more") and "Visits" not in title
            assert not teaser.lower().endswith("read more")
    featured = split_text_listing((SEEDS / "featured-interview-listing.txt").read_text("utf-8"))
    titles = [t for t, _ in featured]
    # Image-alt lines ("Yo garam 1") are not titles.
    assert "Yo garam 1" not in titles and "Interview Inline Speed Skater, Yoo Ga-ram" in titles
    assert titles[-1] == "KCrush Interview With Rising Star – MAIL"


async def test_backfill_with_a_progress_bar_ingests_the_same(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve(LISTING, fixture_bytes("listing-page1.html"), content_type="text/html")
    feed_server.serve(
        LISTING + "page/2/", fixture_bytes("listing-page2.html"), content_type="text/html"
    )
    settings = make_settings([{"name": "featured", "kind": "listing", "url": url}])
    async with Ingestor(store, settings) as ingestor:
        (report,) = await ingestor.poll_all(backfill=True, progress=True)
    assert report.error is None and report.pages == 2 and len(report.new) == 5
