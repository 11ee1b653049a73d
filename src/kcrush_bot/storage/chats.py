"""The chats repository: chats, their subscriptions and their digest schedules.

A chat is the aggregate: subscriptions and the digest hang off its key (``ON UPDATE CASCADE``
lets a moved Telegram group take them along). SQLite specifics (``ON CONFLICT`` upserts) stay
in this file; the public methods are the contract (``kcrush_bot.core.ports.ChatRepo``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from kcrush_bot.core.models import ChatKind, ChatRef, DigestSchedule, Mode, Subscription
from kcrush_bot.storage.db import Database, marks, to_db_time
from kcrush_bot.storage.rows import (
    DIGESTS,
    REASON_CHARS,
    SUBSCRIPTIONS,
    chat_of,
    digest_of,
    subscription_of,
)


class ChatRepository:
    """Chats, subscriptions and digests over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- chats -------------------------------------------------------------------------------

    async def ensure(
        self, chat: ChatRef, *, title: str | None = None, kind: ChatKind | None = None
    ) -> None:
        async with self._db.transaction() as conn:
            await self._ensure(conn, chat, title=title, kind=kind)

    async def _ensure(
        self,
        conn: aiosqlite.Connection,
        chat: ChatRef,
        *,
        title: str | None = None,
        kind: ChatKind | None = None,
    ) -> None:
        """Inside a transaction: the chat row exists (title and kind refreshed when known)."""
        stamp = self._db.now_db()
        await conn.execute(
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

    async def deactivate(self, chat: ChatRef, reason: str) -> None:
        """The platform said this chat cannot be reached: stop sending, keep the reason."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET active = 0, inactive_reason = ? WHERE key = ?",
                (reason[:REASON_CHARS], chat.key),
            )
            await conn.execute(
                "UPDATE subscriptions SET active = 0, inactive_reason = ? WHERE chat_key = ?",
                (reason[:REASON_CHARS], chat.key),
            )

    async def inactive(self) -> list[tuple[ChatRef, str]]:
        """Chats the platforms said cannot be reached, with the reason recorded."""
        rows = await self._db.all(
            "SELECT platform, chat_id, thread_id, coalesce(inactive_reason, '') AS reason "
            "FROM chats WHERE active = 0 ORDER BY key"
        )
        return [(chat_of(r), r["reason"]) for r in rows]

    async def move(self, old: ChatRef, new: ChatRef) -> None:
        """Telegram moved a group to a supergroup: everything of the old id follows it."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chats SET key = ?, chat_id = ?, updated_at = ? WHERE key = ?",
                (new.key, new.chat_id, self._db.now_db(), old.key),
            )

    async def counts(self) -> tuple[int, int, int]:
        """(chats, subscriptions, active subscriptions): the figures ``stats`` reports."""
        row = await self._db.one(
            "SELECT (SELECT count(*) FROM chats) AS chats, "
            "(SELECT count(*) FROM subscriptions) AS subs, "
            "(SELECT count(*) FROM subscriptions WHERE active = 1) AS active"
        )
        if row is None:
            return 0, 0, 0
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
        stamp = self._db.now_db()
        async with self._db.transaction() as conn:
            await self._ensure(conn, chat, title=title, kind=kind)
            await conn.execute(
                "UPDATE chats SET active = 1, inactive_reason = NULL WHERE key = ?", (chat.key,)
            )
            for slug in categories:
                await conn.execute(
                    "INSERT INTO subscriptions (chat_key, category, mode, keywords, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (chat_key, category) DO UPDATE SET mode = excluded.mode, "
                    "keywords = excluded.keywords, active = 1, inactive_reason = NULL, "
                    "updated_at = excluded.updated_at",
                    (chat.key, slug, mode.value, " ".join(keywords), stamp, stamp),
                )

    async def set_delivery(self, chat: ChatRef, mode: Mode) -> list[str]:
        """Give every subscription of ``chat`` the mode ``mode``; returns their categories."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE subscriptions SET mode = ?, updated_at = ? WHERE chat_key = ?",
                (mode.value, self._db.now_db(), chat.key),
            )
        rows = await self._db.all(
            "SELECT category FROM subscriptions WHERE chat_key = ? ORDER BY category",
            (chat.key,),
        )
        return [row["category"] for row in rows]

    async def unsubscribe(self, chat: ChatRef, categories: Sequence[str] | None) -> int:
        """Remove the chat's subscriptions to ``categories`` (all when None); returns how many."""
        async with self._db.transaction() as conn:
            if categories is None:
                cursor = await conn.execute(
                    "DELETE FROM subscriptions WHERE chat_key = ?", (chat.key,)
                )
            else:
                cursor = await conn.execute(
                    "DELETE FROM subscriptions WHERE chat_key = ? "
                    f"AND category IN ({marks(categories)})",
                    (chat.key, *categories),
                )
            return int(cursor.rowcount or 0)

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]:
        if chat is None:
            rows = await self._db.all(f"{SUBSCRIPTIONS} ORDER BY c.key, s.category")
        else:
            rows = await self._db.all(
                f"{SUBSCRIPTIONS} WHERE s.chat_key = ? ORDER BY c.key, s.category", (chat.key,)
            )
        return [subscription_of(r) for r in rows]

    # -- digests -----------------------------------------------------------------------------

    async def set_digest(self, schedule: DigestSchedule) -> None:
        stamp = self._db.now_db()
        async with self._db.transaction() as conn:
            await self._ensure(conn, schedule.chat)
            await conn.execute(
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
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM digests WHERE chat_key = ?", (chat.key,))
            return bool(cursor.rowcount)

    async def digests(self, chat: ChatRef | None = None) -> list[DigestSchedule]:
        if chat is None:
            rows = await self._db.all(f"{DIGESTS} ORDER BY c.key")
        else:
            rows = await self._db.all(f"{DIGESTS} WHERE d.chat_key = ? ORDER BY c.key", (chat.key,))
        return [digest_of(r) for r in rows]

    async def mark_digest_sent(self, chat: ChatRef, at: datetime) -> None:
        """One statement, no transaction of its own: the publisher calls it inside the
        transaction that enqueues the digest, so both commit together or neither does."""
        await self._db.connection.execute(
            "UPDATE digests SET last_sent_at = ? WHERE chat_key = ?", (to_db_time(at), chat.key)
        )
