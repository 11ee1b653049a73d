"""A post's life after publication in the posts table: withdrawn and restored, found by
WordPress's id, and touched when its sent messages must follow a change.

A mixin of ``PostRepository``, kept apart so each module stays about one thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from kcrush_bot.core.models import Post
from kcrush_bot.storage.db import Database, chunks, marks, to_db_time
from kcrush_bot.storage.post_rows import NEWEST_FIRST, POST_COLUMNS
from kcrush_bot.storage.rows import post_of, touched_of


class PostLife:
    """``PostRepository``'s withdrawals, returns and touches."""

    _db: Database

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
        stamp = self._db.now_db()
        was = "IS NULL" if withdrawn else "IS NOT NULL"
        changed: list[int] = []
        async with self._db.transaction() as conn:
            for chunk in chunks(ids):
                sql = f"SELECT id FROM posts WHERE id IN ({marks(chunk)}) AND withdrawn_at {was}"
                changed += [int(r["id"]) for r in await self._db.all(sql, chunk)]
            await conn.executemany(
                "UPDATE posts SET withdrawn_at = ?, updated_at = ?, "
                "touched_at = CASE WHEN enqueued_at IS NOT NULL "
                "THEN ? ELSE touched_at END WHERE id = ?",
                [(stamp if withdrawn else None, stamp, stamp, post_id) for post_id in changed],
            )
        return changed

    async def by_wordpress_ids(self, wp_ids: Sequence[int]) -> dict[int, Post]:
        """Stored posts by WordPress's id of them, withdrawn ones included."""
        found: dict[int, Post] = {}
        for chunk in chunks(sorted(set(wp_ids))):
            rows = await self._db.all(
                f"SELECT p.wp_id AS wp, {POST_COLUMNS} FROM posts p "
                f"WHERE p.wp_id IN ({marks(chunk)})",
                chunk,
            )
            for row in rows:
                found[int(row["wp"])] = post_of(row)
        return found

    async def public_since(self, since: datetime, limit: int = 1000) -> list[Post]:
        """Public posts WordPress knows by id, newest first, first seen or published after
        ``since``: what the reconcile asks WordPress about."""
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at IS NULL "
            "AND p.wp_id IS NOT NULL AND max(coalesce(p.published_at, ''), p.first_seen_at) >= ? "
            f"ORDER BY {NEWEST_FIRST} LIMIT ?",
            (to_db_time(since), limit),
        )
        return [post_of(r) for r in rows]

    async def public_without_wordpress_id(self, since: datetime, limit: int = 1000) -> list[Post]:
        """Public posts of the last while whose WordPress id is unknown (read from a feed whose
        guid is a permalink): the reconcile finds their ids by slug."""
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at IS NULL "
            "AND p.wp_id IS NULL AND max(coalesce(p.published_at, ''), p.first_seen_at) >= ? "
            f"ORDER BY {NEWEST_FIRST} LIMIT ?",
            (to_db_time(since), limit),
        )
        return [post_of(r) for r in rows]

    async def set_wordpress_ids(self, ids: dict[int, int]) -> None:
        """Record WordPress's ids of stored posts (post id → WordPress id)."""
        async with self._db.transaction() as conn:
            await conn.executemany(
                "UPDATE posts SET wp_id = ? WHERE id = ? AND wp_id IS NULL",
                [(wp_id, post_id) for post_id, wp_id in ids.items()],
            )

    async def withdrawn_since(self, since: datetime, limit: int = 1000) -> list[Post]:
        """Posts withdrawn after ``since`` that WordPress knows by id, newest first: what the
        reconcile asks about, in case they are public again."""
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at >= ? "
            f"AND p.wp_id IS NOT NULL ORDER BY {NEWEST_FIRST} LIMIT ?",
            (to_db_time(since), limit),
        )
        return [post_of(r) for r in rows]

    async def touched(self, limit: int = 200) -> list[tuple[Post, datetime, bool]]:
        """Posts whose messages must follow a change: (post, when last touched, withdrawn),
        oldest touch first."""
        rows = await self._db.all(
            f"SELECT p.touched_at AS touched, p.withdrawn_at AS withdrawn, {POST_COLUMNS} "
            "FROM posts p WHERE p.touched_at IS NOT NULL ORDER BY p.touched_at, p.id LIMIT ?",
            (limit,),
        )
        return [touched_of(r) for r in rows]

    async def untouch(
        self, conn: aiosqlite.Connection, touched: Sequence[tuple[int, datetime]]
    ) -> None:
        """Inside the caller's transaction: these touches are handled. A post touched again
        since it was read (a later ``touched_at``) stays touched for the next pass."""
        await conn.executemany(
            "UPDATE posts SET touched_at = NULL WHERE id = ? AND touched_at <= ?",
            [(post_id, to_db_time(at)) for post_id, at in touched],
        )

    async def count_withdrawn(self) -> int:
        row = await self._db.one("SELECT count(*) AS n FROM posts WHERE withdrawn_at IS NOT NULL")
        return int(row["n"]) if row else 0
