"""The sources repository on PostgreSQL: each source's poll state and its health.

The same public methods as the SQLite ``SourceRepository``. ``state`` gives times in the
SQLite store's stored form (``storage.db.to_db_time``), as ingest reads them from either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kcrush_bot.core.models import SourceHealth
from kcrush_bot.storage.postgres.db import PgDatabase, affected, clean_or_none, maybe_utc
from kcrush_bot.storage.rows import (
    SOURCE_STATE_COLUMNS,
    SOURCES_HEALTH,
    poll_error,
    source_health_of,
    source_state_of,
)


class PgSourceRepository:
    """Sources' poll state over the shared PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def state(self, name: str) -> dict[str, Any] | None:
        """The stored row of a source by column name, or None if never polled."""
        row = await self._db.one(
            f"SELECT {', '.join(SOURCE_STATE_COLUMNS)} FROM sources WHERE name = $1", name
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
        stamp = self._db.now_utc()
        nxt = maybe_utc(next_poll_at)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sources (name, kind, url) VALUES ($1, $2, $3) "
                "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url",
                name,
                kind,
                url,
            )
            if ok:
                await conn.execute(
                    "UPDATE sources SET etag = $1, last_modified = $2, "
                    "first_seen_at = coalesce(first_seen_at, $3), last_polled_at = $3, "
                    "last_ok_at = $3, last_error = NULL, failures = 0, next_poll_at = $4, "
                    "cursor = $6 WHERE name = $5",
                    clean_or_none(etag),
                    clean_or_none(last_modified),
                    stamp,
                    nxt,
                    name,
                    clean_or_none(cursor),
                )
            else:
                await conn.execute(
                    "UPDATE sources SET last_polled_at = $1, last_error = $2, "
                    "failures = failures + 1, next_poll_at = $3 WHERE name = $4",
                    stamp,
                    poll_error(clean_or_none(error)),
                    nxt,
                    name,
                )

    async def remove(self, name: str) -> bool:
        """Forget a source's poll state (its posts stay in the archive). False if unknown."""
        return affected(await self._db.execute("DELETE FROM sources WHERE name = $1", name)) > 0

    async def health(self) -> list[SourceHealth]:
        return [source_health_of(r) for r in await self._db.all(SOURCES_HEALTH)]

    async def last_poll_at(self) -> datetime | None:
        """When any source was last polled."""
        value: datetime | None = await self._db.value("SELECT max(last_polled_at) FROM sources")
        return value
