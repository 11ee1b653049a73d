"""The store: one aiosqlite writer connection over a WAL database.

Posts, categories, sources' poll state, chats, subscriptions, digests, announcements and the
audit log. The outbox lives beside it (``storage/outbox.py``) on the same connection. All SQL
is parameterised; identifiers are never pasted in.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from kcrush_bot.core.models import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Announcement,
    ArchiveStats,
    Category,
    CategoryCount,
    ChatKind,
    ChatRef,
    DigestSchedule,
    Mode,
    Post,
    SearchHit,
    SourceHealth,
    Subscription,
)
from kcrush_bot.storage import migrate

# The title counts ten times the teaser in ranking: a word in the title is what a fan means.
TITLE_WEIGHT = 10.0
TEASER_WEIGHT = 1.0
MAX_QUERY_TERMS = 12
# Search ranks (bm25) among at most this many of a query's most recently stored matches.
RANK_WINDOW = 2000
BEGIN_ATTEMPTS = 20
MAX_QUERY_CHARS = 256
_TERM = re.compile(r"\w+", re.UNICODE)


def now_utc() -> datetime:
    return datetime.now(UTC)


def to_db_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def from_db_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def fts_terms(query: str) -> list[str]:
    """The words of a user's query, with every FTS5 operator and quote character dropped.

    Only runs of letters and digits survive, so ``"foo``, ``AND OR``, ``NEAR(``, ``-x``, ``*``
    and NUL cannot reach the FTS5 parser as syntax.
    """
    return _TERM.findall(query[:MAX_QUERY_CHARS])[:MAX_QUERY_TERMS]


_AGGLUTINATIVE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u4e00-\u9fff\uac00-\ud7af]")


def fts_match(terms: Sequence[str], *, prefix: bool = False, any_term: bool = False) -> str:
    """An FTS5 MATCH expression in which every term is a quoted string.

    Hangul (and other CJK) terms are always prefix-matched, so a word matches with particles
    attached (서울 finds 서울의). Other terms match whole (stemmed) words unless ``prefix``:
    a long prefix query has to merge every matching term's full list, which is slow for
    common words, so it is the fallback, not the first try.
    """
    parts = []
    for term in terms:
        wide = prefix or bool(_AGGLUTINATIVE.search(term))
        parts.append(f'"{term}"*' if wide and len(term) >= 2 else f'"{term}"')
    return (" OR " if any_term else " ").join(parts)


@dataclass(slots=True)
class UpsertResult:
    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


_POST_COLUMNS = (
    "p.id, p.url, p.guid, p.title, p.teaser, p.image_url, p.published_at, p.modified_at, "
    "(SELECT group_concat(slug, ' ') FROM post_categories pc WHERE pc.post_id = p.id) AS cats"
)


def _poll_outcome(
    name: str,
    ok: bool,
    etag: str | None,
    last_modified: str | None,
    error: str | None,
    stamp: str | None,
    next_poll_at: str | None,
) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE that records a poll: fresh validators on success, a failure count otherwise."""
    if ok:
        return (
            "UPDATE sources SET etag = ?, last_modified = ?, "
            "first_seen_at = coalesce(first_seen_at, ?), last_polled_at = ?, "
            "last_ok_at = ?, last_error = NULL, failures = 0, next_poll_at = ? WHERE name = ?",
            (etag, last_modified, stamp, stamp, stamp, next_poll_at, name),
        )
    return (
        "UPDATE sources SET last_polled_at = ?, last_error = ?, failures = failures + 1, "
        "next_poll_at = ? WHERE name = ?",
        (stamp, (error or "failed")[:500], next_poll_at, name),
    )


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Slices small enough for SQLite's limit on host parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _aliases(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def _post_from_row(row: Sequence[Any]) -> Post:
    return Post(
        id=row[0],
        url=row[1],
        guid=row[2],
        title=row[3],
        teaser=row[4],
        image_url=row[5],
        published_at=from_db_time(row[6]),
        modified_at=from_db_time(row[7]),
        categories=tuple(sorted(row[8].split())) if row[8] else (),
    )


