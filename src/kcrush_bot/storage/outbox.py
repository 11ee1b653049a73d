"""The outbox's SQL: what must reach which chat, claimed, sent, retried, failed or dropped.

The outbox table is the truth about delivery (RoboDanny's timers: the row is the truth, a task
sleeps until the next due row). A row moves ``pending`` → ``sending`` (claimed, in flight) →
``sent`` | ``pending`` again with a later ``due_at`` (retry) | ``failed`` (gave up) |
``dropped`` (the chat went away). Enqueueing is idempotent by ``UNIQUE (item, chat_key)``.

Only this module writes outbox SQL. Its transactions go through ``Database.transaction()``,
whose lock keeps the publisher's claims and outcome commits from interleaving with one another
(or with any repository's) on the shared connection.

Times are the database's one stored form (``storage/db.py``): fixed-width UTC with
microseconds, so text order is time order and a ``retry_after`` of half a second is not
rounded away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiosqlite

from kcrush_bot.storage.db import Database, as_utc, from_db_time, to_db_time
from kcrush_bot.storage.outbox_life import PostMessages
from kcrush_bot.storage.outbox_rows import (
    DROPPED,
    FAILED,
    PENDING,
    RATE_LIMITED,
    SENDING,
    SENT,
    TRANSIENT,
    Backlog,
    Delivery,
    NewRow,
    OutboxRow,
    Outcome,
    PostMessage,
    PostPlan,
    Shown,
    platform_range,
)

__all__ = [
    "DROPPED",
    "FAILED",
    "PENDING",
    "RATE_LIMITED",
    "SENDING",
    "SENT",
    "TRANSIENT",
    "Backlog",
    "Delivery",
    "NewRow",
    "Outbox",
    "OutboxRow",
    "Outcome",
    "PostMessage",
    "PostPlan",
    "Shown",
    "platform_range",
    "stamp",
]

log = logging.getLogger(__name__)

# The outbox's older name for the database's one time form; kept for callers not yet moved.
stamp = to_db_time


class Outbox(PostMessages):
    """The outbox table on the shared database (``PostMessages``: the rows of changed posts)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.db.transaction() as conn:
            yield conn

    # -- enqueueing ----------------------------------------------------------------------------

    async def insert(self, db: aiosqlite.Connection, rows: Sequence[NewRow], now: datetime) -> int:
        """Insert rows inside the caller's transaction; an (item, chat) already there is skipped.

        Returns how many rows were new.
        """
        if not rows:
            return 0
        when = to_db_time(now)
        cursor = await db.executemany(
            "INSERT OR IGNORE INTO outbox (item, chat_key, payload, sort_key, due_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    r.item,
                    r.chat_key,
                    json.dumps(r.payload, ensure_ascii=False, separators=(",", ":")),
                    r.sort_key,
                    when,
                    when,
                )
                for r in rows
            ],
        )
        return max(int(cursor.rowcount or 0), 0)

    async def posts_to_publish(self, limit: int = 500) -> list[tuple[int, str]]:
        """Pushable posts not yet fanned out: (id, publication time), oldest first."""
        async with self.db.connection.execute(
            "SELECT id, coalesce(published_at, first_seen_at) FROM posts "
            "WHERE pushable = 1 AND enqueued_at IS NULL AND withdrawn_at IS NULL "
            "ORDER BY 2, id LIMIT ?",
            (limit,),
        ) as cursor:
            return [(int(r[0]), str(r[1])) for r in await cursor.fetchall()]

    async def mark_posts_enqueued(
        self, db: aiosqlite.Connection, post_ids: Iterable[int], now: datetime
    ) -> None:
        await db.executemany(
            "UPDATE posts SET enqueued_at = ? WHERE id = ?",
            [(to_db_time(now), post_id) for post_id in post_ids],
        )

    async def announcements_to_send(self, now: datetime) -> list[dict[str, Any]]:
        """Confirmed announcements not yet fanned out whose time has come (or that have none)."""
        async with self.db.connection.execute(
            "SELECT id, text, category, coalesce(confirmed_at, created_at), scheduled_for "
            "FROM announcements WHERE status = 'confirmed' AND enqueued_at IS NULL "
            "ORDER BY id"
        ) as cursor:
            rows = await cursor.fetchall()
        due = []
        for r in rows:
            scheduled = from_db_time(r[4])
            if scheduled is not None and scheduled > as_utc(now):
                continue
            due.append(
                {"id": int(r[0]), "text": r[1], "category": r[2], "at": r[3], "scheduled": r[4]}
            )
        return due

    async def scheduled_announcements(self) -> list[tuple[int, datetime]]:
        """Confirmed, not yet fanned out, with a time: what the scheduler's date jobs wait for."""
        async with self.db.connection.execute(
            "SELECT id, scheduled_for FROM announcements WHERE status = 'confirmed' "
            "AND enqueued_at IS NULL AND scheduled_for IS NOT NULL"
        ) as cursor:
            rows = await cursor.fetchall()
        found = []
        for r in rows:
            found.append((int(r[0]), as_utc(datetime.fromisoformat(r[1]))))
        return found

    async def mark_announcement_enqueued(
        self, db: aiosqlite.Connection, announcement_id: int, now: datetime
    ) -> None:
        # 'sent' once fanned out: every chat's delivery is then the outbox's business.
        await db.execute(
            "UPDATE announcements SET enqueued_at = ?, status = 'sent' WHERE id = ?",
            (to_db_time(now), announcement_id),
        )

    async def digest_changed_at(self) -> dict[str, datetime]:
        """When each chat's digest schedule was last set: a digest is never due before that."""
        async with self.db.connection.execute("SELECT chat_key, updated_at FROM digests") as cursor:
            rows = await cursor.fetchall()
        return {r[0]: as_utc(datetime.fromisoformat(r[1])) for r in rows}

    # -- claiming ------------------------------------------------------------------------------

    async def claim(
        self,
        now: datetime,
        limit: int,
        *,
        platforms: Sequence[str],
        cooling: Callable[[str], bool] = lambda chat_key: False,
        last_sent: Callable[[str, int, datetime], None] | None = None,
    ) -> tuple[list[OutboxRow], list[str]]:
        """Claim up to ``limit`` due rows, at most one per chat, and mark them ``sending``.

        A row is claimable only as its chat's head: no earlier row of the chat (by sort key,
        then id) is pending, and no row of the chat is in flight. That keeps publication order
        within a chat while different chats go out concurrently. Rows of inactive chats and of
        platforms not running wait. Heads of chats still ``cooling`` (sent to less than the
        per-chat interval ago) are not claimed, so they hold no send slot while they wait; their
        keys are returned so the worker knows when to look again. ``last_sent`` is for replicas
        (PostgreSQL's outbox tells it when a head's chat was last sent to, perhaps by another
        process); one process's pacer has seen every send, so it is not called here.
        """
        if limit <= 0 or not platforms:
            return [], []
        when = to_db_time(now)
        platform_sql = " OR ".join("(o.chat_key >= ? AND o.chat_key < ?)" for _ in platforms)
        params: list[Any] = [when]
        for name in platforms:
            params.extend(platform_range(name))
        rows: list[OutboxRow] = []
        waiting: list[str] = []
        async with self.transaction() as db:
            # Heads come in due order straight off the (status, due_at) index; reading them
            # in chunks stops as soon as enough are claimable, however long the queue.
            async with db.execute(
                f"""
                SELECT o.id, o.item, o.chat_key, o.payload, o.sort_key, o.attempts
                  FROM outbox o
                 WHERE o.status = 'pending' AND o.due_at <= ?
                   AND ({platform_sql})
                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                    WHERE e.chat_key = o.chat_key AND e.status = 'sending')
                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                    WHERE e.chat_key = o.chat_key AND e.status = 'pending'
                                      AND (e.sort_key, e.id) < (o.sort_key, o.id))
                   AND EXISTS (SELECT 1 FROM chats c WHERE c.key = o.chat_key AND c.active = 1)
                 ORDER BY o.due_at, o.id
                """,
                params,
            ) as cursor:
                while len(rows) < limit:
                    chunk = await cursor.fetchmany(max(limit, 16))
                    if not chunk:
                        break
                    for found in chunk:
                        row = OutboxRow(*found)
                        if cooling(row.chat_key):
                            waiting.append(row.chat_key)
                        elif len(rows) < limit:
                            rows.append(row)
            if rows:
                await db.executemany(
                    "UPDATE outbox SET status = 'sending', claimed_at = ? WHERE id = ?",
                    [(when, r.id) for r in rows],
                )
        return rows, waiting

    async def next_due(self, now: datetime, platforms: Sequence[str]) -> datetime | None:
        """When the next chat head of a running platform falls due after ``now``: how long the
        worker may sleep. (Heads due already wait on a send in flight or a cooling chat, and
        the worker is woken for those.)"""
        if not platforms:
            return None
        platform_sql = " OR ".join("(o.chat_key >= ? AND o.chat_key < ?)" for _ in platforms)
        params: list[Any] = [to_db_time(now)]
        for name in platforms:
            params.extend(platform_range(name))
        async with self.db.connection.execute(
            f"""
            SELECT o.due_at FROM outbox o
             WHERE o.status = 'pending' AND o.due_at > ? AND ({platform_sql})
               AND NOT EXISTS (SELECT 1 FROM outbox e
                                WHERE e.chat_key = o.chat_key AND e.status = 'pending'
                                  AND (e.sort_key, e.id) < (o.sort_key, o.id))
             ORDER BY o.due_at LIMIT 1
            """,
            params,
        ) as cursor:
            row = await cursor.fetchone()
        return from_db_time(row[0]) if row else None

    async def release(self, row_ids: Sequence[int]) -> None:
        """Claimed rows that were never handed to the platform go back to pending as they were."""
        if not row_ids:
            return
        async with self.transaction() as db:
            await db.executemany(
                "UPDATE outbox SET status = 'pending', claimed_at = NULL "
                "WHERE id = ? AND status = 'sending'",
                [(row_id,) for row_id in row_ids],
            )

    # -- outcomes ------------------------------------------------------------------------------

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Commit a group of outcomes in one transaction (a group commit of sent marks)."""
        sent = [(o.at, o.message_id, o.row_id) for o in outcomes if o.status == SENT]
        retry = [(o.due_at, o.attempts, o.error, o.row_id) for o in outcomes if o.status == PENDING]
        failed = [(o.attempts, o.error, o.row_id) for o in outcomes if o.status == FAILED]
        follow = [
            (o.follow.payload, o.follow.shown, o.follow.target)
            for o in outcomes
            if o.status == SENT and o.follow is not None
        ]
        async with self.transaction() as db:
            if follow:
                # What the post's message shows now, committed with the edit's own outcome.
                await db.executemany(
                    "UPDATE outbox SET payload = coalesce(?, payload), shown = ? WHERE id = ?",
                    follow,
                )
            if sent:
                await db.executemany(
                    "UPDATE outbox SET status = 'sent', sent_at = ?, message_id = ?, "
                    "last_error = NULL WHERE id = ?",
                    sent,
                )
            if retry:
                await db.executemany(
                    "UPDATE outbox SET status = 'pending', due_at = ?, attempts = ?, "
                    "last_error = ?, claimed_at = NULL WHERE id = ?",
                    retry,
                )
            if failed:
                await db.executemany(
                    "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ?, "
                    "claimed_at = NULL WHERE id = ?",
                    failed,
                )

    async def drop_chat(self, row_id: int, chat_key: str, reason: str, now: datetime) -> int:
        """The chat cannot be reached: the tried row failed, every other pending row dropped.

        Returns how many pending rows were dropped.
        """
        async with self.transaction() as db:
            await db.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, "
                "claimed_at = NULL WHERE id = ?",
                (reason[:500], row_id),
            )
            cursor = await db.execute(
                "UPDATE outbox SET status = 'dropped', last_error = ? "
                "WHERE chat_key = ? AND status IN ('pending', 'sending') AND id != ?",
                (f"chat deactivated: {reason}"[:500], chat_key, row_id),
            )
            return int(cursor.rowcount or 0)

    async def resend_moved(self, row_id: int, now: datetime) -> None:
        """The chat moved (its key already followed by ON UPDATE CASCADE): send again now."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE outbox SET status = 'pending', due_at = ?, claimed_at = NULL, "
                "last_error = 'chat moved' WHERE id = ?",
                (to_db_time(now), row_id),
            )

    async def copy_to_chat(self, row_id: int, new_chat_key: str, now: datetime) -> None:
        """The chat moved to one we already know: its message goes there (once) instead."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT OR IGNORE INTO outbox (item, chat_key, payload, sort_key, due_at, "
                "created_at) SELECT item, ?, payload, sort_key, ?, created_at FROM outbox "
                "WHERE id = ?",
                (new_chat_key, to_db_time(now), row_id),
            )
            await db.execute(
                "UPDATE outbox SET status = 'dropped', last_error = ? WHERE id = ?",
                (f"chat moved to {new_chat_key}", row_id),
            )

    # -- recovery and platform-wide trouble ---------------------------------------------------

    async def recover_in_flight(self, now: datetime) -> int:
        """Rows left ``sending`` by a crash go out again (and only those: pending rows were never
        sent, sent rows are done). Pending rows of chats deactivated meanwhile are dropped."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE outbox SET status = 'pending', due_at = ?, claimed_at = NULL "
                "WHERE status = 'sending'",
                (to_db_time(now),),
            )
            resent = int(cursor.rowcount or 0)
            await db.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'chat inactive' "
                "WHERE status = 'pending' "
                "AND chat_key IN (SELECT key FROM chats WHERE active = 0)"
            )
        return resent

    async def release_transient(self, platform: str, now: datetime) -> int:
        """The platform answers again: rows backing off after timeouts or 5xx are due now."""
        low, high = platform_range(platform)
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE outbox SET due_at = ? WHERE status = 'pending' AND due_at > ? "
                "AND chat_key >= ? AND chat_key < ? AND last_error LIKE ?",
                (to_db_time(now), to_db_time(now), low, high, TRANSIENT + "%"),
            )
            return int(cursor.rowcount or 0)

    async def bring_forward_probe(self, platform: str, now: datetime) -> int | None:
        """One row backing off on a failing platform is made due now, to learn whether the
        platform is back; returns its id (None when there is none)."""
        low, high = platform_range(platform)
        async with self.transaction() as db:
            async with db.execute(
                "SELECT id FROM outbox WHERE status = 'pending' AND due_at > ? "
                "AND chat_key >= ? AND chat_key < ? AND last_error LIKE ? "
                "ORDER BY due_at, id LIMIT 1",
                (to_db_time(now), low, high, TRANSIENT + "%"),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            await db.execute("UPDATE outbox SET due_at = ? WHERE id = ?", (to_db_time(now), row[0]))
            return int(row[0])

    # -- figures -------------------------------------------------------------------------------

    async def prune(
        self, before: datetime, *, keep_sent_posts_since: datetime | None = None
    ) -> int:
        """Forget finished rows (sent, failed, dropped) created before ``before``.

        Without this the table grows by one row per chat per post forever. Finished rows are
        history: nothing reads them but ``stats``, except a post's delivery sent after
        ``keep_sent_posts_since`` (``[delivery] edit_window``): its message ids are how an edit
        or a withdrawal of the post finds the message. Pending and in-flight rows are never
        touched.
        """
        keep = to_db_time(keep_sent_posts_since) if keep_sent_posts_since else None
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'failed', 'dropped') "
                "AND created_at < ? AND NOT (? IS NOT NULL AND item LIKE 'post:%' "
                "AND status = 'sent' AND sent_at >= ?)",
                (to_db_time(before), keep, keep),
            )
            return int(cursor.rowcount or 0)

    async def counts(self) -> dict[str, int]:
        async with self.db.connection.execute(
            "SELECT status, count(*) FROM outbox GROUP BY 1"
        ) as cursor:
            return {r[0]: int(r[1]) for r in await cursor.fetchall()}

    async def backlog(self) -> dict[str, Backlog]:
        """Per platform: rows still to send (pending or in flight) and the oldest one's age.

        Read on every ``/metrics`` scrape and ``/healthz`` check: one pass over the
        ``(status, due_at)`` index's pending part, never the finished history.
        """
        async with self.db.connection.execute(
            "SELECT substr(chat_key, 1, instr(chat_key, ':') - 1), count(*), min(created_at) "
            "FROM outbox WHERE status IN ('pending', 'sending') GROUP BY 1"
        ) as cursor:
            rows = await cursor.fetchall()
        return {str(r[0]): Backlog(int(r[1]), from_db_time(r[2])) for r in rows}

    # -- history -------------------------------------------------------------------------------

    async def history(
        self,
        *,
        chat_key: str | None = None,
        post_url: str | None = None,
        failed: bool = False,
        limit: int = 20,
    ) -> list[Delivery]:
        """What was sent where and when, newest first (``kcrush-bot deliveries``).

        ``failed`` keeps what did not arrive: given up (``failed``) or dropped with its chat.
        Rows are kept for ``[delivery] keep_finished``; older history is gone.
        """
        where: list[str] = []
        params: list[Any] = []
        if chat_key is not None:
            where.append("o.chat_key = ?")
            params.append(chat_key)
        if post_url is not None:
            where.append("o.item = (SELECT 'post:' || id FROM posts WHERE url = ?)")
            params.append(post_url)
        if failed:
            where.append("o.status IN ('failed', 'dropped')")
        params.append(limit)
        async with self.db.connection.execute(
            "SELECT o.id, o.item, o.chat_key, o.status, o.attempts, o.created_at, o.sent_at, "
            "o.message_id, o.last_error, p.url, p.title "
            # The post's id is read out of the item, so the join is a primary-key lookup.
            "FROM outbox o LEFT JOIN posts p "
            "ON o.item LIKE 'post:%' AND p.id = CAST(substr(o.item, 6) AS INTEGER) "
            + ("WHERE " + " AND ".join(where) + " " if where else "")
            + "ORDER BY o.id DESC LIMIT ?",
            params,
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Delivery(
                id=int(r[0]),
                item=r[1],
                chat_key=r[2],
                status=r[3],
                attempts=int(r[4]),
                created_at=from_db_time(r[5]) or self.db.now_utc(),
                sent_at=from_db_time(r[6]),
                message_ids=tuple(r[7].split(",")) if r[7] else (),
                error=r[8],
                post_url=r[9],
                post_title=r[10],
            )
            for r in rows
        ]
