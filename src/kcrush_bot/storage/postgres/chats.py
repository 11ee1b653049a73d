"""The chats repository on PostgreSQL: chats, their subscriptions and digest schedules.

The same public methods as the SQLite ``ChatRepository``. ``ON UPDATE CASCADE`` lets a moved
Telegram group take its subscriptions, digest and outbox rows along, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from kcrush_bot.core.models import ChatKind, ChatRef, DigestSchedule, Mode, Subscription
from kcrush_bot.storage.db import as_utc
from kcrush_bot.storage.postgres.db import PgDatabase, affected, clean, clean_or_none
from kcrush_bot.storage.rows import (
    DIGESTS,
    REASON_CHARS,
    SUBSCRIPTIONS,
    chat_of,
    digest_of,
    subscription_of,
)


class PgChatRepository:
    """Chats, subscriptions and digests over the shared PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    # -- chats -------------------------------------------------------------------------------

    async def ensure(
        self, chat: ChatRef, *, title: str | None = None, kind: ChatKind | None = None
    ) -> None:
        async with self._db.transaction() as conn:
            await self._ensure(conn, chat, title=title, kind=kind)

    async def _ensure(
        self,
        conn: asyncpg.Connection,
        chat: ChatRef,
        *,
        title: str | None = None,
        kind: ChatKind | None = None,
    ) -> None:
        """Inside a transaction: the chat row exists (title and kind refreshed when known)."""
        stamp = self._db.now_utc()
        await conn.execute(
            "INSERT INTO chats AS c (key, platform, chat_id, thread_id, title, kind, created_at, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
            "ON CONFLICT (key) DO UPDATE SET title = coalesce(excluded.title, c.title), "
            "kind = coalesce(excluded.kind, c.kind), updated_at = excluded.updated_at",
            chat.key,
            chat.platform,
            chat.chat_id,
            chat.thread_id,
            clean_or_none(title),
            kind.value if kind else None,
            stamp,
        )

    async def deactivate(self, chat: ChatRef, reason: str) -> None:
        """The platform said this chat cannot be reached: stop sending, keep the reason."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET active = false, inactive_reason = $1 WHERE key = $2",
                clean(reason)[:REASON_CHARS],
                chat.key,
            )
            await conn.execute(
                "UPDATE subscriptions SET active = false, inactive_reason = $1 WHERE chat_key = $2",
                clean(reason)[:REASON_CHARS],
                chat.key,
            )

    async def inactive(self) -> list[tuple[ChatRef, str]]:
        """Chats the platforms said cannot be reached, with the reason recorded."""
        rows = await self._db.all(
            "SELECT platform, chat_id, thread_id, coalesce(inactive_reason, '') AS reason "
            "FROM chats WHERE NOT active ORDER BY key"
        )
        return [(chat_of(r), r["reason"]) for r in rows]

    async def move(self, old: ChatRef, new: ChatRef) -> None:
        """Telegram moved a group to a supergroup: everything of the old id follows it."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET key = $1, chat_id = $2, updated_at = $3 WHERE key = $4",
                new.key,
                new.chat_id,
                self._db.now_utc(),
                old.key,
            )

    async def counts(self) -> tuple[int, int, int]:
        """(chats, subscriptions, active subscriptions): the figures ``stats`` reports."""
        row = await self._db.one(
            "SELECT (SELECT count(*) FROM chats) AS chats, "
            "(SELECT count(*) FROM subscriptions) AS subs, "
            "(SELECT count(*) FROM subscriptions WHERE active) AS active"
        )
        return int(row["chats"]), int(row["subs"]), int(row["active"])

    # -- subscriptions -----------------------------------------------------------------------

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
        stamp = self._db.now_utc()
        async with self._db.transaction() as conn:
            await self._ensure(conn, chat, title=title, kind=kind)
            await conn.execute(
                "UPDATE chats SET active = true, inactive_reason = NULL WHERE key = $1", chat.key
            )
            await conn.executemany(
                "INSERT INTO subscriptions (chat_key, category, mode, keywords, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $5) "
                "ON CONFLICT (chat_key, category) DO UPDATE SET mode = excluded.mode, "
                "keywords = excluded.keywords, active = true, inactive_reason = NULL, "
                "updated_at = excluded.updated_at",
                [
                    (chat.key, clean(slug), mode.value, clean(" ".join(keywords)), stamp)
                    for slug in categories
                ],
            )

    async def set_delivery(self, chat: ChatRef, mode: Mode) -> list[str]:
        """Give every subscription of ``chat`` the mode ``mode``; returns their categories."""
        rows = await self._db.all(
            "UPDATE subscriptions SET mode = $1, updated_at = $2 WHERE chat_key = $3 "
            "RETURNING category",
            mode.value,
            self._db.now_utc(),
            chat.key,
        )
        return sorted(row["category"] for row in rows)

    async def unsubscribe(self, chat: ChatRef, categories: Sequence[str] | None) -> int:
        """Remove the chat's subscriptions to ``categories`` (all when None); returns how many."""
        if categories is None:
            status = await self._db.execute(
                "DELETE FROM subscriptions WHERE chat_key = $1", chat.key
            )
        else:
            status = await self._db.execute(
                "DELETE FROM subscriptions WHERE chat_key = $1 AND category = ANY($2::text[])",
                chat.key,
                [clean(c) for c in categories],
            )
        return affected(status)

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]:
        if chat is None:
            rows = await self._db.all(f"{SUBSCRIPTIONS} ORDER BY c.key, s.category")
        else:
            rows = await self._db.all(
                f"{SUBSCRIPTIONS} WHERE s.chat_key = $1 ORDER BY c.key, s.category", chat.key
            )
        return [subscription_of(r) for r in rows]

    # -- digests -----------------------------------------------------------------------------

    async def set_digest(self, schedule: DigestSchedule) -> None:
        stamp = self._db.now_utc()
        async with self._db.transaction() as conn:
            await self._ensure(conn, schedule.chat)
            await conn.execute(
                "INSERT INTO digests (chat_key, frequency, time, timezone, weekday, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (chat_key) DO UPDATE "
                "SET frequency = excluded.frequency, time = excluded.time, "
                "timezone = excluded.timezone, weekday = excluded.weekday, "
                "updated_at = excluded.updated_at",
                schedule.chat.key,
                schedule.frequency.value,
                schedule.time,
                schedule.timezone,
                schedule.weekday,
                stamp,
            )

    async def clear_digest(self, chat: ChatRef) -> bool:
        status = await self._db.execute("DELETE FROM digests WHERE chat_key = $1", chat.key)
        return affected(status) > 0

    async def digests(self, chat: ChatRef | None = None) -> list[DigestSchedule]:
        if chat is None:
            rows = await self._db.all(f"{DIGESTS} ORDER BY c.key")
        else:
            rows = await self._db.all(f"{DIGESTS} WHERE d.chat_key = $1 ORDER BY c.key", chat.key)
        return [digest_of(r) for r in rows]

    async def mark_digest_sent(self, chat: ChatRef, at: datetime) -> None:
        """One statement, no transaction of its own: the publisher calls it inside the
        transaction that enqueues the digest, and the statement joins that transaction."""
        await self._db.execute(
            "UPDATE digests SET last_sent_at = $1 WHERE chat_key = $2", as_utc(at), chat.key
        )
