"""The outbox's SQL for a post's life after delivery on PostgreSQL (the SQLite store's
``storage.outbox_life``): the rows of changed posts, and what the publisher decided for them.
A mixin of ``PgOutbox``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from kcrush_bot.storage.db import as_utc
from kcrush_bot.storage.outbox_life import POST_KINDS
from kcrush_bot.storage.outbox_rows import PostMessage, PostPlan
from kcrush_bot.storage.postgres.db import PgDatabase, clean


class PgPostMessages:
    """``PgOutbox``'s queries about posts' delivered messages."""

    db: PgDatabase

    async def post_messages(self, post_ids: list[int] | tuple[int, ...]) -> list[PostMessage]:
        """Every delivery, edit and withdrawal row of these posts."""
        items = [f"{kind}:{post_id}" for post_id in post_ids for kind in POST_KINDS]
        rows = await self.db.all(
            "SELECT id, item, chat_key, status, payload, message_id, sent_at, shown, "
            "last_error, due_at FROM outbox WHERE item = ANY($1::text[]) ORDER BY id",
            items,
        )
        found = []
        for r in rows:
            kind, _, number = str(r["item"]).partition(":")
            found.append(
                PostMessage(
                    id=int(r["id"]),
                    post_id=int(number),
                    kind=kind,
                    chat_key=r["chat_key"],
                    status=r["status"],
                    payload=r["payload"],
                    message_id=r["message_id"],
                    sent_at=r["sent_at"],
                    shown=r["shown"],
                    last_error=r["last_error"],
                    due_at=r["due_at"],
                )
            )
        return found

    async def follow_posts(self, db: asyncpg.Connection, plan: PostPlan, now: datetime) -> None:
        """Inside the caller's transaction: apply what ``publisher.changes`` decided for the
        messages of changed posts."""
        when = as_utc(now)
        if plan.drop:
            await db.executemany(
                "UPDATE outbox SET status = 'dropped', last_error = $1, claimed_at = NULL "
                "WHERE id = $2 AND status = 'pending'",
                [(reason, row_id) for row_id, reason in plan.drop],
            )
        if plan.refresh:
            await db.executemany(
                "UPDATE outbox SET payload = $1 WHERE id = $2 AND status = 'pending'",
                [(clean(payload), row_id) for row_id, payload in plan.refresh],
            )
        if plan.resend:
            # Delivered again as new: a message that was deleted, or never sent.
            await db.executemany(
                "UPDATE outbox SET status = 'pending', payload = $1, due_at = $2, attempts = 0, "
                "message_id = NULL, sent_at = NULL, shown = NULL, claimed_at = NULL, "
                "last_error = NULL WHERE id = $3 AND status IN ('sent', 'dropped')",
                [(clean(payload), when, row_id) for row_id, payload in plan.resend],
            )
        if plan.arm:
            # One edit or withdrawal row per (post, chat): armed again when it was done before;
            # a pending one takes the new payload and keeps its due time.
            rows: list[tuple[Any, ...]] = [
                (
                    row.item,
                    row.chat_key,
                    clean(json.dumps(row.payload, ensure_ascii=False, separators=(",", ":"))),
                    row.sort_key,
                    as_utc(due),
                    when,
                )
                for row, due in plan.arm
            ]
            await db.executemany(
                "INSERT INTO outbox AS o (item, chat_key, payload, sort_key, due_at, created_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (item, chat_key) DO UPDATE SET "
                "payload = excluded.payload, "
                "due_at = CASE WHEN o.status = 'pending' THEN o.due_at ELSE excluded.due_at END, "
                "sort_key = CASE WHEN o.status = 'pending' THEN o.sort_key "
                "ELSE excluded.sort_key END, "
                "status = 'pending', attempts = 0, last_error = NULL, message_id = NULL, "
                "sent_at = NULL, claimed_at = NULL WHERE o.status <> 'sending'",
                rows,
            )

    async def followed(self) -> dict[str, int]:
        """How many sent messages were edited (``edits``) and deleted or made tombstones
        (``withdrawals``) because their post changed, as far as the outbox remembers."""
        row = await self.db.one(
            "SELECT count(*) FILTER (WHERE item LIKE 'edit:%') AS edits, "
            "count(*) FILTER (WHERE item LIKE 'withdraw:%') AS withdrawals "
            "FROM outbox WHERE status = 'sent'"
        )
        return {"edits": int(row["edits"]), "withdrawals": int(row["withdrawals"])} if row else {}
