"""The bundled sample archive: every seed item present, and findable by search."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kcrush_bot.sample import load_sample_posts
from kcrush_bot.sample.build import build
from kcrush_bot.sources.normalise import canonical_url
from kcrush_bot.storage import Store
from pg import BACKENDS


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """Every test here that takes ``store`` runs on SQLite, then on PostgreSQL."""
    return str(request.param)


STOPWORDS = {
    "the", "and", "with", "for", "from", "that", "this", "you", "your", "our", "are", "was",
    "who", "what", "why", "how", "into", "about", "interview", "interviews", "kcrush",
}  # fmt: skip
# Copies of the magazine's listing pages (the seeds), kept with the tests.
SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"


def distinctive_words(title: str) -> list[str]:
    """The two longest words of a title that are not stopwords."""
    words = [w for w in re.findall(r"\w+", title) if w.lower() not in STOPWORDS]
    return sorted(words, key=len, reverse=True)[:2]


def test_the_sample_has_every_seed_item_with_canonical_links() -> None:
    posts = load_sample_posts()
    assert len(posts) == 49
    assert len({p.url for p in posts}) == 49
    for post in posts:
        assert canonical_url(post.url) == post.url
        assert post.title and post.teaser and post.categories
        assert "Read More" not in post.teaser
    by_category = {
        c: sum(c in p.categories for p in posts)
        for c in ("interviews", "featured-interview", "kpop")
    }
    assert by_category == {"interviews": 20, "featured-interview": 14, "kpop": 15}


def test_the_committed_archive_is_what_the_builder_makes() -> None:
    built = build(SEEDS)
    assert [r["url"] for r in built] == [p.url for p in load_sample_posts()]


async def test_every_sample_post_is_found_by_two_words_of_its_title(store: Store) -> None:
    posts = load_sample_posts()
    await store.posts.upsert(posts, source="sample", pushable=False)
    misses = []
    for post in posts:
        query = " ".join(distinctive_words(post.title))
        hits, _ = await store.posts.search(query, limit=3)
        if post.url not in [h.post.url for h in hits]:
            misses.append((query, post.title))
    assert misses == []


@pytest.mark.parametrize("query", ["크나큰", "크나"])
async def test_hangul_queries_find_hangul_text(store: Store, query: str) -> None:
    await store.posts.upsert(load_sample_posts(), source="sample", pushable=False)
    hits, total = await store.posts.search(query)
    assert total >= 1
    assert hits[0].post.url == "https://www.kcrush.com/kcrush-interview-with-knk/"
