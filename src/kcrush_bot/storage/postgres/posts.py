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
from typing import Any

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
from kcrush_bot.storage.postgres.records import (
    NEWEST_FIRST,
    POST_COLUMNS,
    category_from_record,
    post_from_record,
)

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


class PgPostRepository:
    """Posts, categories and search over the shared PostgreSQL database."""

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
        rows = await self._db.all(
            "SELECT slug, name, parent, aliases FROM categories ORDER BY slug"
        )
        return [category_from_record(r) for r in rows]

    async def category_counts(self) -> list[CategoryCount]:
        """Every category with the number of posts in it or its descendants."""
        rows = await self._db.all(
            """
            WITH RECURSIVE tree(root, slug) AS (
                SELECT slug, slug FROM categories
                UNION ALL
                SELECT tree.root, c.slug FROM categories c JOIN tree ON c.parent = tree.slug
            )
            SELECT c.slug, c.name, c.parent, c.aliases,
                   (SELECT count(DISTINCT pc.post_id) FROM tree
                      JOIN post_categories pc ON pc.slug = tree.slug
                     WHERE tree.root = c.slug) AS posts
              FROM categories c ORDER BY c.slug
            """
        )
        return [CategoryCount(category_from_record(r), r["posts"]) for r in rows]

    async def descendants(self, slug: str) -> list[str]:
        """``slug`` and every category below it."""
        rows = await self._db.all(f"{_CATEGORY_TREE} SELECT slug FROM tree", slug)
        return [r["slug"] for r in rows]

    # -- posts -------------------------------------------------------------------------------

    async def upsert(
        self, posts: Iterable[Post], *, source: str | None, pushable: bool
    ) -> UpsertResult:
        """Store posts in one transaction: new ones inserted, edited ones updated.

        A post is the same post when its canonical URL or its guid matches. ``pushable`` is
        False for a silent archive (a source's first sight, a backfill, the sample).
        """
        result = UpsertResult()
        posts = [_storable(p) for p in posts]
        if not posts:
            return result
        stamp = self._db.now_utc()
        async with self._db.transaction() as conn:
            columns = "id, url, guid, title, teaser, image_url, published_at"
            by_url = {
                r["url"]: r
                for r in await conn.fetch(
                    f"SELECT {columns} FROM posts WHERE url = ANY($1::text[])",
                    list({p.url for p in posts}),
                )
            }
            by_guid = {
                r["guid"]: r
                for r in await conn.fetch(
                    f"SELECT {columns} FROM posts WHERE guid = ANY($1::text[])",
                    list({p.guid for p in posts if p.guid}),
                )
            }

            inserts: list[Post] = []
            updates: list[tuple[Any, ...]] = []
            known: dict[str, int | None] = {}  # url -> id (None: inserted in this batch)
            for post in posts:
                if post.url in known:
                    continue  # the same post twice in one document (two category feeds)
                row = by_url.get(post.url) or (by_guid.get(post.guid) if post.guid else None)
                if row is None:
                    inserts.append(post)
                    known[post.url] = None
                    continue
                known[post.url] = row["id"]
                current = (row["title"], row["teaser"], row["image_url"], row["published_at"])
                incoming = (
                    post.title,
                    post.teaser or row["teaser"],
                    post.image_url or row["image_url"],
                    maybe_utc(post.published_at) or row["published_at"],
                )
                # Fill a missing guid, unless another post already holds it (UNIQUE).
                guid = (
                    post.guid
                    if post.guid and row["guid"] is None and post.guid not in by_guid
                    else None
                )
                if incoming != current or guid:
                    updates.append((*incoming, maybe_utc(post.modified_at), guid, stamp, row["id"]))
                    if incoming != current:
                        result.updated.append(row["id"])
                    else:
                        result.unchanged += 1
                else:
                    result.unchanged += 1

            if updates:
                await conn.executemany(
                    "UPDATE posts SET title = $1, teaser = $2, image_url = $3, published_at = $4, "
                    "modified_at = coalesce($5, modified_at), guid = coalesce(guid, $6), "
                    "updated_at = $7 WHERE id = $8",
                    updates,
                )
            if inserts:
                # One statement for the batch; the ids come back in the order given.
                ids = await conn.fetch(
                    "INSERT INTO posts (url, guid, title, teaser, image_url, published_at, "
                    "modified_at, source, first_seen_at, updated_at, pushable) "
                    "SELECT u.url, u.guid, u.title, u.teaser, u.image_url, u.published_at, "
                    "u.modified_at, $8, $9, $9, $10 "
                    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
                    "$6::timestamptz[], $7::timestamptz[]) WITH ORDINALITY "
                    "AS u(url, guid, title, teaser, image_url, published_at, modified_at, n) "
                    "ORDER BY u.n RETURNING id, url",
                    [p.url for p in inserts],
                    [p.guid if p.guid not in by_guid else None for p in inserts],
                    [p.title for p in inserts],
                    [p.teaser for p in inserts],
                    [p.image_url for p in inserts],
                    [maybe_utc(p.published_at) for p in inserts],
                    [maybe_utc(p.modified_at) for p in inserts],
                    source,
                    stamp,
                    pushable,
                )
                for found in ids:
                    known[found["url"]] = found["id"]
                # Report new ids in document order.
                result.new.extend(int(known[p.url] or 0) for p in inserts)

            links = [(known[p.url], slug) for p in posts for slug in p.categories]
            if links:
                await conn.executemany(
                    "INSERT INTO categories (slug, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    [(slug, slug.replace("-", " ").title()) for slug in {s for _, s in links}],
                )
                await conn.executemany(
                    "INSERT INTO post_categories (post_id, slug) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    links,
                )
            tags = [(known[p.url], tag) for p in posts for tag in p.tags]
            if tags:
                await conn.executemany(
                    "INSERT INTO post_tags (post_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    tags,
                )
            if source != SAMPLE_SOURCE and not self._sample_gone:
                # A real source has been read: the sample leaves the archive, except the posts
                # this source also delivered, which are its posts now.
                seen = [i for i in known.values() if i is not None]
                await conn.execute(
                    "UPDATE posts SET source = $1 WHERE source = $2 AND id = ANY($3::bigint[])",
                    source,
                    SAMPLE_SOURCE,
                    seen,
                )
                await conn.execute("DELETE FROM posts WHERE source = $1", SAMPLE_SOURCE)
                self._sample_gone = True
        return result

    async def by_url(self, url: str) -> Post | None:
        row = await self._db.one(f"SELECT {POST_COLUMNS} FROM posts p WHERE p.url = $1", url)
        return post_from_record(row) if row else None

    async def by_ids(self, ids: Sequence[int]) -> list[Post]:
        if not ids:
            return []
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ANY($1::bigint[]) "
            "ORDER BY coalesce(p.published_at, p.first_seen_at), p.id",
            list(ids),
        )
        return [post_from_record(r) for r in rows]

    async def tags(self, post_id: int) -> list[str]:
        rows = await self._db.all(
            "SELECT tag FROM post_tags WHERE post_id = $1 ORDER BY tag", post_id
        )
        return [r["tag"] for r in rows]

    async def latest(self, limit: int = 5, category: str | None = None) -> list[Post]:
        """Newest posts first, optionally in a category or any of its children."""
        if category is None:
            rows = await self._db.all(
                f"SELECT {POST_COLUMNS} FROM posts p ORDER BY {NEWEST_FIRST} LIMIT $1", limit
            )
        else:
            rows = await self._db.all(
                f"""
                {_CATEGORY_TREE}
                SELECT {POST_COLUMNS} FROM posts p
                 WHERE p.id IN (SELECT post_id FROM post_categories
                                 WHERE slug IN (SELECT slug FROM tree))
                 ORDER BY {NEWEST_FIRST} LIMIT $2
                """,
                category,
                limit,
            )
        return [post_from_record(r) for r in rows]

    async def count(self) -> int:
        return int(await self._db.value("SELECT count(*) FROM posts"))

    async def newest_at(self) -> datetime | None:
        """When the newest post was published (or first seen): the archive's freshness."""
        value: datetime | None = await self._db.value(
            "SELECT max(coalesce(published_at, first_seen_at)) FROM posts"
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
               AND (p.pushable OR NOT $3)
             ORDER BY coalesce(p.published_at, p.first_seen_at), p.id LIMIT $4
            """,
            chat.key,
            maybe_utc(since),
            pushable_only,
            limit,
        )
        return [post_from_record(r) for r in rows]

    # -- search ------------------------------------------------------------------------------

    async def search(
        self, query: str, *, limit: int = 10, offset: int = 0
    ) -> tuple[list[SearchHit], int]:
        return await pg_search.search(self._db.q, query, limit=limit, offset=offset)
