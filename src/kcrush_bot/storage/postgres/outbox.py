"""The outbox on PostgreSQL: what must reach which chat, claimed, sent, retried, failed or dropped.

The same public methods and row lifecycle as the SQLite ``Outbox`` (``storage/outbox.py``), so
the publisher and the worker run on either. What differs is claiming: several replicas may
claim at once, so a claim reads its candidates ``FOR UPDATE SKIP LOCKED`` (a row another
replica is claiming is passed over, not waited for) and turns them ``sending`` in the same
transaction. Order within a chat holds across replicas: a row is claimable only as its chat's
head, with no earlier row pending and none in flight, and a head being claimed elsewhere is
locked, so no replica takes the row behind it either (that one is not a head while the first
is still pending in its snapshot).

Times cross this interface in the stored form the SQLite outbox uses (``storage.db``), as the
worker and publisher build them; here they become timestamptz.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from kcrush_bot.storage.db import as_utc, from_db_time, to_db_time
from kcrush_bot.storage.outbox import (
    FAILED,
    PENDING,
    SENT,
    TRANSIENT,
    Backlog,
    Delivery,
    NewRow,
    OutboxRow,
    Outcome,
    platform_range,
)
from kcrush_bot.storage.postgres.db import PgDatabase, affected, clean, clean_or_none
from kcrush_bot.storage.postgres.outbox_life import PgPostMessages

ERROR_CHARS = 500


def _platform_filter(platforms: Sequence[str], first: int) -> tuple[str, list[str]]:
    """``(o.chat_key >= $n AND o.chat_key < $n+1) OR …`` and its arguments, one range each."""
    parts, args = [], []
    for n, name in enumerate(platforms):
        low, high = platform_range(name)
        parts.append(f"(o.chat_key >= ${first + 2 * n} AND o.chat_key < ${first + 2 * n + 1})")
        args += [low, high]
    return " OR ".join(parts), args


def _time(value: str | None) -> datetime | None:
    return from_db_time(value) if value else None


class PgOutbox(PgPostMessages):
    """The outbox table on the shared PostgreSQL database (``PgPostMessages``: the rows of
    changed posts)."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.db.transaction() as conn:
            yield conn

    # -- enqueueing ----------------------------------------------------------------------------

    async def insert(self, db: asyncpg.Connection, rows: Sequence[NewRow], now: datetime) -> int:
        """Insert rows inside the caller's transaction; an (item, chat) already there is skipped.

        Returns how many rows were new.
        """
        if not rows:
            return 0
        when = as_utc(now)
        inserted = await db.fetchval(
            "WITH new AS ("
            " INSERT INTO outbox (item, chat_key, payload, sort_key, due_at, created_at)"
            " SELECT item, chat_key, payload, sort_key, $5, $5"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
            " AS u(item, chat_key, payload, sort_key)"
            " ON CONFLICT (item, chat_key) DO NOTHING RETURNING 1"
            ") SELECT count(*) FROM new",
            [r.item for r in rows],
            [r.chat_key for r in rows],
            [json.dumps(r.payload, ensure_ascii=False, separators=(",", ":")) for r in rows],
            [r.sort_key for r in rows],
            when,
        )
        return int(inserted)

    async def posts_to_publish(self, limit: int = 500) -> list[tuple[int, str]]:
        """Pushable posts not yet fanned out: (id, publication time), oldest first."""
        rows = await self.db.all(
            "SELECT id, coalesce(published_at, first_seen_at) AS at FROM posts "
            "WHERE pushable AND enqueued_at IS NULL AND withdrawn_at IS NULL "
            "ORDER BY 2, id LIMIT $1",
            limit,
        )
        return [(int(r["id"]), to_db_time(r["at"])) for r in rows]

    async def mark_posts_enqueued(
        self, db: asyncpg.Connection, post_ids: Iterable[int], now: datetime
    ) -> None:
        await db.execute(
            "UPDATE posts SET enqueued_at = $1 WHERE id = ANY($2::bigint[])",
            as_utc(now),
            list(post_ids),
        )

    async def announcements_to_send(self, now: datetime) -> list[dict[str, Any]]:
        """Confirmed announcements not yet fanned out whose time has come (or that have none)."""
        rows = await self.db.all(
            "SELECT id, text, category, coalesce(confirmed_at, created_at) AS at, scheduled_for "
            "FROM announcements WHERE status = 'confirmed' AND enqueued_at IS NULL "
            "AND (scheduled_for IS NULL OR scheduled_for <= $1) ORDER BY id",
            as_utc(now),
        )
        return [
            {
                "id": int(r["id"]),
                "text": r["text"],
                "category": r["category"],
                "at": to_db_time(r["at"]),
                "scheduled": to_db_time(r["scheduled_for"]) if r["scheduled_for"] else None,
            }
            for r in rows
        ]

    async def scheduled_announcements(self) -> list[tuple[int, datetime]]:
        """Confirmed, not yet fanned out, with a time: what the scheduler's date jobs wait for."""
        rows = await self.db.all(
            "SELECT id, scheduled_for FROM announcements WHERE status = 'confirmed' "
            "AND enqueued_at IS NULL AND scheduled_for IS NOT NULL"
        )
        return [(int(r["id"]), r["scheduled_for"]) for r in rows]

    async def mark_announcement_enqueued(
        self, db: asyncpg.Connection, announcement_id: int, now: datetime
    ) -> None:
        # 'sent' once fanned out: every chat's delivery is then the outbox's business.
        await db.execute(
            "UPDATE announcements SET enqueued_at = $1, status = 'sent' WHERE id = $2",
            as_utc(now),
            announcement_id,
        )

    async def digest_changed_at(self) -> dict[str, datetime]:
        """When each chat's digest schedule was last set: a digest is never due before that."""
        rows = await self.db.all("SELECT chat_key, updated_at FROM digests")
        return {r["chat_key"]: r["updated_at"] for r in rows}

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

        As on SQLite: only chat heads (no earlier row pending, none in flight) of active chats
        and running platforms; heads of chats still ``cooling`` are passed over and their keys
        returned. Candidates are read through a cursor ``FOR UPDATE SKIP LOCKED``, in due
        order, until enough are claimable.

        The chat's previous message may have gone out from another replica, whose pacer kept
        its spacing: ``last_sent`` is told which row that was and when it was recorded sent
        before ``cooling`` is asked, so the chat's next message keeps the spacing too.
        """
        if limit <= 0 or not platforms:
            return [], []
        when = as_utc(now)
        platform_sql, platform_args = _platform_filter(platforms, 2)
        rows: list[OutboxRow] = []
        waiting: list[str] = []
        async with self.transaction() as db:
            cursor = db.cursor(
                f"""
                SELECT o.id, o.item, o.chat_key, o.payload, o.sort_key, o.attempts,
                       s.id AS sent_id, s.sent_at
                  FROM outbox o
                  LEFT JOIN LATERAL (SELECT s.id, s.sent_at FROM outbox s
                                      WHERE s.chat_key = o.chat_key AND s.status = 'sent'
                                      ORDER BY s.sort_key DESC, s.id DESC LIMIT 1) s ON true
                 WHERE o.status = 'pending' AND o.due_at <= $1
                   AND ({platform_sql})
                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                    WHERE e.chat_key = o.chat_key AND e.status = 'sending')
                   AND NOT EXISTS (SELECT 1 FROM outbox e
                                    WHERE e.chat_key = o.chat_key AND e.status = 'pending'
                                      AND (e.sort_key, e.id) < (o.sort_key, o.id))
                   AND EXISTS (SELECT 1 FROM chats c WHERE c.key = o.chat_key AND c.active)
                 ORDER BY o.due_at, o.id
                   FOR UPDATE OF o SKIP LOCKED
                """,
                when,
                *platform_args,
                prefetch=max(limit, 16),
            )
            async for found in cursor:
                row = OutboxRow(
                    found["id"],
                    found["item"],
                    found["chat_key"],
                    found["payload"],
                    found["sort_key"],
                    found["attempts"],
                )
                if last_sent is not None and found["sent_id"] is not None:
                    last_sent(row.chat_key, found["sent_id"], found["sent_at"])
                if cooling(row.chat_key):
                    waiting.append(row.chat_key)
                    continue
                rows.append(row)
                if len(rows) >= limit:
                    break
            if rows:
                # The server's clock, as the claims' renewal and expiry use (replicas.py):
                # replicas' own clocks may disagree.
                await db.execute(
                    "UPDATE outbox SET status = 'sending', claimed_at = now() "
                    "WHERE id = ANY($1::bigint[])",
                    [r.id for r in rows],
                )
        return rows, waiting

    async def next_due(self, now: datetime, platforms: Sequence[str]) -> datetime | None:
        """When the next chat head of a running platform falls due after ``now``: how long the
        worker may sleep."""
        if not platforms:
            return None
        platform_sql, platform_args = _platform_filter(platforms, 2)
        value: datetime | None = await self.db.value(
            f"""
            SELECT o.due_at FROM outbox o
             WHERE o.status = 'pending' AND o.due_at > $1 AND ({platform_sql})
               AND NOT EXISTS (SELECT 1 FROM outbox e
                                WHERE e.chat_key = o.chat_key AND e.status = 'pending'
                                  AND (e.sort_key, e.id) < (o.sort_key, o.id))
             ORDER BY o.due_at LIMIT 1
            """,
            as_utc(now),
            *platform_args,
        )
        return value

    async def release(self, row_ids: Sequence[int]) -> None:
        """Claimed rows that were never handed to the platform go back to pending as they were."""
        if not row_ids:
            return
        await self.db.execute(
            "UPDATE outbox SET status = 'pending', claimed_at = NULL "
            "WHERE id = ANY($1::bigint[]) AND status = 'sending'",
            list(row_ids),
        )

    # -- outcomes ------------------------------------------------------------------------------

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Commit a group of outcomes in one transaction (a group commit of sent marks)."""
        sent = [
            (_time(o.at), clean_or_none(o.message_id), o.row_id)
            for o in outcomes
            if o.status == SENT
        ]
        retry = [
            (_time(o.due_at), o.attempts, clean_or_none(o.error), o.row_id)
            for o in outcomes
            if o.status == PENDING
        ]
        failed = [
            (o.attempts, clean_or_none(o.error), o.row_id) for o in outcomes if o.status == FAILED
        ]
        follow = [
            (clean_or_none(o.follow.payload), o.follow.shown, o.follow.target)
            for o in outcomes
            if o.status == SENT and o.follow is not None
        ]
        async with self.transaction() as db:
            if follow:
                # What the post's message shows now, committed with the edit's own outcome.
                await db.executemany(
                    "UPDATE outbox SET payload = coalesce($1, payload), shown = $2 WHERE id = $3",
                    follow,
                )
            if sent:
                await db.executemany(
                    "UPDATE outbox SET status = 'sent', sent_at = $1, message_id = $2, "
                    "last_error = NULL WHERE id = $3",
                    sent,
                )
            if retry:
                await db.executemany(
                    "UPDATE outbox SET status = 'pending', due_at = $1, attempts = $2, "
                    "last_error = $3, claimed_at = NULL WHERE id = $4",
                    retry,
                )
            if failed:
                await db.executemany(
                    "UPDATE outbox SET status = 'failed', attempts = $1, last_error = $2, "
                    "claimed_at = NULL WHERE id = $3",
                    failed,
                )

    async def drop_chat(self, row_id: int, chat_key: str, reason: str, now: datetime) -> int:
        """The chat cannot be reached: the tried row failed, every other pending row dropped.

        Returns how many pending rows were dropped.
        """
        reason = clean(reason)
        async with self.transaction() as db:
            await db.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1, "
                "claimed_at = NULL WHERE id = $2",
                reason[:ERROR_CHARS],
                row_id,
            )
            status = await db.execute(
                "UPDATE outbox SET status = 'dropped', last_error = $1 "
                "WHERE chat_key = $2 AND status IN ('pending', 'sending') AND id <> $3",
                f"chat deactivated: {reason}"[:ERROR_CHARS],
                chat_key,
                row_id,
            )
            return affected(status)

    async def resend_moved(self, row_id: int, now: datetime) -> None:
        """The chat moved (its key already followed by ON UPDATE CASCADE): send again now."""
        await self.db.execute(
            "UPDATE outbox SET status = 'pending', due_at = $1, claimed_at = NULL, "
            "last_error = 'chat moved' WHERE id = $2",
            as_utc(now),
            row_id,
        )

    async def copy_to_chat(self, row_id: int, new_chat_key: str, now: datetime) -> None:
        """The chat moved to one we already know: its message goes there (once) instead."""
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO outbox (item, chat_key, payload, sort_key, due_at, created_at) "
                "SELECT item, $1, payload, sort_key, $2, created_at FROM outbox WHERE id = $3 "
                "ON CONFLICT (item, chat_key) DO NOTHING",
                new_chat_key,
                as_utc(now),
                row_id,
            )
            await db.execute(
                "UPDATE outbox SET status = 'dropped', last_error = $1 WHERE id = $2",
                f"chat moved to {new_chat_key}",
                row_id,
            )

    # -- recovery and platform-wide trouble ---------------------------------------------------

    async def recover_in_flight(self, now: datetime) -> int:
        """Rows left ``sending`` by a crash go out again (and only those: pending rows were never
        sent, sent rows are done). Pending rows of chats deactivated meanwhile are dropped."""
        async with self.transaction() as db:
            status = await db.execute(
                "UPDATE outbox SET status = 'pending', due_at = $1, claimed_at = NULL "
                "WHERE status = 'sending'",
                as_utc(now),
            )
            await db.execute(
                "UPDATE outbox SET status = 'dropped', last_error = 'chat inactive' "
                "WHERE status = 'pending' AND chat_key IN (SELECT key FROM chats WHERE NOT active)"
            )
        return affected(status)

    async def release_transient(self, platform: str, now: datetime) -> int:
        """The platform answers again: rows backing off after timeouts or 5xx are due now."""
        low, high = platform_range(platform)
        status = await self.db.execute(
            "UPDATE outbox SET due_at = $1 WHERE status = 'pending' AND due_at > $1 "
            "AND chat_key >= $2 AND chat_key < $3 AND starts_with(last_error, $4)",
            as_utc(now),
            low,
            high,
            TRANSIENT,
        )
        return affected(status)

    async def bring_forward_probe(self, platform: str, now: datetime) -> int | None:
        """One row backing off on a failing platform is made due now, to learn whether the
        platform is back; returns its id (None when there is none)."""
        low, high = platform_range(platform)
        value = await self.db.value(
            "UPDATE outbox SET due_at = $1 WHERE id = ("
            " SELECT id FROM outbox WHERE status = 'pending' AND due_at > $1"
            " AND chat_key >= $2 AND chat_key < $3 AND starts_with(last_error, $4)"
            " ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ") RETURNING id",
            as_utc(now),
            low,
            high,
            TRANSIENT,
        )
        return None if value is None else int(value)

    # -- figures -------------------------------------------------------------------------------

    async def prune(
        self, before: datetime, *, keep_sent_posts_since: datetime | None = None
    ) -> int:
        """Forget finished rows (sent, failed, dropped) created before ``before``, but a post's
        delivery sent after ``keep_sent_posts_since``: an edit finds its message through it."""
        status = await self.db.execute(
            "DELETE FROM outbox WHERE status IN ('sent', 'failed', 'dropped') AND created_at < $1 "
            "AND NOT ($2::timestamptz IS NOT NULL AND item LIKE 'post:%' AND status = 'sent' "
            "AND sent_at >= $2)",
            as_utc(before),
            as_utc(keep_sent_posts_since) if keep_sent_posts_since else None,
        )
        return affected(status)

    async def counts(self) -> dict[str, int]:
        rows = await self.db.all("SELECT status, count(*) AS n FROM outbox GROUP BY 1")
        return {r["status"]: int(r["n"]) for r in rows}

    async def backlog(self) -> dict[str, Backlog]:
        """Per platform: rows still to send (pending or in flight) and the oldest one's age."""
        rows = await self.db.all(
            "SELECT split_part(chat_key, ':', 1) AS platform, count(*) AS n, "
            "min(created_at) AS oldest FROM outbox WHERE status IN ('pending', 'sending') "
            "GROUP BY 1"
        )
        return {r["platform"]: Backlog(int(r["n"]), r["oldest"]) for r in rows}

    # -- history -------------------------------------------------------------------------------

    async def history(
        self,
        *,
        chat_key: str | None = None,
        post_url: str | None = None,
        failed: bool = False,
        limit: int = 20,
    ) -> list[Delivery]:
        """What was sent where and when, newest first (``kcrush-bot deliveries``)."""
        rows = await self.db.all(
            "SELECT o.id, o.item, o.chat_key, o.status, o.attempts, o.created_at, o.sent_at, "
            "o.message_id, o.last_error, p.url, p.title "
            # The post's id is read out of the item, so the join is a primary-key lookup.
            "FROM outbox o LEFT JOIN posts p ON starts_with(o.item, 'post:') "
            "AND p.id = CASE WHEN o.item ~ '^post:[0-9]{1,18}$' "
            "THEN substr(o.item, 6)::bigint END "
            "WHERE ($1::text IS NULL OR o.chat_key = $1) "
            "AND ($2::text IS NULL OR o.item = (SELECT 'post:' || id FROM posts WHERE url = $2)) "
            "AND (NOT $3 OR o.status IN ('failed', 'dropped')) "
            "ORDER BY o.id DESC LIMIT $4",
            chat_key,
            post_url,
            failed,
            limit,
        )
        return [
            Delivery(
                id=int(r["id"]),
                item=r["item"],
                chat_key=r["chat_key"],
                status=r["status"],
                attempts=int(r["attempts"]),
                created_at=r["created_at"],
                sent_at=r["sent_at"],
                message_ids=tuple(r["message_id"].split(",")) if r["message_id"] else (),
                error=r["last_error"],
                post_url=r["url"],
                post_title=r["title"],
            )
            for r in rows
        ]
