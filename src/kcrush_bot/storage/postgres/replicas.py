"""Replicas on one PostgreSQL database: a lease for the singleton duties, and a heartbeat table.

Several ``kcrush-bot run`` processes may share a database. Source polls, digests, scheduled
announcements and Telegram long polling must run in exactly one of them: that one holds the
lease, a row with an expiry that its holder renews well before it runs out. When the holder
dies, the row expires and the next replica to try takes it over; its ``generation`` goes up on
every change of holder, so work stamped with an older generation can be told apart.

Expiry is judged by the database's clock (``now()``) alone: replicas' clocks may disagree, the
server's is one.

The heartbeat table says which replicas are alive and what each is doing (``status`` shows
them). Each platform's send budget is one row of ``send_budgets``: the bot's next free send
slot, from which replicas take small chunks (``take_slots``), and the platform's shared pause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kcrush_bot.storage.postgres.db import PgDatabase

SINGLETON = "singleton"


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease, since when, until when, and how many holders it has had."""

    name: str
    holder: str
    generation: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Slots:
    """Send slots taken from a platform's shared budget: ``count`` of them, ``interval`` apart
    from ``first`` (none when every slot up to the horizon was taken: then ``first`` is the
    next free one). Times are the database's clock, as seconds since the epoch: ``now`` when
    it handed them out, ``paused_until`` the end of the platform's shared pause (in the past
    when none runs)."""

    now: float
    first: float
    count: int
    paused_until: float


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

    async def take_slots(self, platform: str, want: int, interval: float, horizon: float) -> Slots:
        """Take up to ``want`` of ``platform``'s next free send slots, ``interval`` seconds
        apart, but none later than ``horizon`` seconds from now: a replica that asks next (for
        a fan's reply, say) waits no longer than that.

        One row, updated in one statement: replicas asking at once are ordered by its lock,
        and each gets the slots after the previous one's. Slots are never handed out in the
        past (``greatest(next_free, now())``): an idle budget saves nothing up for a burst.
        """
        row = await self._db.one(_TAKE_SLOTS, platform, max(want, 0), interval, horizon)
        if row is None:  # the budget's first use (or the server restarted: the table is unlogged)
            await self._db.execute(_NEW_BUDGET, platform)
            row = await self._db.one(_TAKE_SLOTS, platform, max(want, 0), interval, horizon)
        assert row is not None
        return Slots(row["now"], row["first"], row["count"], row["paused_until"])

    async def pause(self, platform: str, seconds: float) -> None:
        """A 429 said the platform's limit was hit: no replica gets a slot before ``seconds``
        pass, and each learns of the pause with its next slots."""
        status = await self._db.execute(_PAUSE, platform, seconds)
        if not status.endswith(" 1"):
            await self._db.execute(_NEW_BUDGET, platform)
            await self._db.execute(_PAUSE, platform, seconds)

    async def renew_claims(self, row_ids: list[int]) -> int:
        """Rows this replica claimed and still holds (waiting for a send slot, or being sent):
        their claims are fresh again, so they do not expire while the replica is alive."""
        if not row_ids:
            return 0
        status = await self._db.execute(
            "UPDATE outbox SET claimed_at = now() WHERE id = ANY($1::bigint[]) "
            "AND status = 'sending'",
            row_ids,
        )
        return int(status.split()[-1])

    async def expire_claims(self, older_than: timedelta) -> int:
        """Rows claimed (or last renewed) longer than ``older_than`` ago and still in flight go
        back to due: their replica died holding them (a live one renews what it holds)."""
        status = await self._db.execute(
            "UPDATE outbox SET status = 'pending', claimed_at = NULL "
            "WHERE status = 'sending' AND claimed_at < now() - $1::interval",
            older_than,
        )
        return int(status.split()[-1])


_NEW_BUDGET = (
    "INSERT INTO send_budgets (platform, next_free, paused_until) VALUES ($1, now(), now()) "
    "ON CONFLICT (platform) DO NOTHING"
)

# $1 platform, $2 slots wanted, $3 seconds between slots, $4 horizon in seconds. The first slot
# is the budget's next free one (now, if that has passed); as many follow as were wanted and
# fit before now + horizon, and next_free moves past the last of them.
_TAKE_SLOTS = """
WITH free AS (
    SELECT greatest(next_free, now()) AS first, paused_until
      FROM send_budgets WHERE platform = $1 FOR UPDATE
), granted AS (
    SELECT first, paused_until,
           least($2::int, greatest(0, floor(
               (extract(epoch FROM now() - first) + $4::float8) / $3::float8)::int + 1)) AS count
      FROM free
)
UPDATE send_budgets b
   SET next_free = g.first + make_interval(secs => g.count * $3::float8)
  FROM granted g
 WHERE b.platform = $1
RETURNING extract(epoch FROM now())::float8 AS now, extract(epoch FROM g.first)::float8 AS first,
          g.count, extract(epoch FROM g.paused_until)::float8 AS paused_until
"""

_PAUSE = """
UPDATE send_budgets
   SET paused_until = greatest(paused_until, now() + make_interval(secs => $2::float8)),
       next_free = greatest(next_free, now() + make_interval(secs => $2::float8))
 WHERE platform = $1
"""
