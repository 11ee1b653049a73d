"""Replicas on one PostgreSQL database: a lease for the singleton duties, and a heartbeat table.

Several ``kcrush-bot run`` processes may share a database. Source polls, digests, scheduled
announcements and Telegram long polling must run in exactly one of them: that one holds the
lease, a row with an expiry that its holder renews well before it runs out. When the holder
dies, the row expires and the next replica to try takes it over; its ``generation`` goes up on
every change of holder, so work stamped with an older generation can be told apart.

Expiry is judged by the database's clock (``now()``) alone: replicas' clocks may disagree, the
server's is one.

The heartbeat table says which replicas are alive and what each is doing: the delivery worker
divides a platform's limit by the replicas alive, and ``status`` shows them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kcrush_bot.storage.postgres.db import PgDatabase

SINGLETON = "singleton"
PAUSE = "pause:"  # a lease row per platform under a shared 429 pause: "pause:telegram"


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease, since when, until when, and how many holders it has had."""

    name: str
    holder: str
    generation: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Replica:
    id: str
    started_at: datetime
    seen_at: datetime
    detail: dict[str, Any]


class PgReplicaRepository:
    """Leases and heartbeats in the shared database."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def acquire(self, holder: str, ttl: timedelta, name: str = SINGLETON) -> Lease | None:
        """Take the lease, or renew it if ``holder`` has it; None while another holds it.

        One statement: two replicas trying at once cannot both win, since the row's lock
        orders them and the second sees the first's unexpired claim.
        """
        row = await self._db.one(
            """
            INSERT INTO leases AS l (name, holder, generation, acquired_at, expires_at)
            VALUES ($1, $2, 1, now(), now() + $3::interval)
            ON CONFLICT (name) DO UPDATE SET
                holder = excluded.holder,
                expires_at = excluded.expires_at,
                generation = l.generation + (l.holder <> excluded.holder)::int,
                acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at
                                   ELSE excluded.acquired_at END
             WHERE l.holder = excluded.holder OR l.expires_at <= now()
            RETURNING name, holder, generation, acquired_at, expires_at
            """,
            name,
            holder,
            ttl,
        )
        return Lease(**dict(row)) if row else None

    async def release(self, holder: str, name: str = SINGLETON) -> bool:
        """Give the lease up at once (a clean shutdown), so another need not wait for expiry."""
        status = await self._db.execute(
            "UPDATE leases SET expires_at = now() WHERE name = $1 AND holder = $2", name, holder
        )
        return status.endswith(" 1")

    async def holder(self, name: str = SINGLETON) -> Lease | None:
        """The lease as it stands, if anyone holds it unexpired."""
        row = await self._db.one(
            "SELECT name, holder, generation, acquired_at, expires_at FROM leases "
            "WHERE name = $1 AND expires_at > now()",
            name,
        )
        return Lease(**dict(row)) if row else None

    async def heartbeat(self, replica: str, detail: dict[str, Any] | None = None) -> None:
        """This replica is alive (and doing ``detail``)."""
        await self._db.execute(
            """
            INSERT INTO replicas (id, started_at, seen_at, detail)
            VALUES ($1, now(), now(), $2::jsonb)
            ON CONFLICT (id) DO UPDATE SET seen_at = now(), detail = excluded.detail
            """,
            replica,
            json.dumps(detail or {}, ensure_ascii=False),
        )

    async def alive(self, within: timedelta) -> list[Replica]:
        """Replicas seen within ``within``, oldest first."""
        rows = await self._db.all(
            "SELECT id, started_at, seen_at, detail FROM replicas "
            "WHERE seen_at > now() - $1::interval ORDER BY started_at, id",
            within,
        )
        return [
            Replica(r["id"], r["started_at"], r["seen_at"], json.loads(r["detail"])) for r in rows
        ]

    async def leave(self, replica: str) -> None:
        """A clean shutdown: the others stop counting this replica at once."""
        await self._db.execute("DELETE FROM replicas WHERE id = $1", replica)

    async def forget(self, older_than: timedelta) -> int:
        """Drop rows of replicas not seen for ``older_than`` (crashed ones leave theirs)."""
        status = await self._db.execute(
            "DELETE FROM replicas WHERE seen_at < now() - $1::interval", older_than
        )
        return int(status.split()[-1])

    async def pause(self, platform: str, seconds: float, replica: str) -> None:
        """A 429 told ``replica`` to pause all sends to ``platform``: every replica pauses."""
        await self._db.execute(
            """
            INSERT INTO leases AS l (name, holder, generation, acquired_at, expires_at)
            VALUES ($1, $2, 1, now(), now() + $3::interval)
            ON CONFLICT (name) DO UPDATE SET
                holder = excluded.holder,
                acquired_at = excluded.acquired_at,
                expires_at = GREATEST(l.expires_at, excluded.expires_at)
            """,
            PAUSE + platform,
            replica,
            timedelta(seconds=seconds),
        )

    async def pauses(self) -> dict[str, float]:
        """Platform → seconds its shared pause has left, for the pauses still running."""
        rows = await self._db.all(
            "SELECT substr(name, $1) AS platform, "
            "extract(epoch FROM expires_at - now())::float8 AS left_s "
            "FROM leases WHERE starts_with(name, $2) AND expires_at > now()",
            len(PAUSE) + 1,
            PAUSE,
        )
        return {r["platform"]: float(r["left_s"]) for r in rows}

    async def expire_claims(self, claimed_before: datetime) -> int:
        """Rows claimed before ``claimed_before`` and still in flight go back to due: their
        replica died holding them (a live one finishes a send long before)."""
        status = await self._db.execute(
            "UPDATE outbox SET status = 'pending', claimed_at = NULL "
            "WHERE status = 'sending' AND claimed_at < $1",
            claimed_before,
        )
        return int(status.split()[-1])
