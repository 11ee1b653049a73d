"""The posts repository on PostgreSQL: the archive, its categories and tags, and search.

The same public methods as the SQLite ``PostRepository``. Upserts look posts up by URL and
guid with ``= ANY($1)`` arrays (no parameter lists to build), write with ``executemany``, and
the search is ``storage/postgres/search.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from kcrush_bot.core.models import (
    SAMPLE_SOURCE,
    Category,
    CategoryCount,
    ChatRef,
    Post,
    SearchHit,
)
from kcrush_bot.storage import UpsertResult
from kcrush_bot.storage.postgres import search as pg_search
from kcrush_bot.storage.postgres.db import PgDatabase, clean, clean_or_none, maybe_utc
from kcrush_bot.storage.postgres.post_life import PgPostLife
from kcrush_bot.storage.postgres.post_upsert import upsert_posts
from kcrush_bot.storage.postgres.records import NEWEST_FIRST, POST_COLUMNS
from kcrush_bot.storage.rows import CATEGORIES, CATEGORY_COUNTS, category_of, post_of

_CATEGORY_TREE = (
    "WITH RECURSIVE tree(slug) AS ("
    ' SELECT $1::text COLLATE "C"'
    " UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug)"
)


def _storable(post: Post) -> Post:
    """The post with every text PostgreSQL can store (see ``db.clean``)."""
    return dataclasses.replace(
        post,
        url=clean(post.url),
        title=clean(post.title),
        teaser=clean(post.teaser),
        categories=tuple(clean(c) for c in post.categories),
        tags=tuple(clean(t) for t in post.tags),
        image_url=clean_or_none(post.image_url),
        guid=clean_or_none(post.guid),
    )


class PgPostRepository(PgPostLife):
    """Posts, categories and search over the shared PostgreSQL database (``PgPostLife``:
    withdrawals, returns and the touches that carry them to sent messages)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._sample_gone = False

    # -- categories --------------------------------------------------------------------------

    async def sync_categories(self, categories: Iterable[Category]) -> None:
        """Make the configured taxonomy known (parents first, so the foreign key holds)."""
        ordered = sorted(categories, key=lambda c: c.parent is not None)
        async with self._db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO categories (slug, name, parent, aliases) VALUES ($1, $2, NULL, $3) "
                "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, "
                "aliases = excluded.aliases",
                [
                    (
                        clean(cat.slug),
                        clean(cat.name),
                        json.dumps([clean(a) for a in cat.aliases], ensure_ascii=False),
                    )
                    for cat in ordered
                ],
            )
            parented = [(cat.parent, cat.slug) for cat in ordered if cat.parent]
            if parented:
                await conn.executemany(
                    "INSERT INTO categories (slug, name) VALUES ($1, $1) ON CONFLICT DO NOTHING",
                    [(parent,) for parent, _ in parented],
                )
                await conn.executemany(
                    "UPDATE categories SET parent = $1 WHERE slug = $2", parented
                )

    async def upsert_wordpress_categories(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """WordPress categories as (wp_id, slug, name, parent wp_id or 0), with their parents."""
        rows = list(rows)
        by_id = {wp_id: slug for wp_id, slug, _, _ in rows}
        async with self._db.transaction() as conn:
            for wp_id, slug, name, _ in rows:
                await conn.execute(
                    "INSERT INTO categories (slug, name, wp_id) VALUES ($1, $2, $3) "
                    "ON CONFLICT (slug) DO UPDATE SET wp_id = excluded.wp_id",
                    clean(slug),
                    clean(name),
                    wp_id,
                )
            for _, slug, _, parent_id in rows:
                parent = by_id.get(parent_id)
                if parent is None and parent_id:
                    parent = await conn.fetchval(
                        "SELECT slug FROM categories WHERE wp_id = $1", parent_id
                    )
                if parent and parent != slug:
                    await conn.execute(
                        "UPDATE categories SET parent = $1 WHERE slug = $2",
                        clean(parent),
                        clean(slug),
                    )

    async def categories(self) -> list[Category]:
        return [category_of(r) for r in await self._db.all(CATEGORIES)]

    async def category_counts(self) -> list[CategoryCount]:
        """Every category with the number of posts in it or its descendants."""
        rows = await self._db.all(CATEGORY_COUNTS)
        return [CategoryCount(category_of(r), r["posts"]) for r in rows]

    async def descendants(self, slug: str) -> list[str]:
        """``slug`` and every category below it."""
        rows = await self._db.all(f"{_CATEGORY_TREE} SELECT slug FROM tree", slug)
        return [r["slug"] for r in rows]

    # -- posts -------------------------------------------------------------------------------

    async def upsert(
        self,
        posts: Iterable[Post],
        *,
        source: str | None,
        pushable: bool,
        authoritative: bool = False,
        silent_before: datetime | None = None,
    ) -> UpsertResult:
        """Store posts in one transaction, by the rules of the SQLite store's upsert
        (``storage.post_upsert``); see ``storage.postgres.post_upsert``."""

        async def replace_sample(conn: asyncpg.Connection, seen: list[int]) -> None:
            await self._replace_sample(conn, source, seen)

        return await upsert_posts(
            self._db,
            [_storable(p) for p in posts],
            source=source,
            pushable=pushable,
            authoritative=authoritative,
            silent_before=silent_before,
            then=None if source == SAMPLE_SOURCE or self._sample_gone else replace_sample,
        )

    async def _replace_sample(
        self, conn: asyncpg.Connection, source: str | None, seen: list[int]
    ) -> None:
        """A real source has been read: the sample leaves the archive, except the posts this
        source also delivered, which are its posts now."""
        await conn.execute(
            "UPDATE posts SET source = $1 WHERE source = $2 AND id = ANY($3::bigint[])",
            source,
            SAMPLE_SOURCE,
            seen,
        )
        await conn.execute("DELETE FROM posts WHERE source = $1", SAMPLE_SOURCE)
        self._sample_gone = True

    async def by_url(self, url: str) -> Post | None:
        row = await self._db.one(f"SELECT {POST_COLUMNS} FROM posts p WHERE p.url = $1", url)
        return post_of(row) if row else None

    async def by_ids(self, ids: Sequence[int]) -> list[Post]:
        if not ids:
            return []
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ANY($1::bigint[]) "
            "ORDER BY coalesce(p.published_at, p.first_seen_at), p.id",
            list(ids),
        )
        return [post_of(r) for r in rows]

    async def tags(self, post_id: int) -> list[str]:
        rows = await self._db.all(
            "SELECT tag FROM post_tags WHERE post_id = $1 ORDER BY tag", post_id
        )
        return [r["tag"] for r in rows]

    async def latest(self, limit: int = 5, category: str | None = None) -> list[Post]:
        """Newest posts first, optionally in a category or any of its children."""
        if category is None:
            rows = await self._db.all(
                f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at IS NULL "
                f"ORDER BY {NEWEST_FIRST} LIMIT $1",
                limit,
            )
        else:
            rows = await self._db.all(
                f"""
                {_CATEGORY_TREE}
                SELECT {POST_COLUMNS} FROM posts p
                 WHERE p.id IN (SELECT post_id FROM post_categories
                                 WHERE slug IN (SELECT slug FROM tree))
                   AND p.withdrawn_at IS NULL
                 ORDER BY {NEWEST_FIRST} LIMIT $2
                """,
                category,
                limit,
            )
        return [post_of(r) for r in rows]

    async def count(self) -> int:
        return int(await self._db.value("SELECT count(*) FROM posts WHERE withdrawn_at IS NULL"))

    async def newest_at(self) -> datetime | None:
        """When the newest post was published (or first seen): the archive's freshness."""
        value: datetime | None = await self._db.value(
            "SELECT max(coalesce(published_at, first_seen_at)) FROM posts "
            "WHERE withdrawn_at IS NULL"
        )
        return value

    async def count_categories(self) -> int:
        return int(await self._db.value("SELECT count(*) FROM categories"))

    async def for_chat_since(
        self,
        chat: ChatRef,
        since: datetime | None,
        *,
        limit: int = 200,
        pushable_only: bool = False,
    ) -> list[Post]:
        """Posts first seen after ``since`` in any category the chat subscribes to (with children),
        oldest first. What a digest lists."""
        rows = await self._db.all(
            f"""
            WITH RECURSIVE tree(slug) AS (
                SELECT category FROM subscriptions WHERE chat_key = $1 AND active
                UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug
            )
            SELECT {POST_COLUMNS} FROM posts p
             WHERE p.id IN (SELECT post_id FROM post_categories WHERE slug IN (SELECT slug FROM tree))
               AND ($2::timestamptz IS NULL OR p.first_seen_at > $2)
               AND (p.pushable OR NOT $3) AND p.withdrawn_at IS NULL
             ORDER BY coalesce(p.published_at, p.first_seen_at), p.id LIMIT $4
            """,
            chat.key,
            maybe_utc(since),
            pushable_only,
            limit,
        )
        return [post_of(r) for r in rows]

    # -- search ------------------------------------------------------------------------------

    async def search(
        self, query: str, *, limit: int = 10, offset: int = 0
    ) -> tuple[list[SearchHit], int]:
        return await pg_search.search(self._db.q, query, limit=limit, offset=offset)