class Store:
    """The bot's SQLite database. Use ``async with Store.open(path) as store``."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        # One connection is shared by every task, and SQLite has one transaction per
        # connection: transactions take turns, or one task's statements land in another's.
        self.write_lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def open(cls, path: str | Path, *, upgrade: bool = True) -> AsyncIterator[Store]:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA busy_timeout = 5000")
            if upgrade:
                await migrate.upgrade(db)
            yield cls(db, path)
        finally:
            await db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error: nothing is stored half-way."""
        async with self.write_lock:
            await self._begin()
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            else:
                await self.db.execute("COMMIT")

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE, retried briefly when SQLite answers "database is locked" at once.

        Another connection (ingest has its own) may have written since a read still open on
        this shared connection began; SQLite then refuses the write lock without waiting for
        busy_timeout (SQLITE_BUSY_SNAPSHOT). The read finishes within milliseconds.
        """
        for attempt in range(BEGIN_ATTEMPTS):
            try:
                await self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == BEGIN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self.db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self.db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def schema_version(self) -> int:
        return await migrate.current_version(self.db)

    # -- categories --------------------------------------------------------------------------

    async def sync_categories(self, categories: Iterable[Category]) -> None:
        """Make the configured taxonomy known (parents first, so the foreign key holds)."""
        ordered = sorted(categories, key=lambda c: c.parent is not None)
        async with self.transaction() as db:
            for cat in ordered:
                await db.execute(
                    "INSERT INTO categories (slug, name, parent, aliases) VALUES (?, ?, NULL, ?) "
                    "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, "
                    "aliases = excluded.aliases",
                    (cat.slug, cat.name, json.dumps(list(cat.aliases), ensure_ascii=False)),
                )
            for cat in ordered:
                if cat.parent:
                    await db.execute(
                        "INSERT OR IGNORE INTO categories (slug, name) VALUES (?, ?)",
                        (cat.parent, cat.parent),
                    )
                    await db.execute(
                        "UPDATE categories SET parent = ? WHERE slug = ?", (cat.parent, cat.slug)
                    )

    async def upsert_wordpress_categories(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """WordPress categories as (wp_id, slug, name, parent wp_id or 0), with their parents."""
        rows = list(rows)
        by_id = {wp_id: slug for wp_id, slug, _, _ in rows}
        async with self.transaction() as db:
            for wp_id, slug, name, _ in rows:
                await db.execute(
                    "INSERT INTO categories (slug, name, wp_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (slug) DO UPDATE SET wp_id = excluded.wp_id",
                    (slug, name, wp_id),
                )
            for _, slug, _, parent_id in rows:
                parent = by_id.get(parent_id)
                if parent is None and parent_id:
                    found = await self._one(
                        "SELECT slug FROM categories WHERE wp_id = ?", (parent_id,)
                    )
                    parent = found[0] if found else None
                if parent and parent != slug:
                    await db.execute(
                        "UPDATE categories SET parent = ? WHERE slug = ?", (parent, slug)
                    )

    async def categories(self) -> list[Category]:
        rows = await self._all("SELECT slug, name, parent, aliases FROM categories ORDER BY slug")
        return [Category(r[0], r[1], r[2], _aliases(r[3])) for r in rows]

    async def category_counts(self) -> list[CategoryCount]:
        """Every category with the number of posts in it or its descendants."""
        rows = await self._all(
            """
            WITH RECURSIVE tree(root, slug) AS (
                SELECT slug, slug FROM categories
                UNION ALL
                SELECT tree.root, c.slug FROM categories c JOIN tree ON c.parent = tree.slug
            )
            SELECT c.slug, c.name, c.parent, c.aliases,
                   (SELECT count(DISTINCT pc.post_id) FROM tree
                      JOIN post_categories pc ON pc.slug = tree.slug
                     WHERE tree.root = c.slug)
              FROM categories c ORDER BY c.slug
            """
        )
        return [CategoryCount(Category(r[0], r[1], r[2], _aliases(r[3])), r[4]) for r in rows]

    async def descendants(self, slug: str) -> list[str]:
        """``slug`` and every category below it."""
        rows = await self._all(
            """
            WITH RECURSIVE tree(slug) AS (
                SELECT ? UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug
            ) SELECT slug FROM tree
            """,
            (slug,),
        )
        return [r[0] for r in rows]

    # -- posts -------------------------------------------------------------------------------

    async def upsert_posts(
        self, posts: Iterable[Post], *, source: str | None, pushable: bool
    ) -> UpsertResult:
        """Store posts in one transaction: new ones inserted, edited ones updated.

        A post is the same post when its canonical URL or its guid matches. ``pushable`` is
        False for a silent archive (a source's first sight, a backfill, the sample): the
        publisher never pushes those. Lookups and writes go in batches (``executemany``), since
        each call crosses to aiosqlite's thread and per-statement round trips dominated.
        """
        result = UpsertResult()
        posts = list(posts)
        if not posts:
            return result
        stamp = to_db_time(now_utc())
        async with self.transaction() as db:
            by_url: dict[str, tuple[Any, ...]] = {}
            by_guid: dict[str, tuple[Any, ...]] = {}
            urls = list({p.url for p in posts})
            guids = list({p.guid for p in posts if p.guid})
            columns = "id, url, guid, title, teaser, image_url, published_at"
            for chunk in _chunks(urls):
                marks = ",".join("?" * len(chunk))
                for row in await self._all(
                    f"SELECT {columns} FROM posts WHERE url IN ({marks})", chunk
                ):
                    by_url[row[1]] = row
            for chunk in _chunks(guids):
                marks = ",".join("?" * len(chunk))
                for row in await self._all(
                    f"SELECT {columns} FROM posts WHERE guid IN ({marks})", chunk
                ):
                    by_guid[row[2]] = row

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
                known[post.url] = row[0]
                current = (row[3], row[4], row[5], row[6])
                incoming = (
                    post.title,
                    post.teaser or row[4],
                    post.image_url or row[5],
                    to_db_time(post.published_at) or row[6],
                )
                # Fill a missing guid, unless another post already holds it (UNIQUE).
                guid = (
                    post.guid if post.guid and row[2] is None and post.guid not in by_guid else None
                )
                if incoming != current or guid:
                    updates.append((*incoming, to_db_time(post.modified_at), guid, stamp, row[0]))
                    if incoming != current:
                        result.updated.append(row[0])
                    else:
                        result.unchanged += 1
                else:
                    result.unchanged += 1

            if updates:
                await db.executemany(
                    "UPDATE posts SET title = ?, teaser = ?, image_url = ?, published_at = ?, "
                    "modified_at = coalesce(?, modified_at), guid = coalesce(guid, ?), "
                    "updated_at = ? WHERE id = ?",
                    updates,
                )
            if inserts:
                await db.executemany(
                    "INSERT INTO posts (url, guid, title, teaser, image_url, published_at, "
                    "modified_at, source, first_seen_at, updated_at, pushable) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            p.url,
                            p.guid if p.guid not in by_guid else None,
                            p.title,
                            p.teaser,
                            p.image_url,
                            to_db_time(p.published_at),
                            to_db_time(p.modified_at),
                            source,
                            stamp,
                            stamp,
                            int(pushable),
                        )
                        for p in inserts
                    ],
                )
                for chunk in _chunks([p.url for p in inserts]):
                    marks = ",".join("?" * len(chunk))
                    for post_id, url in await self._all(
                        f"SELECT id, url FROM posts WHERE url IN ({marks})", chunk
                    ):
                        known[url] = post_id
                # Report new ids in document order.
                result.new.extend(int(known[p.url] or 0) for p in inserts)

            links = [(known[p.url], slug) for p in posts for slug in p.categories]
            if links:
                await db.executemany(
                    "INSERT OR IGNORE INTO categories (slug, name) VALUES (?, ?)",
                    [(slug, slug.replace("-", " ").title()) for slug in {s for _, s in links}],
                )
                await db.executemany(
                    "INSERT OR IGNORE INTO post_categories (post_id, slug) VALUES (?, ?)", links
                )
            tags = [(known[p.url], tag) for p in posts for tag in p.tags]
            if tags:
                await db.executemany(
                    "INSERT OR IGNORE INTO post_tags (post_id, tag) VALUES (?, ?)", tags
                )
        return result

    async def post_by_url(self, url: str) -> Post | None:
        row = await self._one(f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.url = ?", (url,))
        return _post_from_row(row) if row else None

    async def posts_by_ids(self, ids: Sequence[int]) -> list[Post]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.id IN ({marks}) "
            "ORDER BY coalesce(p.published_at, p.first_seen_at), p.id",
            list(ids),
        )
        return [_post_from_row(r) for r in rows]

    async def post_tags(self, post_id: int) -> list[str]:
        rows = await self._all(
            "SELECT tag FROM post_tags WHERE post_id = ? ORDER BY tag", (post_id,)
        )
        return [r[0] for r in rows]

    async def latest(self, limit: int = 5, category: str | None = None) -> list[Post]:
        """Newest posts first, optionally in a category or any of its children."""
        if category is None:
            rows = await self._all(
                f"SELECT {_POST_COLUMNS} FROM posts p "
                "ORDER BY coalesce(p.published_at, p.first_seen_at) DESC, p.id DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = await self._all(
                f"""
                WITH RECURSIVE tree(slug) AS (
                    SELECT ? UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug
                )
                SELECT {_POST_COLUMNS} FROM posts p
                 WHERE p.id IN (SELECT post_id FROM post_categories
                                 WHERE slug IN (SELECT slug FROM tree))
                 ORDER BY coalesce(p.published_at, p.first_seen_at) DESC, p.id DESC LIMIT ?
                """,
                (category, limit),
            )
        return [_post_from_row(r) for r in rows]

    async def count_posts(self) -> int:
        row = await self._one("SELECT count(*) FROM posts")
        return int(row[0])

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
        hits, total = [], 0
        for match in dict.fromkeys(attempts):  # drop repeats, keep order
            hits, total = await self._fts_search(match, limit, offset)
            if total:
                break
        if total == 0 and short:
            hits, total = await self._title_substring_search(" ".join(terms), limit, offset)
        return hits, total

    async def _fts_search(self, match: str, limit: int, offset: int) -> tuple[list[SearchHit], int]:
        # Rank first on rowid and bm25 alone, then build snippets and join posts for the page
        # only: computing snippets for every match before sorting made common words slow.
        #
        # bm25 costs time for every matching row, and a word like "interview" matches most of
        # the archive. Ranking is therefore bounded to the RANK_WINDOW most recently stored matches: finding
        # where that window starts walks the index in rowid order, which needs no scoring.
        floor = await self._one(
            "SELECT rowid FROM posts_fts WHERE posts_fts MATCH ? ORDER BY rowid DESC "
            "LIMIT 1 OFFSET ?",
            (match, RANK_WINDOW - 1),
        )
        rows = await self._all(
            f"""
            WITH ranked AS (
                SELECT rowid, bm25(posts_fts, ?, ?) AS score FROM posts_fts
                 WHERE posts_fts MATCH ? AND rowid >= ?
                 ORDER BY score, rowid DESC LIMIT ? OFFSET ?
            )
            SELECT {_POST_COLUMNS},
                   snippet(posts_fts, -1, ?, ?, '…', 16) AS snip,
                   ranked.score
              FROM ranked  -- CROSS JOIN keeps this order: look up the page's rows only
              CROSS JOIN posts_fts ON posts_fts.rowid = ranked.rowid
              CROSS JOIN posts p ON p.id = ranked.rowid
             WHERE posts_fts MATCH ?
             ORDER BY ranked.score, p.id DESC
            """,
            (
                TITLE_WEIGHT,
                TEASER_WEIGHT,
                match,
                floor[0] if floor else 0,
                limit,
                offset,
                HIGHLIGHT_START,
                HIGHLIGHT_END,
                match,
            ),
        )
        hits = [SearchHit(_post_from_row(r), r[9] or "", -float(r[10])) for r in rows]
        if offset == 0 and len(hits) < limit:
            return hits, len(hits)
        count = await self._one(
            "SELECT count(*) FROM (SELECT 1 FROM posts_fts WHERE posts_fts MATCH ? LIMIT 1000)",
            (match,),
        )
        return hits, int(count[0])

    async def _title_substring_search(
        self, needle: str, limit: int, offset: int
    ) -> tuple[list[SearchHit], int]:
        """Titles containing ``needle``, newest first. Counting every match would scan the
        whole table, so the total is only known to reach the next page: one row more than
        the page is read, and its presence says whether a next page exists."""
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self._all(
            f"SELECT {_POST_COLUMNS} FROM posts p WHERE p.title LIKE ? ESCAPE '\\' "
            "ORDER BY coalesce(p.published_at, p.first_seen_at) DESC, p.id DESC LIMIT ? OFFSET ?",
            (pattern, limit + 1, offset),
        )
        hits = [SearchHit(_post_from_row(r), r[4][:160], 0.0) for r in rows[:limit]]
        return hits, offset + len(rows)

    # -- sources' poll state -----------------------------------------------------------------

    async def source_state(self, name: str) -> dict[str, Any] | None:
        row = await self._one(
            "SELECT name, kind, url, etag, last_modified, first_seen_at, last_polled_at, "
            "last_ok_at, last_error, failures, next_poll_at FROM sources WHERE name = ?",
            (name,),
        )
        if row is None:
            return None
        keys = [
            "name",
            "kind",
            "url",
            "etag",
            "last_modified",
            "first_seen_at",
            "last_polled_at",
            "last_ok_at",
            "last_error",
            "failures",
            "next_poll_at",
        ]
        return dict(zip(keys, row, strict=True))

    async def record_poll(
        self,
        name: str,
        kind: str,
        url: str,
        *,
        ok: bool,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        next_poll_at: datetime | None = None,
    ) -> None:
        """Remember a poll's outcome: validators for the next conditional GET, or the failure."""
        stamp = to_db_time(now_utc())
        nxt = to_db_time(next_poll_at)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO sources (name, kind, url) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url",
                (name, kind, url),
            )
            await db.execute(*_poll_outcome(name, ok, etag, last_modified, error, stamp, nxt))

    async def source_health(self) -> list[SourceHealth]:
        rows = await self._all(
            "SELECT name, kind, url, first_seen_at, last_polled_at, last_ok_at, last_error, "
            "failures, next_poll_at FROM sources ORDER BY name"
        )
        health = []
        for r in rows:
            state = "failing" if r[7] else ("ok" if r[5] else "new")
            health.append(
                SourceHealth(
                    name=r[0],
                    kind=r[1],
                    url=r[2],
                    state=state,
                    last_polled_at=from_db_time(r[4]),
                    last_ok_at=from_db_time(r[5]),
                    last_error=r[6],
                    failures=r[7],
                    next_poll_at=from_db_time(r[8]),
                )
            )
        return health

    # -- chats and subscriptions -------------------------------------------------------------

    async def ensure_chat(
        self, chat: ChatRef, *, title: str | None = None, kind: ChatKind | None = None
    ) -> None:
        async with self.transaction():
            await self._ensure_chat(chat, title=title, kind=kind)

    async def _ensure_chat(
        self, chat: ChatRef, *, title: str | None = None, kind: ChatKind | None = None
    ) -> None:
        """Inside a transaction: the chat row exists (title and kind refreshed when known)."""
        stamp = to_db_time(now_utc())
        await self.db.execute(
            "INSERT INTO chats (key, platform, chat_id, thread_id, title, kind, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET title = coalesce(excluded.title, title), "
            "kind = coalesce(excluded.kind, kind), updated_at = excluded.updated_at",
            (
                chat.key,
                chat.platform,
                chat.chat_id,
                chat.thread_id,
                title,
                kind.value if kind else None,
                stamp,
                stamp,
            ),
        )

    async def subscribe(
        self,
        chat: ChatRef,
        categories: Sequence[str],
        mode: Mode,
        *,
        keywords: Sequence[str] = (),
        title: str | None = None,
        kind: ChatKind | None = None,
    ) -> None:
        """Subscribe (or re-activate, or change the mode of) a chat to each category."""
        stamp = to_db_time(now_utc())
        async with self.transaction() as db:
            await self._ensure_chat(chat, title=title, kind=kind)
            await db.execute(
                "UPDATE chats SET active = 1, inactive_reason = NULL WHERE key = ?", (chat.key,)
            )
            for slug in categories:
                await db.execute(
                    "INSERT INTO subscriptions (chat_key, category, mode, keywords, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (chat_key, category) DO UPDATE SET mode = excluded.mode, "
                    "keywords = excluded.keywords, active = 1, inactive_reason = NULL, "
                    "updated_at = excluded.updated_at",
                    (chat.key, slug, mode.value, " ".join(keywords), stamp, stamp),
                )

    async def unsubscribe(self, chat: ChatRef, categories: Sequence[str] | None) -> int:
        """Remove the chat's subscriptions to ``categories`` (all when None); returns how many."""
        async with self.transaction() as db:
            if categories is None:
                cursor = await db.execute(
                    "DELETE FROM subscriptions WHERE chat_key = ?", (chat.key,)
                )
            else:
                marks = ",".join("?" * len(categories))
                cursor = await db.execute(
                    f"DELETE FROM subscriptions WHERE chat_key = ? AND category IN ({marks})",
                    (chat.key, *categories),
                )
            return int(cursor.rowcount or 0)

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]:
        sql = (
            "SELECT c.platform, c.chat_id, c.thread_id, s.category, s.mode, s.keywords, "
            "s.active, s.inactive_reason FROM subscriptions s JOIN chats c ON c.key = s.chat_key"
        )
        params: tuple[Any, ...] = ()
        if chat is not None:
            sql += " WHERE s.chat_key = ?"
            params = (chat.key,)
        rows = await self._all(sql + " ORDER BY c.key, s.category", params)
        return [
            Subscription(
                chat=ChatRef(r[0], r[1], r[2]),
                category=r[3],
                mode=Mode(r[4]),
                keywords=tuple(r[5].split()),
                active=bool(r[6]),
                inactive_reason=r[7],
            )
            for r in rows
        ]

    async def deactivate_chat(self, chat: ChatRef, reason: str) -> None:
        """The platform said this chat cannot be reached: stop sending, keep the reason."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE chats SET active = 0, inactive_reason = ? WHERE key = ?",
                (reason[:300], chat.key),
            )
            await db.execute(
                "UPDATE subscriptions SET active = 0, inactive_reason = ? WHERE chat_key = ?",
                (reason[:300], chat.key),
            )

    async def inactive_chats(self) -> list[tuple[ChatRef, str]]:
        """Chats the platforms said cannot be reached, with the reason recorded."""
        rows = await self._all(
            "SELECT platform, chat_id, thread_id, coalesce(inactive_reason, '') FROM chats "
            "WHERE active = 0 ORDER BY key"
        )
        return [(ChatRef(r[0], r[1], r[2]), r[3]) for r in rows]

    async def move_chat(self, old: ChatRef, new: ChatRef) -> None:
        """Telegram moved a group to a supergroup: everything of the old id follows it."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE chats SET key = ?, chat_id = ?, updated_at = ? WHERE key = ?",
                (new.key, new.chat_id, to_db_time(now_utc()), old.key),
            )

    # -- digests -----------------------------------------------------------------------------

    async def set_digest(self, schedule: DigestSchedule) -> None:
        stamp = to_db_time(now_utc())
        async with self.transaction() as db:
            await self._ensure_chat(schedule.chat)
            await db.execute(
                "INSERT INTO digests (chat_key, frequency, time, timezone, weekday, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_key) DO UPDATE SET "
                "frequency = excluded.frequency, time = excluded.time, "
                "timezone = excluded.timezone, weekday = excluded.weekday, "
                "updated_at = excluded.updated_at",
                (
                    schedule.chat.key,
                    schedule.frequency.value,
                    schedule.time,
                    schedule.timezone,
                    schedule.weekday,
                    stamp,
                    stamp,
                ),
            )

    async def clear_digest(self, chat: ChatRef) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute("DELETE FROM digests WHERE chat_key = ?", (chat.key,))
            return bool(cursor.rowcount)

    async def digests(self, chat: ChatRef | None = None) -> list[DigestSchedule]:
        sql = (
            "SELECT c.platform, c.chat_id, c.thread_id, d.frequency, d.time, d.timezone, "
            "d.weekday, d.last_sent_at FROM digests d JOIN chats c ON c.key = d.chat_key"
        )
        params: tuple[Any, ...] = ()
        if chat is not None:
            sql += " WHERE d.chat_key = ?"
            params = (chat.key,)
        rows = await self._all(sql + " ORDER BY c.key", params)
        return [
            DigestSchedule(
                chat=ChatRef(r[0], r[1], r[2]),
                frequency=Mode(r[3]),
                time=r[4],
                timezone=r[5],
                weekday=r[6],
                last_sent_at=from_db_time(r[7]),
            )
            for r in rows
        ]

    async def mark_digest_sent(self, chat: ChatRef, at: datetime) -> None:
        """One statement, no transaction of its own: the publisher calls it inside the
        transaction that enqueues the digest, so both commit together or neither does."""
        await self.db.execute(
            "UPDATE digests SET last_sent_at = ? WHERE chat_key = ?", (to_db_time(at), chat.key)
        )

    async def posts_for_chat_since(
        self,
        chat: ChatRef,
        since: datetime | None,
        *,
        limit: int = 200,
        pushable_only: bool = False,
    ) -> list[Post]:
        """Posts first seen after ``since`` in any category the chat subscribes to (with children),
        oldest first. What a digest lists."""
        rows = await self._all(
            f"""
            WITH RECURSIVE tree(slug) AS (
                SELECT category FROM subscriptions WHERE chat_key = ? AND active = 1
                UNION SELECT c.slug FROM categories c JOIN tree ON c.parent = tree.slug
            )
            SELECT {_POST_COLUMNS} FROM posts p
             WHERE p.id IN (SELECT post_id FROM post_categories WHERE slug IN (SELECT slug FROM tree))
               AND p.first_seen_at > ? AND p.pushable >= ?
             ORDER BY coalesce(p.published_at, p.first_seen_at), p.id LIMIT ?
            """,
            (chat.key, to_db_time(since) or "", int(pushable_only), limit),
        )
        return [_post_from_row(r) for r in rows]

    # -- announcements and the audit log -----------------------------------------------------

    async def create_announcement(
        self,
        text: str,
        category: str | None,
        author: str,
        *,
        scheduled_for: datetime | None = None,
    ) -> int:
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO announcements (text, category, author, created_at, scheduled_for) "
                "VALUES (?, ?, ?, ?, ?)",
                (text, category, author, to_db_time(now_utc()), to_db_time(scheduled_for)),
            )
            return int(cursor.lastrowid or 0)

    async def announcement(self, announcement_id: int) -> Announcement | None:
        row = await self._one(
            "SELECT id, text, category, author, status, created_at, confirmed_at, scheduled_for "
            "FROM announcements WHERE id = ?",
            (announcement_id,),
        )
        if row is None:
            return None
        return Announcement(
            id=row[0],
            text=row[1],
            category=row[2],
            author=row[3],
            status=row[4],
            created_at=from_db_time(row[5]) or now_utc(),
            confirmed_at=from_db_time(row[6]),
            scheduled_for=from_db_time(row[7]),
        )

    async def set_announcement_status(
        self, announcement_id: int, status: str, *, expect: str = "draft"
    ) -> bool:
        """Move a draft to confirmed or cancelled; False if it was not in ``expect`` (a double
        press of the confirm button does nothing the second time)."""
        confirmed = to_db_time(now_utc()) if status == "confirmed" else None
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE announcements SET status = ?, confirmed_at = coalesce(?, confirmed_at) "
                "WHERE id = ? AND status = ?",
                (status, confirmed, announcement_id, expect),
            )
            return bool(cursor.rowcount)

    async def audit(
        self, actor: str, action: str, *, chat: ChatRef | None = None, detail: Any = ""
    ) -> None:
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO audit_log (at, actor, action, chat_key, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (to_db_time(now_utc()), actor, action, chat.key if chat else None, text[:2000]),
            )

    async def audit_log(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._all(
            "SELECT at, actor, action, chat_key, detail FROM audit_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            dict(zip(("at", "actor", "action", "chat", "detail"), r, strict=True)) for r in rows
        ]

    # -- statistics --------------------------------------------------------------------------

    async def stats(self) -> ArchiveStats:
        row = await self._one(
            """
            SELECT (SELECT count(*) FROM posts),
                   (SELECT count(*) FROM categories),
                   (SELECT count(*) FROM chats),
                   (SELECT count(*) FROM subscriptions),
                   (SELECT count(*) FROM subscriptions WHERE active = 1),
                   (SELECT max(coalesce(published_at, first_seen_at)) FROM posts),
                   (SELECT max(last_polled_at) FROM sources)
            """
        )
        outbox = {
            r[0]: r[1] for r in await self._all("SELECT status, count(*) FROM outbox GROUP BY 1")
        }
        return ArchiveStats(
            posts=row[0],
            categories=row[1],
            chats=row[2],
            subscriptions=row[3],
            active_subscriptions=row[4],
            newest_post_at=from_db_time(row[5]),
            last_poll_at=from_db_time(row[6]),
            outbox=outbox,
        )
