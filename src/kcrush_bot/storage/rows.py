"""Rows into models for both backends, and the limits on what a row keeps.

The SQLite repositories (``storage/*.py``) and the PostgreSQL ones (``storage/postgres/``) run
their own SQL and hand their rows here, so a row means the same on either. The drivers differ
in two things: times (SQLite's text, PostgreSQL's ``datetime``: ``read_time`` takes either) and
a post's categories (one text, or an array: ``post_of`` takes either). SELECTs both dialects
spell alike (no placeholder in them) live here too, beside the function that reads their rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from kcrush_bot.core.models import (
    Announcement,
    Category,
    ChatRef,
    DigestSchedule,
    Mode,
    Post,
    SourceHealth,
    Subscription,
)
from kcrush_bot.storage.db import as_utc, from_db_time, to_db_time

# How much of a platform's, a source's or a moderator's text a row keeps.
REASON_CHARS = 300  # why a chat was deactivated
ERROR_CHARS = 500  # a source's last poll error
AUDIT_DETAIL_CHARS = 2000


class Row(Protocol):
    """A row read by column name: ``sqlite3.Row`` or asyncpg's ``Record``."""

    def __getitem__(self, key: str, /) -> Any: ...


def read_time(value: str | datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime, from SQLite's text or PostgreSQL's timestamptz
    (None for NULL, and for SQLite's empty text)."""
    if isinstance(value, datetime):
        return as_utc(value)
    return from_db_time(value)


def required_time(value: str | datetime) -> datetime:
    """A time from a ``NOT NULL`` column."""
    found = read_time(value)
    if found is None:
        raise ValueError(f"a stored time is empty where one is required: {value!r}")
    return found


def as_stored_text(value: Any) -> Any:
    """A value as SQLite stores it: a time as ``db.to_db_time`` text (what ``state`` and
    ``audit_log`` give on both backends), anything else as it is."""
    return to_db_time(value) if isinstance(value, datetime) else value


# -- chats -------------------------------------------------------------------------------------

SUBSCRIPTIONS = (
    "SELECT c.platform, c.chat_id, c.thread_id, s.category, s.mode, s.keywords, "
    "s.active, s.inactive_reason FROM subscriptions s JOIN chats c ON c.key = s.chat_key"
)
DIGESTS = (
    "SELECT c.platform, c.chat_id, c.thread_id, d.frequency, d.time, d.timezone, "
    "d.weekday, d.last_sent_at FROM digests d JOIN chats c ON c.key = d.chat_key"
)


def chat_of(row: Row) -> ChatRef:
    return ChatRef(row["platform"], row["chat_id"], row["thread_id"])


def subscription_of(row: Row) -> Subscription:
    """A row of ``SUBSCRIPTIONS``."""
    return Subscription(
        chat=chat_of(row),
        category=row["category"],
        mode=Mode(row["mode"]),
        keywords=tuple(row["keywords"].split()),
        active=bool(row["active"]),  # SQLite's 0 or 1, PostgreSQL's boolean
        inactive_reason=row["inactive_reason"],
    )


def digest_of(row: Row) -> DigestSchedule:
    """A row of ``DIGESTS``."""
    return DigestSchedule(
        chat=chat_of(row),
        frequency=Mode(row["frequency"]),
        time=row["time"],
        timezone=row["timezone"],
        weekday=row["weekday"],
        last_sent_at=read_time(row["last_sent_at"]),
    )


# -- sources -----------------------------------------------------------------------------------

SOURCE_STATE_COLUMNS = (
    "name, kind, url, etag, last_modified, first_seen_at, last_polled_at, last_ok_at, "
    "last_error, failures, next_poll_at, cursor"
).split(", ")
SOURCES_HEALTH = (
    "SELECT name, kind, url, last_polled_at, last_ok_at, last_error, failures, next_poll_at "
    "FROM sources ORDER BY name"
)


def source_state_of(row: Row) -> dict[str, Any]:
    """A source's row by column name, times in SQLite's stored form on either backend: ingest
    reads them so."""
    return {key: as_stored_text(row[key]) for key in SOURCE_STATE_COLUMNS}


def poll_error(error: str | None) -> str:
    """What a failed poll records: the error, cut to ``ERROR_CHARS``, or "failed"."""
    return (error or "failed")[:ERROR_CHARS]


def source_health_of(row: Row) -> SourceHealth:
    """A row of ``SOURCES_HEALTH``: failing while polls fail, ok once one succeeded, else new."""
    return SourceHealth(
        name=row["name"],
        kind=row["kind"],
        url=row["url"],
        state="failing" if row["failures"] else ("ok" if row["last_ok_at"] else "new"),
        last_polled_at=read_time(row["last_polled_at"]),
        last_ok_at=read_time(row["last_ok_at"]),
        last_error=row["last_error"],
        failures=row["failures"],
        next_poll_at=read_time(row["next_poll_at"]),
    )


# -- announcements and the audit log -----------------------------------------------------------

ANNOUNCEMENT_COLUMNS = "id, text, category, author, status, created_at, confirmed_at, scheduled_for"
AUDIT_LOG = "SELECT at, actor, action, chat_key, detail FROM audit_log ORDER BY id DESC"


def announcement_of(row: Row) -> Announcement:
    """A row of ``ANNOUNCEMENT_COLUMNS``."""
    return Announcement(
        id=row["id"],
        text=row["text"],
        category=row["category"],
        author=row["author"],
        status=row["status"],
        created_at=required_time(row["created_at"]),
        confirmed_at=read_time(row["confirmed_at"]),
        scheduled_for=read_time(row["scheduled_for"]),
    )


def audit_detail(detail: Any) -> str:
    """What the audit log keeps of an action's detail: text as given, anything else as JSON,
    cut to ``AUDIT_DETAIL_CHARS``."""
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    return text[:AUDIT_DETAIL_CHARS]


def audit_entry_of(row: Row) -> dict[str, Any]:
    """A row of ``AUDIT_LOG``, its time in SQLite's stored form on either backend."""
    return {
        "at": as_stored_text(row["at"]),
        "actor": row["actor"],
        "action": row["action"],
        "chat": row["chat_key"],
        "detail": row["detail"],
    }


# -- posts and categories ----------------------------------------------------------------------


def post_of(row: Row) -> Post:
    """A row of a backend's ``POST_COLUMNS`` (``storage.post_rows``, ``postgres.records``)."""
    cats = row["cats"]
    # SQLite's group_concat gives the slugs as one text, in no order; PostgreSQL an array, in
    # order already (its slugs compare byte by byte, as Python's do).
    slugs = cats.split() if isinstance(cats, str) else cats or ()
    return Post(
        id=row["id"],
        url=row["url"],
        guid=row["guid"],
        title=row["title"],
        teaser=row["teaser"],
        image_url=row["image_url"],
        published_at=read_time(row["published_at"]),
        modified_at=read_time(row["modified_at"]),
        categories=tuple(sorted(slugs)),
        tags=tuple(row["tags"].split("\n")) if row["tags"] else (),
        wp_id=row["wp_id"],
    )


def touched_of(row: Row) -> tuple[Post, datetime, bool]:
    """A post whose messages must follow a change: the post, when it was last touched, and
    whether it is withdrawn (``PostLife.touched``)."""
    return post_of(row), required_time(row["touched"]), row["withdrawn"] is not None


def older(post: Post, limit: datetime | None) -> bool:
    """Whether ``post`` was published before ``limit`` (never, when either is unknown)."""
    return bool(limit and post.published_at and post.published_at < limit)


CATEGORIES = "SELECT slug, name, parent, aliases FROM categories ORDER BY slug"
# Every category with the number of public posts in it or any category below it.
CATEGORY_COUNTS = """
    WITH RECURSIVE tree(root, slug) AS (
        SELECT slug, slug FROM categories
        UNION ALL
        SELECT tree.root, c.slug FROM categories c JOIN tree ON c.parent = tree.slug
    )
    SELECT c.slug, c.name, c.parent, c.aliases,
           (SELECT count(DISTINCT pc.post_id) FROM tree
              JOIN post_categories pc ON pc.slug = tree.slug
              JOIN posts p ON p.id = pc.post_id AND p.withdrawn_at IS NULL
             WHERE tree.root = c.slug) AS posts
      FROM categories c ORDER BY c.slug
"""


def category_of(row: Row) -> Category:
    """A row of ``CATEGORIES`` or ``CATEGORY_COUNTS`` (aliases as JSON text)."""
    aliases = tuple(json.loads(row["aliases"])) if row["aliases"] else ()
    return Category(row["slug"], row["name"], row["parent"], aliases)
