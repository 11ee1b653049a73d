"""The sources repository on PostgreSQL: each source's poll state and its health.

The same public methods as the SQLite ``SourceRepository``. ``state`` gives times in the
SQLite store's stored form (``storage.db.to_db_time``), as ingest reads them from either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kcrush_bot.core.models import SourceHealth
from kcrush_bot.storage.db import to_db_time
from kcrush_bot.storage.postgres.db import PgDatabase, clean, clean_or_none, maybe_utc

ERROR_CHARS = 500

_STATE_COLUMNS = (
    "name",
    "kind",
    "url",
    "etag",
    "last_modified",
    "first_seen_at",
    "last_polled_at",
    "last_ok_at",
    "last_error",
    "failures",
    "next_poll_at",
    "cursor",
)


def _stored(value: Any) -> Any:
    return to_db_time(value) if isinstance(value, datetime) else value


class PgSourceRepository:
    """Sources' poll state over the shared PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def state(self, name: str) -> dict[str, Any] | None:
        """The stored row of a source by column name, or None if never polled."""
        row = await self._db.one(
            f"SELECT {', '.join(_STATE_COLUMNS)} FROM sources WHERE name = $1", name
        )
        return {key: _stored(row[key]) for key in _STATE_COLUMNS} if row else None

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
                    clean(error or "failed")[:ERROR_CHARS],
                    nxt,
                    name,
                )

    async def remove(self, name: str) -> bool:
        """Forget a source's poll state (its posts stay in the archive). False if unknown."""
        result = await self._db.execute("DELETE FROM sources WHERE name = $1", name)
        return not result.endswith(" 0")

    async def health(self) -> list[SourceHealth]:
        rows = await self._db.all(
            "SELECT name, kind, url, last_polled_at, last_ok_at, last_error, failures, "
            "next_poll_at FROM sources ORDER BY name"
        )
        return [
            SourceHealth(
                name=r["name"],
                kind=r["kind"],
                url=r["url"],
                state="failing" if r["failures"] else ("ok" if r["last_ok_at"] else "new"),
                last_polled_at=r["last_polled_at"],
                last_ok_at=r["last_ok_at"],
                last_error=r["last_error"],
                failures=r["failures"],
                next_poll_at=r["next_poll_at"],
            )
            for r in rows
        ]

    async def last_poll_at(self) -> datetime | None:
        """When any source was last polled."""
        value: datetime | None = await self._db.value("SELECT max(last_polled_at) FROM sources")
        return value
