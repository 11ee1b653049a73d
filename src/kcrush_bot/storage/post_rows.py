"""A post as the posts table holds it: the columns every read selects, and the row made back
into a ``Post``. Shared by the posts repository's modules."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from kcrush_bot.core.models import SAMPLE_SOURCE, Post
from kcrush_bot.storage.db import from_db_time

POST_COLUMNS = (
    "p.id, p.url, p.guid, p.title, p.teaser, p.image_url, p.published_at, p.modified_at, "
    "p.tags, p.wp_id, (SELECT group_concat(slug, ' ') FROM post_categories pc WHERE pc.post_id = p.id) AS cats"
)
# Real posts before the bundled sample's (see ``SAMPLE_SOURCE``), then newest first.
NEWEST_FIRST = (
    f"(p.source IS '{SAMPLE_SOURCE}') ASC, coalesce(p.published_at, p.first_seen_at) DESC, "
    "p.id DESC"
)
CATEGORY_TREE = (
    "WITH RECURSIVE tree(slug) AS ("
    " SELECT ? UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug)"
)


def post_of(row: sqlite3.Row) -> Post:
    cats = row["cats"]
    return Post(
        id=row["id"],
        url=row["url"],
        guid=row["guid"],
        title=row["title"],
        teaser=row["teaser"],
        image_url=row["image_url"],
        published_at=from_db_time(row["published_at"]),
        modified_at=from_db_time(row["modified_at"]),
        categories=tuple(sorted(cats.split())) if cats else (),
        tags=tuple(row["tags"].split("\n")) if row["tags"] else (),
        wp_id=row["wp_id"],
    )


def older(post: Post, limit: datetime | None) -> bool:
    """Whether ``post`` was published before ``limit`` (never, when either is unknown)."""
    return bool(limit and post.published_at and post.published_at < limit)
