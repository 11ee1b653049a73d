"""The WebSub repository: each feed source's subscription at its hub, and its lease.

One row per source (``websub`` table): the hub and topic asked for, the ``hub.secret``
deliveries are signed with, where the subscription stands, and when its lease runs out. Push
(``push.websub``) is its one user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from kcrush_bot.storage.db import Database, to_db_time
from kcrush_bot.storage.rows import Row, read_time, required_time

ERROR_CHARS = 300

# What both backends read of a subscription, made into a ``WebSubRow`` by ``websub_row_of``.
WEBSUB_COLUMNS = (
    "source, hub, topic, secret, state, lease_seconds, requested_at, verified_at, expires_at, "
    "last_error, deliveries, last_delivery_at"
)


@dataclass(frozen=True, slots=True)
class WebSubRow:
    source: str
    hub: str
    topic: str
    secret: str
    state: str  # requested, verified, denied, failed, unsubscribing
    lease_seconds: int
    requested_at: datetime
    verified_at: datetime | None
    expires_at: datetime | None
    last_error: str | None
    deliveries: int
    last_delivery_at: datetime | None

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"WebSubRow(source={self.source!r}, hub={self.hub!r}, state={self.state!r})"


def websub_row_of(r: Row) -> WebSubRow:
    """A row of ``WEBSUB_COLUMNS``, on either backend."""
    return WebSubRow(
        source=r["source"],
        hub=r["hub"],
        topic=r["topic"],
        secret=r["secret"],
        state=r["state"],
        lease_seconds=int(r["lease_seconds"]),
        requested_at=required_time(r["requested_at"]),
        verified_at=read_time(r["verified_at"]),
        expires_at=read_time(r["expires_at"]),
        last_error=r["last_error"],
        deliveries=int(r["deliveries"]),
        last_delivery_at=read_time(r["last_delivery_at"]),
    )


class WebSubRepo(Protocol):
    """``store.websub`` on either backend (``WebSubRepository`` here, ``PgWebSubRepository``
    on PostgreSQL)."""

    async def get(self, source: str) -> WebSubRow | None: ...

    async def all(self) -> list[WebSubRow]: ...

    async def requested(
        self, source: str, hub: str, topic: str, secret: str, lease_seconds: int
    ) -> None: ...

    async def verified(self, source: str, lease_seconds: int) -> datetime: ...

    async def set_state(self, source: str, state: str, error: str | None = None) -> None: ...

    async def delivered(self, source: str) -> None: ...

    async def remove(self, source: str) -> None: ...


class WebSubRepository:
    """WebSub subscriptions over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, source: str) -> WebSubRow | None:
        row = await self._db.one(f"SELECT {WEBSUB_COLUMNS} FROM websub WHERE source = ?", (source,))
        return websub_row_of(row) if row else None

    async def all(self) -> list[WebSubRow]:
        rows = await self._db.all(f"SELECT {WEBSUB_COLUMNS} FROM websub ORDER BY 1")
        return [websub_row_of(r) for r in rows]

    async def requested(
        self, source: str, hub: str, topic: str, secret: str, lease_seconds: int
    ) -> None:
        """A (re)subscription was asked for. A renewal keeps the lease it has until the hub
        verifies the new one."""
        now = self._db.now_db()
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO websub (source, hub, topic, secret, state, lease_seconds, "
                "requested_at) VALUES (?, ?, ?, ?, 'requested', ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET hub = excluded.hub, topic = excluded.topic, "
                "secret = excluded.secret, state = 'requested', "
                "lease_seconds = excluded.lease_seconds, requested_at = excluded.requested_at, "
                "last_error = NULL",
                (source, hub, topic, secret, lease_seconds, now),
            )

    async def verified(self, source: str, lease_seconds: int) -> datetime:
        """The hub verified our intent and granted ``lease_seconds``; returns the expiry."""
        now = self._db.now_utc()
        expires = now + timedelta(seconds=lease_seconds)
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE websub SET state = 'verified', lease_seconds = ?, verified_at = ?, "
                "expires_at = ?, last_error = NULL WHERE source = ?",
                (lease_seconds, to_db_time(now), to_db_time(expires), source),
            )
        return expires

    async def set_state(self, source: str, state: str, error: str | None = None) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE websub SET state = ?, last_error = ? WHERE source = ?",
                (state, error[:ERROR_CHARS] if error else None, source),
            )

    async def delivered(self, source: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE websub SET deliveries = deliveries + 1, last_delivery_at = ? "
                "WHERE source = ?",
                (self._db.now_db(), source),
            )

    async def remove(self, source: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM websub WHERE source = ?", (source,))
