"""The bundled sample only stands in until the magazine itself has been read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opskit import kcrush

from kcrush_bot.core.models import SAMPLE_SOURCE, Post
from kcrush_bot.storage import Store


def real_feed(tmp_path: Path, *titles: str) -> Path:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        "\n".join(
            json.dumps(
                {
                    "url": f"https://www.kcrush.com/real-{n}/",
                    "title": title,
                    "published_at": f"2015-01-0{n + 1}T10:00:00+00:00",
                }
            )
            for n, title in enumerate(titles)
        )
    )
    return feed


def test_reading_a_real_source_replaces_the_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "bot.db"
    fresh = json.loads(kcrush(capsys, monkeypatch, db, "latest", "-n", "100", "--json").out)
    assert len(fresh) == 49  # a fresh install answers from the sample
    # Real posts dated before every sample post (2015) still come first afterwards.
    feed = real_feed(tmp_path, "Real one", "Real two")
    assert kcrush(capsys, monkeypatch, db, "ingest", str(feed)).code == 0
    after = json.loads(kcrush(capsys, monkeypatch, db, "latest", "-n", "100", "--json").out)
    assert [p["title"] for p in after] == ["Real two", "Real one"]
    found = json.loads(kcrush(capsys, monkeypatch, db, "search", "interview", "--json").out)
    assert found == []


async def test_real_posts_outrank_undated_sample_posts(store: Store) -> None:
    old = Post(
        url="https://www.kcrush.com/old/",
        title="Old real post",
        published_at=datetime(2010, 1, 1, tzinfo=UTC),
    )
    await store.posts.upsert([old], source="magazine", pushable=False)
    # Loaded later, undated: by first sight it would be the newest.
    sample = Post(url="https://www.kcrush.com/sample/", title="Sample")
    await store.posts.upsert([sample], source=SAMPLE_SOURCE, pushable=False)
    assert [p.title for p in await store.posts.latest(5)] == ["Old real post", "Sample"]


async def test_a_sample_post_the_real_source_delivers_stays(store: Store) -> None:
    shared = Post(url="https://www.kcrush.com/shared/", title="Shared")
    other = Post(url="https://www.kcrush.com/sample-only/", title="Sample only")
    await store.posts.upsert([shared, other], source=SAMPLE_SOURCE, pushable=False)
    await store.posts.upsert([shared], source="magazine", pushable=True)
    assert await store.posts.by_url(shared.url) is not None
    assert await store.posts.by_url(other.url) is None
