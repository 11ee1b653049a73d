"""A post's life after publication on PostgreSQL: withdrawn and restored, found by WordPress's
id, and touched when its sent messages must follow a change (the SQLite store's
``storage.post_life``). A mixin of ``PgPostRepository``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from kcrush_bot.core.models import Post
from kcrush_bot.storage.db import as_utc
from kcrush_bot.storage.postgres.db import PgDatabase
from kcrush_bot.storage.postgres.records import NEWEST_FIRST, POST_COLUMNS
from kcrush_bot.storage.rows import post_of, touched_of


class PgPostLife:
    """``PgPostRepository``'s withdrawals, returns and touches."""

    _db: PgDatabase

    async def withdraw(self, post_ids: Sequence[int]) -> list[int]:
        """The posts stopped being public: out of latest, search, categories and digests at
        once, and marked for their messages to follow. Returns the ids that were public."""
        return await self._set_withdrawn(post_ids, withdrawn=True)

    async def restore(self, post_ids: Sequence[int]) -> list[int]:
        """The posts are public again; returns the ids that had been withdrawn."""
        return await self._set_withdrawn(post_ids, withdrawn=False)

    async def _set_withdrawn(self, post_ids: Sequence[int], *, withdrawn: bool) -> list[int]:
        ids = sorted(set(post_ids))
        if not ids:
            return []
        stamp = self._db.now_utc()
        was = "IS NULL" if withdrawn else "IS NOT NULL"
        async with self._db.transaction() as conn:
            rows = await conn.fetch(
                f"UPDATE posts SET withdrawn_at = $1, updated_at = $2, "
                "touched_at = CASE WHEN enqueued_at IS NOT NULL THEN $2 ELSE touched_at END "
                f"WHERE id = ANY($3::bigint[]) AND withdrawn_at {was} RETURNING id",
                stamp if withdrawn else None,
                stamp,
                ids,
            )
        return sorted(int(r["id"]) for r in rows)

    async def by_wordpress_ids(self, wp_ids: Sequence[int]) -> dict[int, Post]:
        """Stored posts by WordPress's id of them, withdrawn ones included."""
        rows = await self._db.all(
            f"SELECT p.wp_id AS wp, {POST_COLUMNS} FROM posts p WHERE p.wp_id = ANY($1::bigint[])",
            sorted(set(wp_ids)),
        )
        return {int(r["wp"]): post_of(r) for r in rows}

    async def public_since(self, since: datetime, limit: int = 1000) -> list[Post]:
        """Public posts WordPress knows by id, newest first, first seen or published after
        ``since``: what the reconcile asks WordPress about."""
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at IS NULL "
            "AND p.wp_id IS NOT NULL "
            "AND greatest(p.published_at, p.first_seen_at) >= $1 "
            f"ORDER BY {NEWEST_FIRST} LIMIT $2",
            as_utc(since),
            limit,
        )
        return [post_of(r) for r in rows]

    async def public_without_wordpress_id(self, since: datetime, limit: int = 1000) -> list[Post]:
        """Public posts of the last while whose WordPress id is unknown (read from a feed whose
        guid is a permalink): the reconcile finds their ids by slug."""
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at IS NULL "
            "AND p.wp_id IS NULL AND greatest(p.published_at, p.first_seen_at) >= $1 "
            f"ORDER BY {NEWEST_FIRST} LIMIT $2",
            as_utc(since),
            limit,
        )
        return [post_of(r) for r in rows]

    async def set_wordpress_ids(self, ids: dict[int, int]) -> None:
        """Record WordPress's ids of stored posts (post id → WordPress id)."""
        if ids:
            async with self._db.transaction() as conn:
                await conn.executemany(
                    "UPDATE posts SET wp_id = $1 WHERE id = $2 AND wp_id IS NULL",
                    [(wp_id, post_id) for post_id, wp_id in ids.items()],
                )

    async def withdrawn_since(self, since: datetime, limit: int = 1000) -> list[Post]:
        """Posts withdrawn after ``since`` that WordPress knows by id, newest first: what the
        reconcile asks about, in case they are public again."""
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at >= $1 "
            f"AND p.wp_id IS NOT NULL ORDER BY {NEWEST_FIRST} LIMIT $2",
            as_utc(since),
            limit,
        )
        return [post_of(r) for r in rows]

    async def touched(self, limit: int = 200) -> list[tuple[Post, datetime, bool]]:
        """Posts whose messages must follow a change: (post, when last touched, withdrawn),
        oldest touch first."""
        rows = await self._db.all(
            f"SELECT p.touched_at AS touched, p.withdrawn_at AS withdrawn, {POST_COLUMNS} "
            "FROM posts p WHERE p.touched_at IS NOT NULL ORDER BY p.touched_at, p.id LIMIT $1",
            limit,
        )
        return [touched_of(r) for r in rows]

    async def untouch(
        self, conn: asyncpg.Connection, touched: Sequence[tuple[int, datetime]]
    ) -> None:
        """Inside the caller's transaction: these touches are handled. A post touched again
        since it was read (a later ``touched_at``) stays touched for the next pass."""
        if touched:
            await conn.executemany(
                "UPDATE posts SET touched_at = NULL WHERE id = $1 AND touched_at <= $2",
                [(post_id, as_utc(at)) for post_id, at in touched],
            )

    async def count_withdrawn(self) -> int:
        return int(
            await self._db.value("SELECT count(*) FROM posts WHERE withdrawn_at IS NOT NULL")
        )
