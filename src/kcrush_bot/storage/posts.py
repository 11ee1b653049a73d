"""The posts repository: the archive, its categories and tags, and full-text search.

SQLite specifics of this aggregate live here and only here: upserts by ``ON CONFLICT``,
recursive category trees, and FTS5 (``MATCH``, ``bm25``, ``snippet``) with the query builders
of ``storage/fts.py``. A second backend implements the same public methods
(``kcrush_bot.core.ports.PostRepo``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import aiosqlite

from kcrush_bot.core.models import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    SAMPLE_SOURCE,
    Category,
    CategoryCount,
    ChatRef,
    Post,
    SearchHit,
)
from kcrush_bot.core.ports import UpsertResult
from kcrush_bot.storage.db import Database, chunks, from_db_time, marks, to_db_time
from kcrush_bot.storage.fts import fts_match, fts_terms, title_gram_match
from kcrush_bot.storage.post_life import PostLife
from kcrush_bot.storage.post_rows import CATEGORY_TREE, NEWEST_FIRST, POST_COLUMNS
from kcrush_bot.storage.post_upsert import upsert_posts
from kcrush_bot.storage.rows import CATEGORIES, CATEGORY_COUNTS, category_of, post_of

log = logging.getLogger(__name__)

# The title counts ten times the teaser in ranking: a word in the title is what a fan means.
TITLE_WEIGHT = 10.0
TEASER_WEIGHT = 1.0
# A tag is a word the editors chose for the post: it counts more than the teaser.
TAGS_WEIGHT = 5.0
# Search ranks (bm25) among at most this many of a query's most recently stored matches: as
# many as a total counts (COUNT_CAP), so every page a total promises lies inside the ranking.
# Scoring costs time per match; 2,000 spent twice what 1,000 does on a common word.
RANK_WINDOW = 1000
# Totals are counted up to this many matches: a fan pages, nobody reads "of 73,412".
COUNT_CAP = 1000
# A short query's needle in fewer titles than this is looked up in the title pieces' index;
# in more, walking the newest titles finds a page sooner.
GRAM_CANDIDATES = 2000


class PostRepository(PostLife):
    """Posts, categories and search over the shared database (``PostLife``: withdrawals,
    returns and the touches that carry them to sent messages)."""

    def __init__(self, db: Database) -> None:
        self._sample_gone = False
        self._db = db

    # -- categories --------------------------------------------------------------------------

    async def sync_categories(self, categories: Iterable[Category]) -> None:
        """Make the configured taxonomy known (parents first, so the foreign key holds)."""
        ordered = sorted(categories, key=lambda c: c.parent is not None)
        async with self._db.transaction() as conn:
            for cat in ordered:
                await conn.execute(
                    "INSERT INTO categories (slug, name, parent, aliases) VALUES (?, ?, NULL, ?) "
                    "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, "
                    "aliases = excluded.aliases",
                    (cat.slug, cat.name, json.dumps(list(cat.aliases), ensure_ascii=False)),
                )
            for cat in ordered:
                if cat.parent:
                    await conn.execute(
                        "INSERT OR IGNORE INTO categories (slug, name) VALUES (?, ?)",
                        (cat.parent, cat.parent),
                    )
                    await conn.execute(
                        "UPDATE categories SET parent = ? WHERE slug = ?", (cat.parent, cat.slug)
                    )

    async def upsert_wordpress_categories(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """WordPress categories as (wp_id, slug, name, parent wp_id or 0), with their parents."""
        rows = list(rows)
        by_id = {wp_id: slug for wp_id, slug, _, _ in rows}
        async with self._db.transaction() as conn:
            for wp_id, slug, name, _ in rows:
                await conn.execute(
                    "INSERT INTO categories (slug, name, wp_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (slug) DO UPDATE SET wp_id = excluded.wp_id",
                    (slug, name, wp_id),
                )
            for _, slug, _, parent_id in rows:
                parent = by_id.get(parent_id)
                if parent is None and parent_id:
                    found = await self._db.one(
                        "SELECT slug FROM categories WHERE wp_id = ?", (parent_id,)
                    )
                    parent = found["slug"] if found else None
                if parent and parent != slug:
                    await conn.execute(
                        "UPDATE categories SET parent = ? WHERE slug = ?", (parent, slug)
                    )

    async def categories(self) -> list[Category]:
        return [category_of(r) for r in await self._db.all(CATEGORIES)]

    async def category_counts(self) -> list[CategoryCount]:
        """Every category with the number of posts in it or its descendants."""
        rows = await self._db.all(CATEGORY_COUNTS)
        return [CategoryCount(category_of(r), r["posts"]) for r in rows]

    async def descendants(self, slug: str) -> list[str]:
        """``slug`` and every category below it."""
        rows = await self._db.all(f"{CATEGORY_TREE} SELECT slug FROM tree", (slug,))
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
        """Store posts in one transaction (see ``storage.post_upsert``); a real source's first
        reading replaces the bundled sample."""

        async def replace_sample(conn: aiosqlite.Connection, seen: list[int]) -> None:
            await self._replace_sample(conn, source, seen)

        return await upsert_posts(
            self._db,
            list(posts),
            source=source,
            pushable=pushable,
            authoritative=authoritative,
            silent_before=silent_before,
            then=None if source == SAMPLE_SOURCE else replace_sample,
        )

    async def _replace_sample(
        self, conn: aiosqlite.Connection, source: str | None, seen: list[int]
    ) -> None:
        """A real source has been read: the sample leaves the archive.

        Sample posts the real source also delivered are its posts now and stay; the rest go
        (their categories, tags and search rows with them).
        """
        if self._sample_gone:
            return
        for chunk in chunks(seen):
            await conn.execute(
                f"UPDATE posts SET source = ? WHERE source = ? AND id IN ({marks(chunk)})",
                [source, SAMPLE_SOURCE, *chunk],
            )
        cursor = await conn.execute("DELETE FROM posts WHERE source = ?", (SAMPLE_SOURCE,))
        if cursor.rowcount:
            log.info("a real source was read: %d sample posts left the archive", cursor.rowcount)
        self._sample_gone = True

    async def by_url(self, url: str) -> Post | None:
        row = await self._db.one(f"SELECT {POST_COLUMNS} FROM posts p WHERE p.url = ?", (url,))
        return post_of(row) if row else None

    async def by_ids(self, ids: Sequence[int]) -> list[Post]:
        if not ids:
            return []
        rows = await self._db.all(
            f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id IN ({marks(ids)}) "
            "ORDER BY coalesce(p.published_at, p.first_seen_at), p.id",
            list(ids),
        )
        return [post_of(r) for r in rows]

    async def tags(self, post_id: int) -> list[str]:
        rows = await self._db.all(
            "SELECT tag FROM post_tags WHERE post_id = ? ORDER BY tag", (post_id,)
        )
        return [r["tag"] for r in rows]

    async def latest(self, limit: int = 5, category: str | None = None) -> list[Post]:
        """Newest posts first, optionally in a category or any of its children."""
        if category is None:
            rows = await self._db.all(
                f"SELECT {POST_COLUMNS} FROM posts p WHERE p.withdrawn_at IS NULL "
                f"ORDER BY {NEWEST_FIRST} LIMIT ?",
                (limit,),
            )
        else:
            rows = await self._db.all(
                f"""
                {CATEGORY_TREE}
                SELECT {POST_COLUMNS} FROM posts p
                 WHERE p.id IN (SELECT post_id FROM post_categories
                                 WHERE slug IN (SELECT slug FROM tree))
                   AND p.withdrawn_at IS NULL
                 ORDER BY {NEWEST_FIRST} LIMIT ?
                """,
                (category, limit),
            )
        return [post_of(r) for r in rows]

    async def count(self) -> int:
        row = await self._db.one("SELECT count(*) AS n FROM posts WHERE withdrawn_at IS NULL")
        return int(row["n"]) if row else 0

    async def newest_at(self) -> datetime | None:
        """When the newest post was published (or first seen): the archive's freshness."""
        row = await self._db.one(
            "SELECT max(coalesce(published_at, first_seen_at)) AS newest FROM posts "
            "WHERE withdrawn_at IS NULL"
        )
        return from_db_time(row["newest"]) if row else None

    async def count_categories(self) -> int:
        row = await self._db.one("SELECT count(*) AS n FROM categories")
        return int(row["n"]) if row else 0

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
                SELECT category FROM subscriptions WHERE chat_key = ? AND active = 1
                UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug
            )
            SELECT {POST_COLUMNS} FROM posts p
             WHERE p.id IN (SELECT post_id FROM post_categories WHERE slug IN (SELECT slug FROM tree))
               AND p.first_seen_at > ? AND p.pushable >= ? AND p.withdrawn_at IS NULL
             ORDER BY coalesce(p.published_at, p.first_seen_at), p.id LIMIT ?
            """,
            (chat.key, to_db_time(since) or "", int(pushable_only), limit),
        )
        return [post_of(r) for r in rows]

    # -- search ------------------------------------------------------------------------------

    async def search(
        self, query: str, *, limit: int = 10, offset: int = 0
    ) -> tuple[list[SearchHit], int]:
        """Ranked results and how many there are (counted up to 1,000).

        Tries, in order, until one finds something: every word whole; every word as a prefix
        (a word still being typed); any of the words. A query under three characters that FTS
        cannot find falls back to a substring match on titles.
        """
        terms = fts_terms(query)
        if not terms:
            return [], 0
        short = sum(len(t) for t in terms) < 3
        attempts = [fts_match(terms)]
        if not short:  # a one- or two-letter prefix matches half the vocabulary
            attempts.append(fts_match(terms, prefix=True))
        if len(terms) > 1:
            attempts.append(fts_match(terms, any_term=True))
        hits: list[SearchHit] = []
        total = 0
        for match in dict.fromkeys(attempts):  # drop repeats, keep order
            hits, total = await self._fts_search(match, limit, offset)
            if total:
                break
        if total == 0 and short:
            hits, total = await self._title_substring_search(" ".join(terms), limit, offset)
        return hits, total

    async def _fts_search(self, match: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
        # One statement, one trip to the reader's thread: a search used to be four statements
        # and a dozen thread wake-ups, and on a loaded machine each wake-up may wait its turn.
        #
        # Rank first on rowid and bm25 alone, then build snippets and join posts for the page
        # only: computing snippets for every match before sorting made common words slow.
        # bm25 costs time for every matching row, and a word like "interview" matches most of
        # the archive. Ranking is therefore bounded to the RANK_WINDOW most recently stored
        # matches: finding where that window starts (the subquery) walks the index in rowid
        # order, which needs no scoring. The count stops at 1,000; it is read only when the
        # page is full.
        rows = await self._db.rows(
            f"""
            WITH ranked AS (
                SELECT rowid, bm25(posts_fts, :title, :teaser, :tags) AS score FROM posts_fts
                 WHERE posts_fts MATCH :match
                   AND rowid >= coalesce((SELECT rowid FROM posts_fts WHERE posts_fts MATCH :match
                                           ORDER BY rowid DESC LIMIT 1 OFFSET :window), 0)
                 ORDER BY score, rowid DESC LIMIT :limit OFFSET :offset
            )
            SELECT {POST_COLUMNS},
                   snippet(posts_fts, -1, :start, :end, '…', 16) AS snip,
                   ranked.score AS score,
                   (SELECT count(*) FROM (SELECT 1 FROM posts_fts WHERE posts_fts MATCH :match
                                           LIMIT :cap)) AS total
              FROM ranked  -- CROSS JOIN keeps this order: look up the page's rows only
              CROSS JOIN posts_fts ON posts_fts.rowid = ranked.rowid
              CROSS JOIN posts p ON p.id = ranked.rowid
             WHERE posts_fts MATCH :match
             ORDER BY ranked.score, p.id DESC
            """,
            {
                "title": TITLE_WEIGHT,
                "teaser": TEASER_WEIGHT,
                "tags": TAGS_WEIGHT,
                "match": match,
                "window": RANK_WINDOW - 1,
                "limit": limit,
                "offset": offset,
                "start": HIGHLIGHT_START,
                "end": HIGHLIGHT_END,
                "cap": COUNT_CAP,
            },
        )
        hits = [SearchHit(post_of(r), r["snip"] or "", -float(r["score"])) for r in rows]
        if offset == 0 and len(hits) < limit:
            return hits, len(hits)
        if rows:
            return hits, int(rows[0]["total"])
        count = await self._db.one(  # a page past the last: how far the matches go
            "SELECT count(*) AS n FROM (SELECT 1 FROM posts_fts WHERE posts_fts MATCH ? LIMIT ?)",
            (match, COUNT_CAP),
        )
        return hits, int(count["n"]) if count else 0

    async def _title_substring_search(
        self, needle: str, limit: int, offset: int
    ) -> tuple[list[SearchHit], int]:
        """Titles containing ``needle``, newest first. Counting every match would scan the
        whole table, so the total is only known to reach the next page: one row more than
        the page is read, and its presence says whether a next page exists.

        A needle in many titles is found at once by walking the newest titles; one in few
        would walk them all (70 ms at 100,000 posts). The index of titles' two-character
        pieces (migration 007) tells which: under GRAM_CANDIDATES candidates, only those are
        read and sorted.
        """
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        grams = title_gram_match(needle)
        few = False
        if grams is not None:
            found = await self._db.rows(
                "SELECT count(*) AS n FROM (SELECT 1 FROM posts_title_grams "
                "WHERE posts_title_grams MATCH ? LIMIT ?)",
                (grams, GRAM_CANDIDATES),
            )
            few = found[0]["n"] < GRAM_CANDIDATES
        if few:
            rows = await self._db.rows(
                f"SELECT {POST_COLUMNS} FROM "
                "(SELECT rowid FROM posts_title_grams WHERE posts_title_grams MATCH ?) AS g "
                "CROSS JOIN posts p ON p.id = g.rowid "  # the candidates only, then sorted
                "WHERE p.title LIKE ? ESCAPE '\\' AND p.withdrawn_at IS NULL "
                f"ORDER BY {NEWEST_FIRST} LIMIT ? OFFSET ?",
                (grams, pattern, limit + 1, offset),
            )
        else:
            rows = await self._db.rows(
                f"SELECT {POST_COLUMNS} FROM posts p WHERE p.title LIKE ? ESCAPE '\\' "
                "AND p.withdrawn_at IS NULL "
                f"ORDER BY {NEWEST_FIRST} LIMIT ? OFFSET ?",
                (pattern, limit + 1, offset),
            )
        hits = [SearchHit(post_of(r), r["teaser"][:160], 0.0) for r in rows[:limit]]
        return hits, offset + len(rows)
