"""Storing a reading of posts: new ones inserted, changed ones updated, in one transaction.

How a reading meets what is stored (the rules of ``PostRepository.upsert``) is the subject of
this module; the posts repository only hands it the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import aiosqlite

from kcrush_bot.core.models import Post
from kcrush_bot.core.ports import UpsertResult
from kcrush_bot.storage.db import Database, chunks, marks, to_db_time
from kcrush_bot.storage.rows import older
from kcrush_bot.storage.upsert_plan import inserted_links, plan_upsert


async def upsert_posts(
    db: Database,
    posts: Sequence[Post],
    *,
    source: str | None,
    pushable: bool,
    authoritative: bool = False,
    silent_before: datetime | None = None,
    then: Callable[[aiosqlite.Connection, list[int]], Awaitable[None]] | None = None,
) -> UpsertResult:
    """Store posts in one transaction: new ones inserted, changed ones updated, by the rules
    of ``storage.upsert_plan``. ``pushable`` is False for a silent archive (a source's first
    sight, a backfill, the sample): the publisher never pushes those; a new post published
    before ``silent_before`` is archived silently too (an old post seen because it changed).
    Lookups and writes go in batches (``executemany``): each call crosses to aiosqlite's
    thread, and per-statement round trips dominated.
    """
    if not posts:
        return UpsertResult()
    stamp = db.now_db()
    async with db.transaction() as conn:
        found = await _matching_rows(db, posts)
        plan = plan_upsert(
            posts,
            found,
            await _terms(db, "post_categories", "slug", list(found)),
            await _terms(db, "post_tags", "tag", list(found)),
            authoritative=authoritative,
            stored_time=to_db_time,
        )
        if plan.updates:
            await conn.executemany(
                "UPDATE posts SET url = ?, title = ?, teaser = ?, image_url = ?, "
                "published_at = ?, modified_at = coalesce(?, modified_at), "
                "guid = coalesce(guid, ?), from_api = max(from_api, ?), "
                "wp_id = coalesce(?, wp_id), withdrawn_at = NULL, "
                # A visible change to a post already fanned out must reach its messages.
                "touched_at = CASE WHEN ? AND enqueued_at IS NOT NULL "
                "THEN ? ELSE touched_at END, updated_at = ? "
                "WHERE id = ?",
                [
                    (
                        u.url,
                        u.title,
                        u.teaser,
                        u.image_url,
                        u.published_at,
                        u.modified_at,
                        u.guid,
                        int(authoritative),
                        u.wp_id,
                        int(u.touch),
                        stamp,
                        stamp,
                        u.id,
                    )
                    for u in plan.updates
                ],
            )
        inserts, known = plan.inserts, plan.known
        if inserts:
            await conn.executemany(
                "INSERT INTO posts (url, guid, title, teaser, image_url, published_at, "
                "modified_at, source, first_seen_at, updated_at, pushable, from_api, wp_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.url,
                        p.guid if p.guid not in plan.taken_guids else None,
                        p.title,
                        p.teaser,
                        p.image_url,
                        to_db_time(p.published_at),
                        to_db_time(p.modified_at),
                        source,
                        stamp,
                        stamp,
                        int(pushable and not older(p, silent_before)),
                        int(authoritative),
                        p.wp_id,
                    )
                    for p in inserts
                ],
            )
            for chunk in chunks([p.url for p in inserts]):
                sql = f"SELECT id, url FROM posts WHERE url IN ({marks(chunk)})"
                for row in await db.all(sql, chunk):
                    known[row["url"]] = row["id"]
            # Report new ids in document order.
            plan.result.new.extend(int(known[p.url] or 0) for p in inserts)
            plan.links += inserted_links(inserts, known)
        await _link_terms(conn, plan.links)
        if then is not None:  # in the same transaction: the ids of every post of the reading
            await then(conn, [i for i in known.values() if i is not None])
    return plan.result


async def _matching_rows(db: Database, posts: Sequence[Post]) -> dict[int, sqlite3.Row]:
    """The stored posts that share a URL or a guid with any of ``posts``, by id."""
    columns = "id, url, guid, title, teaser, image_url, published_at, from_api, wp_id, withdrawn_at"
    found: dict[int, sqlite3.Row] = {}
    for column, values in (
        ("url", list({p.url for p in posts})),
        ("guid", list({p.guid for p in posts if p.guid})),
        ("wp_id", list({p.wp_id for p in posts if p.wp_id})),
    ):
        for chunk in chunks(values):
            sql = f"SELECT {columns} FROM posts WHERE {column} IN ({marks(chunk)})"
            for row in await db.all(sql, chunk):
                found[int(row["id"])] = row
    return found


async def _terms(db: Database, table: str, column: str, ids: Sequence[int]) -> dict[int, set[str]]:
    """Each post's categories (``post_categories``) or tags (``post_tags``)."""
    terms: dict[int, set[str]] = {}
    for chunk in chunks(ids):
        sql = f"SELECT post_id, {column} AS term FROM {table} WHERE post_id IN ({marks(chunk)})"
        for row in await db.all(sql, chunk):
            terms.setdefault(int(row["post_id"]), set()).add(row["term"])
    return terms


async def _link_terms(
    conn: aiosqlite.Connection,
    links: Sequence[tuple[int, set[str], set[str], bool]],
) -> None:
    """Posts' categories and tags: added, or with ``replace`` set to exactly these; then
    the tags' searchable text."""
    if not links:
        return
    replaced = [(pid,) for pid, _, _, replace in links if replace]
    if replaced:
        await conn.executemany("DELETE FROM post_categories WHERE post_id = ?", replaced)
        await conn.executemany("DELETE FROM post_tags WHERE post_id = ?", replaced)
    slugs = list(dict.fromkeys(slug for _, cats, _, _ in links for slug in cats))
    if slugs:
        await conn.executemany(
            "INSERT OR IGNORE INTO categories (slug, name) VALUES (?, ?)",
            [(slug, slug.replace("-", " ").title()) for slug in slugs],
        )
    await conn.executemany(
        "INSERT OR IGNORE INTO post_categories (post_id, slug) VALUES (?, ?)",
        [(pid, slug) for pid, cats, _, _ in links for slug in cats],
    )
    await conn.executemany(
        "INSERT OR IGNORE INTO post_tags (post_id, tag) VALUES (?, ?)",
        [(pid, tag) for pid, _, tags, _ in links for tag in tags],
    )
    await conn.executemany(
        "UPDATE posts SET tags = coalesce((SELECT group_concat(tag, char(10)) FROM "
        "(SELECT tag FROM post_tags WHERE post_id = ? ORDER BY tag)), '') WHERE id = ?",
        [(pid, pid) for pid, _, _, _ in links],
    )
