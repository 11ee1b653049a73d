"""Storing a reading of posts on PostgreSQL, by the rules of ``storage.upsert_plan``: rows
looked up with ``= ANY($1)`` arrays, inserts in one ``unnest`` statement whose ids come back in
order, writes with ``executemany``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from kcrush_bot.core.models import Post
from kcrush_bot.core.ports import UpsertResult
from kcrush_bot.storage.postgres.db import PgDatabase, maybe_utc
from kcrush_bot.storage.rows import older
from kcrush_bot.storage.upsert_plan import inserted_links, plan_upsert

_COLUMNS = "id, url, guid, title, teaser, image_url, published_at, from_api, wp_id, withdrawn_at"


async def upsert_posts(
    db: PgDatabase,
    posts: Sequence[Post],
    *,
    source: str | None,
    pushable: bool,
    authoritative: bool = False,
    silent_before: datetime | None = None,
    then: Callable[[asyncpg.Connection, list[int]], Awaitable[None]] | None = None,
) -> UpsertResult:
    """Store posts (already made storable) in one transaction; see ``PostRepository.upsert``."""
    if not posts:
        return UpsertResult()
    stamp = db.now_utc()
    async with db.transaction() as conn:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM posts WHERE url = ANY($1::text[]) "
            "OR guid = ANY($2::text[]) OR wp_id = ANY($3::bigint[])",
            list({p.url for p in posts}),
            list({p.guid for p in posts if p.guid}),
            list({p.wp_id for p in posts if p.wp_id}),
        )
        found = {int(r["id"]): r for r in rows}
        plan = plan_upsert(
            posts,
            found,
            await _terms(conn, "post_categories", "slug", list(found)),
            await _terms(conn, "post_tags", "tag", list(found)),
            authoritative=authoritative,
            stored_time=maybe_utc,
        )
        if plan.updates:
            await conn.executemany(
                "UPDATE posts SET url = $1, title = $2, teaser = $3, image_url = $4, "
                "published_at = $5, modified_at = coalesce($6, modified_at), "
                "guid = coalesce(guid, $7), from_api = from_api OR $8, "
                "wp_id = coalesce($9, wp_id), withdrawn_at = NULL, "
                # A visible change to a post already fanned out must reach its messages.
                "touched_at = CASE WHEN $10 AND enqueued_at IS NOT NULL "
                "THEN $11 ELSE touched_at END, updated_at = $11 WHERE id = $12",
                [
                    (
                        u.url,
                        u.title,
                        u.teaser,
                        u.image_url,
                        u.published_at,
                        u.modified_at,
                        u.guid,
                        authoritative,
                        u.wp_id,
                        u.touch,
                        stamp,
                        u.id,
                    )
                    for u in plan.updates
                ],
            )
        inserts, known = plan.inserts, plan.known
        if inserts:
            # One statement for the batch; the ids come back in the order given.
            ids = await conn.fetch(
                "INSERT INTO posts (url, guid, title, teaser, image_url, published_at, "
                "modified_at, source, first_seen_at, updated_at, pushable, from_api, wp_id) "
                "SELECT u.url, u.guid, u.title, u.teaser, u.image_url, u.published_at, "
                "u.modified_at, $8, $9, $9, u.pushable, $10, u.wp_id "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
                "$6::timestamptz[], $7::timestamptz[], $11::boolean[], $12::bigint[]) "
                "WITH ORDINALITY AS u(url, guid, title, teaser, image_url, published_at, "
                "modified_at, pushable, wp_id, n) ORDER BY u.n RETURNING id, url",
                [p.url for p in inserts],
                [p.guid if p.guid not in plan.taken_guids else None for p in inserts],
                [p.title for p in inserts],
                [p.teaser for p in inserts],
                [p.image_url for p in inserts],
                [maybe_utc(p.published_at) for p in inserts],
                [maybe_utc(p.modified_at) for p in inserts],
                source,
                stamp,
                authoritative,
                [pushable and not older(p, silent_before) for p in inserts],
                [p.wp_id for p in inserts],
            )
            for row in ids:
                known[row["url"]] = row["id"]
            # Report new ids in document order.
            plan.result.new.extend(int(known[p.url] or 0) for p in inserts)
            plan.links += inserted_links(inserts, known)
        await _link_terms(conn, plan.links)
        if then is not None:  # in the same transaction: the ids of every post of the reading
            await then(conn, [i for i in known.values() if i is not None])
    return plan.result


async def _terms(
    conn: asyncpg.Connection, table: str, column: str, ids: Sequence[int]
) -> dict[int, set[str]]:
    """Each post's categories (``post_categories``) or tags (``post_tags``)."""
    terms: dict[int, set[str]] = {}
    if ids:
        rows = await conn.fetch(
            f"SELECT post_id, {column} AS term FROM {table} WHERE post_id = ANY($1::bigint[])",
            list(ids),
        )
        for row in rows:
            terms.setdefault(int(row["post_id"]), set()).add(row["term"])
    return terms


async def _link_terms(
    conn: asyncpg.Connection, links: Sequence[tuple[int, set[str], set[str], bool]]
) -> None:
    """Posts' categories and tags: added, or with ``replace`` set to exactly these; then the
    tags' searchable text."""
    if not links:
        return
    replaced = [pid for pid, _, _, replace in links if replace]
    if replaced:
        await conn.execute(
            "DELETE FROM post_categories WHERE post_id = ANY($1::bigint[])", replaced
        )
        await conn.execute("DELETE FROM post_tags WHERE post_id = ANY($1::bigint[])", replaced)
    slugs = list(dict.fromkeys(slug for _, cats, _, _ in links for slug in cats))
    if slugs:
        await conn.executemany(
            "INSERT INTO categories (slug, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(slug, slug.replace("-", " ").title()) for slug in slugs],
        )
    pairs: list[tuple[Any, ...]] = [(pid, slug) for pid, cats, _, _ in links for slug in cats]
    if pairs:
        await conn.executemany(
            "INSERT INTO post_categories (post_id, slug) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            pairs,
        )
    tagged: list[tuple[Any, ...]] = [(pid, tag) for pid, _, tags, _ in links for tag in tags]
    if tagged:
        await conn.executemany(
            "INSERT INTO post_tags (post_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING", tagged
        )
    await conn.execute(
        "UPDATE posts SET tags = coalesce((SELECT string_agg(tag, E'\\n' ORDER BY tag) "
        "FROM post_tags t WHERE t.post_id = posts.id), '') WHERE id = ANY($1::bigint[])",
        [pid for pid, _, _, _ in links],
    )
