"""The outbox's SQL for a post's life after delivery: the rows of changed posts, and what the
publisher decided for them (``publisher.changes``).

A mixin of ``Outbox``: the same table and transactions, kept apart so each module stays about
one thing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from kcrush_bot.storage.db import Database, as_utc, from_db_time, to_db_time
from kcrush_bot.storage.outbox_rows import PostMessage, PostPlan

POST_KINDS = ("post", "edit", "withdraw")
_CHUNK = 450  # items per query, under SQLite's host-parameter limit


class PostMessages:
    """``Outbox``'s queries about posts' delivered messages."""

    db: Database

    async def post_messages(self, post_ids: Sequence[int]) -> list[PostMessage]:
        """Every delivery, edit and withdrawal row of these posts."""
        items = [f"{kind}:{post_id}" for post_id in post_ids for kind in POST_KINDS]
        found: list[PostMessage] = []
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            async with self.db.connection.execute(
                "SELECT id, item, chat_key, status, payload, message_id, sent_at, shown, "
                f"last_error, due_at FROM outbox WHERE item IN ({','.join('?' * len(chunk))}) "
                "ORDER BY id",
                chunk,
            ) as cursor:
                for r in await cursor.fetchall():
                    kind, _, number = str(r[1]).partition(":")
                    found.append(
                        PostMessage(
                            id=int(r[0]),
                            post_id=int(number),
                            kind=kind,
                            chat_key=r[2],
                            status=r[3],
                            payload=r[4],
                            message_id=r[5],
                            sent_at=from_db_time(r[6]),
                            shown=r[7],
                            last_error=r[8],
                            due_at=from_db_time(r[9]) or as_utc(datetime.min),
                        )
                    )
        return found

    async def follow_posts(self, db: aiosqlite.Connection, plan: PostPlan, now: datetime) -> None:
        """Inside the caller's transaction: apply what ``publisher.changes`` decided for the
        messages of changed posts."""
        when = to_db_time(now)
        if plan.drop:
            await db.executemany(
                "UPDATE outbox SET status = 'dropped', last_error = ?, claimed_at = NULL "
                "WHERE id = ? AND status = 'pending'",
                [(reason, row_id) for row_id, reason in plan.drop],
            )
        if plan.refresh:
            await db.executemany(
                "UPDATE outbox SET payload = ? WHERE id = ? AND status = 'pending'",
                [(payload, row_id) for row_id, payload in plan.refresh],
            )
        if plan.resend:
            # Delivered again as new: a message that was deleted, or never sent.
            await db.executemany(
                "UPDATE outbox SET status = 'pending', payload = ?, due_at = ?, attempts = 0, "
                "message_id = NULL, sent_at = NULL, shown = NULL, claimed_at = NULL, "
                "last_error = NULL WHERE id = ? AND status IN ('sent', 'dropped')",
                [(payload, when, row_id) for row_id, payload in plan.resend],
            )
        if plan.arm:
            # One edit or withdrawal row per (post, chat): armed again when it was done before;
            # a pending one takes the new payload and keeps its due time (the debounce window
            # counts from the first change).
            await db.executemany(
                "INSERT INTO outbox (item, chat_key, payload, sort_key, due_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item, chat_key) DO UPDATE SET "
                "payload = excluded.payload, "
                "due_at = CASE WHEN status = 'pending' THEN due_at ELSE excluded.due_at END, "
                "sort_key = CASE WHEN status = 'pending' THEN sort_key "
                "ELSE excluded.sort_key END, "
                "status = 'pending', attempts = 0, last_error = NULL, message_id = NULL, "
                "sent_at = NULL, claimed_at = NULL WHERE status != 'sending'",
                [
                    (
                        row.item,
                        row.chat_key,
                        json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")),
                        row.sort_key,
                        to_db_time(due),
                        when,
                    )
                    for row, due in plan.arm
                ],
            )

    async def followed(self) -> dict[str, int]:
        """How many sent messages were edited (``edits``) and deleted or made tombstones
        (``withdrawals``) because their post changed, as far as the outbox remembers."""
        async with self.db.connection.execute(
            "SELECT sum(item LIKE 'edit:%'), sum(item LIKE 'withdraw:%') FROM outbox "
            "WHERE status = 'sent' AND (item LIKE 'edit:%' OR item LIKE 'withdraw:%')"
        ) as cursor:
            row = await cursor.fetchone()
        return {"edits": int(row[0] or 0), "withdrawals": int(row[1] or 0)} if row else {}
