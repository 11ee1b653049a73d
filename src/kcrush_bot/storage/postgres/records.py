"""Rows to models for the PostgreSQL repositories: the post columns every post query reads."""

from __future__ import annotations

import json
from typing import Any, Protocol

from kcrush_bot.core.models import SAMPLE_SOURCE, Category, Post

# A post and its category slugs (sorted, as the model keeps them), in one row.
POST_COLUMNS = (
    "p.id, p.url, p.guid, p.title, p.teaser, p.image_url, p.published_at, p.modified_at, "
    "p.tags, p.wp_id, array(SELECT pc.slug FROM post_categories pc WHERE pc.post_id = p.id ORDER BY pc.slug) "
    "AS cats"
)
# Real posts before the bundled sample's (see ``SAMPLE_SOURCE``), then newest first.
NEWEST_FIRST = (
    f"(p.source IS NOT DISTINCT FROM '{SAMPLE_SOURCE}') ASC, "
    "coalesce(p.published_at, p.first_seen_at) DESC, p.id DESC"
)


class Queries(Protocol):
    """What a pool and a connection both offer: a repository runs on either."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> str: ...


def post_from_record(row: Any) -> Post:
    return Post(
        id=row["id"],
        url=row["url"],
        guid=row["guid"],
        title=row["title"],
        teaser=row["teaser"],
        image_url=row["image_url"],
        published_at=row["published_at"],
        modified_at=row["modified_at"],
        categories=tuple(row["cats"] or ()),
        tags=tuple(row["tags"].split("\n")) if row["tags"] else (),
        wp_id=row["wp_id"],
    )


def category_from_record(row: Any) -> Category:
    aliases = tuple(json.loads(row["aliases"])) if row["aliases"] else ()
    return Category(row["slug"], row["name"], row["parent"], aliases)
