"""A post's reads in PostgreSQL's words: the columns every post query selects and newest
first (the row is made into a ``Post`` by ``storage.rows.post_of``, as SQLite's is)."""

from __future__ import annotations

from typing import Any, Protocol

from kcrush_bot.core.models import SAMPLE_SOURCE
from kcrush_bot.storage.rows import post_of

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


# The search module's name for ``rows.post_of``: a PostgreSQL row is made into a post as a
# SQLite one is.
post_from_record = post_of
