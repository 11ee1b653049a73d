"""The sources repository: each source's poll state (validators, schedule) and its health.

The public methods are the contract (``kcrush_bot.core.ports.SourceRepo``); SQLite's
``ON CONFLICT`` upsert stays in this file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kcrush_bot.core.models import SourceHealth
from kcrush_bot.storage.db import Database, from_db_time, to_db_time
from kcrush_bot.storage.rows import (
    SOURCE_STATE_COLUMNS,
    SOURCES_HEALTH,
    poll_error,
    source_health_of,
    source_state_of,
)


class SourceRepository:
    """Sources' poll state over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def state(self, name: str) -> dict[str, Any] | None:
        """The stored row of a source by column name (times as stored), or None if never polled."""
        row = await self._db.one(
            f"SELECT {', '.join(SOURCE_STATE_COLUMNS)} FROM sources WHERE name = ?", (name,)
        )
        return source_state_of(row) if row else None

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
        cursor: str | None = None,
    ) -> None:
        """Remember a poll's outcome: validators for the next conditional GET and the kind's
        cursor for the next poll, or the failure (which keeps both as they were)."""
        stamp = self._db.now_db()
        nxt = to_db_time(next_poll_at)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sources (name, kind, url) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url",
                (name, kind, url),
            )
            if ok:
                await conn.execute(
                    "UPDATE sources SET etag = ?, last_modified = ?, cursor = ?, "
                    "first_seen_at = coalesce(first_seen_at, ?), last_polled_at = ?, "
                    "last_ok_at = ?, last_error = NULL, failures = 0, next_poll_at = ? "
                    "WHERE name = ?",
                    (etag, last_modified, cursor, stamp, stamp, stamp, nxt, name),
                )
            else:
                await conn.execute(
                    "UPDATE sources SET last_polled_at = ?, last_error = ?, "
                    "failures = failures + 1, next_poll_at = ? WHERE name = ?",
                    (stamp, poll_error(error), nxt, name),
                )

    async def health(self) -> list[SourceHealth]:
        return [source_health_of(r) for r in await self._db.all(SOURCES_HEALTH)]

    async def remove(self, name: str) -> bool:
        """Forget a source's poll state (its posts stay in the archive). False if unknown."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute("DELETE FROM sources WHERE name = ?", (name,))
            return cursor.rowcount > 0

    async def last_poll_at(self) -> datetime | None:
        """When any source was last polled."""
        row = await self._db.one("SELECT max(last_polled_at) AS last FROM sources")
        return from_db_time(row["last"]) if row else None
