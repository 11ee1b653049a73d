"""The announcements repository on PostgreSQL: drafts, their confirmation, and the audit log.

The same public methods as the SQLite ``AnnouncementRepository``; ``audit_log`` gives times in
the SQLite store's stored form, as that one does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kcrush_bot.core.models import Announcement, ChatRef
from kcrush_bot.storage.postgres.db import PgDatabase, affected, clean, clean_or_none, maybe_utc
from kcrush_bot.storage.rows import (
    ANNOUNCEMENT_COLUMNS,
    AUDIT_LOG,
    announcement_of,
    audit_detail,
    audit_entry_of,
)


class PgAnnouncementRepository:
    """Announcements and the audit log over the shared PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def create(
        self,
        text: str,
        category: str | None,
        author: str,
        *,
        scheduled_for: datetime | None = None,
    ) -> int:
        new_id = await self._db.value(
            "INSERT INTO announcements (text, category, author, created_at, scheduled_for) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            clean(text),
            clean_or_none(category),
            clean(author),
            self._db.now_utc(),
            maybe_utc(scheduled_for),
        )
        return int(new_id)

    async def get(self, announcement_id: int) -> Announcement | None:
        row = await self._db.one(
            f"SELECT {ANNOUNCEMENT_COLUMNS} FROM announcements WHERE id = $1", announcement_id
        )
        return None if row is None else announcement_of(row)

    async def waiting(self) -> list[Announcement]:
        """Confirmed announcements not yet handed to the outbox, by id."""
        rows = await self._db.all(
            f"SELECT {ANNOUNCEMENT_COLUMNS} FROM announcements "
            "WHERE status = 'confirmed' AND enqueued_at IS NULL ORDER BY id"
        )
        return [announcement_of(row) for row in rows]

    async def cancel(self, announcement_id: int) -> bool:
        """Cancel a draft or a confirmed announcement that has not gone out; False otherwise."""
        result = await self._db.execute(
            "UPDATE announcements SET status = 'cancelled' WHERE id = $1 "
            "AND status IN ('draft', 'confirmed') AND enqueued_at IS NULL",
            announcement_id,
        )
        return affected(result) > 0

    async def set_status(self, announcement_id: int, status: str, *, expect: str = "draft") -> bool:
        """Move a draft to confirmed or cancelled; False if it was not in ``expect`` (a double
        press of the confirm button does nothing the second time)."""
        confirmed = self._db.now_utc() if status == "confirmed" else None
        result = await self._db.execute(
            "UPDATE announcements SET status = $1, confirmed_at = coalesce($2, confirmed_at) "
            "WHERE id = $3 AND status = $4",
            status,
            confirmed,
            announcement_id,
            expect,
        )
        return affected(result) > 0

    async def audit(
        self, actor: str, action: str, *, chat: ChatRef | None = None, detail: Any = ""
    ) -> None:
        await self._db.execute(
            "INSERT INTO audit_log (at, actor, action, chat_key, detail) "
            "VALUES ($1, $2, $3, $4, $5)",
            self._db.now_utc(),
            actor,
            action,
            chat.key if chat else None,
            audit_detail(detail),  # ``execute`` cleans every text, as ``db.clean`` says
        )

    async def audit_log(self, limit: int = 50) -> list[dict[str, Any]]:
        return [audit_entry_of(r) for r in await self._db.all(f"{AUDIT_LOG} LIMIT $1", limit)]
