"""The announcements repository: drafts, their confirmation, and the moderators' audit log.

The public methods are the contract (``kcrush_bot.core.ports.AnnouncementRepo``). Fan-out of a
confirmed announcement is the outbox's business (``storage/outbox.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kcrush_bot.core.models import Announcement, ChatRef
from kcrush_bot.storage.db import Database, to_db_time
from kcrush_bot.storage.rows import (
    ANNOUNCEMENT_COLUMNS,
    AUDIT_LOG,
    announcement_of,
    audit_detail,
    audit_entry_of,
)


class AnnouncementRepository:
    """Announcements and the audit log over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        text: str,
        category: str | None,
        author: str,
        *,
        scheduled_for: datetime | None = None,
    ) -> int:
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO announcements (text, category, author, created_at, scheduled_for) "
                "VALUES (?, ?, ?, ?, ?)",
                (text, category, author, self._db.now_db(), to_db_time(scheduled_for)),
            )
            return int(cursor.lastrowid or 0)

    async def get(self, announcement_id: int) -> Announcement | None:
        row = await self._db.one(
            f"SELECT {ANNOUNCEMENT_COLUMNS} FROM announcements WHERE id = ?", (announcement_id,)
        )
        return None if row is None else announcement_of(row)

    async def waiting(self) -> list[Announcement]:
        """Confirmed announcements not yet handed to the outbox: scheduled ones, and any a bot
        has not picked up yet (none is running, or it has not looked since), by id."""
        rows = await self._db.all(
            f"SELECT {ANNOUNCEMENT_COLUMNS} FROM announcements "
            "WHERE status = 'confirmed' AND enqueued_at IS NULL ORDER BY id"
        )
        return [announcement_of(row) for row in rows]

    async def cancel(self, announcement_id: int) -> bool:
        """Cancel a draft or a confirmed announcement that has not gone out; False otherwise."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE announcements SET status = 'cancelled' WHERE id = ? "
                "AND status IN ('draft', 'confirmed') AND enqueued_at IS NULL",
                (announcement_id,),
            )
            return bool(cursor.rowcount)

    async def set_status(self, announcement_id: int, status: str, *, expect: str = "draft") -> bool:
        """Move a draft to confirmed or cancelled; False if it was not in ``expect`` (a double
        press of the confirm button does nothing the second time)."""
        confirmed = self._db.now_db() if status == "confirmed" else None
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE announcements SET status = ?, confirmed_at = coalesce(?, confirmed_at) "
                "WHERE id = ? AND status = ?",
                (status, confirmed, announcement_id, expect),
            )
            return bool(cursor.rowcount)

    async def audit(
        self, actor: str, action: str, *, chat: ChatRef | None = None, detail: Any = ""
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO audit_log (at, actor, action, chat_key, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    self._db.now_db(),
                    actor,
                    action,
                    chat.key if chat else None,
                    audit_detail(detail),
                ),
            )

    async def audit_log(self, limit: int = 50) -> list[dict[str, Any]]:
        return [audit_entry_of(r) for r in await self._db.all(f"{AUDIT_LOG} LIMIT ?", (limit,))]
