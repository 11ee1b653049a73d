"""The WebSub repository on PostgreSQL: the same public methods as the SQLite
``WebSubRepository``, the same ``WebSubRow`` back."""

from __future__ import annotations

from datetime import datetime, timedelta

from kcrush_bot.storage.postgres.db import PgDatabase, clean, clean_or_none
from kcrush_bot.storage.websub import ERROR_CHARS, WEBSUB_COLUMNS, WebSubRow, websub_row_of


class PgWebSubRepository:
    """WebSub subscriptions over the shared PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def get(self, source: str) -> WebSubRow | None:
        row = await self._db.one(f"SELECT {WEBSUB_COLUMNS} FROM websub WHERE source = $1", source)
        return websub_row_of(row) if row else None

    async def all(self) -> list[WebSubRow]:
        rows = await self._db.all(f"SELECT {WEBSUB_COLUMNS} FROM websub ORDER BY 1")
        return [websub_row_of(r) for r in rows]

    async def requested(
        self, source: str, hub: str, topic: str, secret: str, lease_seconds: int
    ) -> None:
        await self._db.execute(
            "INSERT INTO websub (source, hub, topic, secret, state, lease_seconds, requested_at) "
            "VALUES ($1, $2, $3, $4, 'requested', $5, $6) "
            "ON CONFLICT (source) DO UPDATE SET hub = excluded.hub, topic = excluded.topic, "
            "secret = excluded.secret, state = 'requested', "
            "lease_seconds = excluded.lease_seconds, requested_at = excluded.requested_at, "
            "last_error = NULL",
            clean(source),
            clean(hub),
            clean(topic),
            secret,
            lease_seconds,
            self._db.now_utc(),
        )

    async def verified(self, source: str, lease_seconds: int) -> datetime:
        now = self._db.now_utc()
        expires = now + timedelta(seconds=lease_seconds)
        await self._db.execute(
            "UPDATE websub SET state = 'verified', lease_seconds = $1, verified_at = $2, "
            "expires_at = $3, last_error = NULL WHERE source = $4",
            lease_seconds,
            now,
            expires,
            source,
        )
        return expires

    async def set_state(self, source: str, state: str, error: str | None = None) -> None:
        await self._db.execute(
            "UPDATE websub SET state = $1, last_error = $2 WHERE source = $3",
            state,
            clean_or_none(error[:ERROR_CHARS] if error else None),
            source,
        )

    async def delivered(self, source: str) -> None:
        await self._db.execute(
            "UPDATE websub SET deliveries = deliveries + 1, last_delivery_at = $1 "
            "WHERE source = $2",
            self._db.now_utc(),
            source,
        )

    async def remove(self, source: str) -> None:
        await self._db.execute("DELETE FROM websub WHERE source = $1", source)
