"""A platform's gateway shards on one PostgreSQL database: a lease row per shard, and who takes them.

Rows live in the ``leases`` table beside the singleton lease (``storage/postgres/replicas.py``),
named by the platform:

* ``discord-shard:<n>`` is held by the replica running shard n's gateway session; its holder
  renews it well before it runs out, and when the holder dies it expires and another replica
  takes it. One statement takes a row, so two replicas trying at once cannot both win.
* ``discord-gateway:<replica>`` says that replica runs the platform's gateway and takes shards:
  the shards are divided among these replicas only (one without a Discord token takes none),
  and a replica stopping deletes its row at once, so the others may take its shards at once.

Expiry is judged by the database's clock (``now()``) alone, as for the singleton lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kcrush_bot.storage.postgres.db import PgDatabase
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository


@dataclass(frozen=True, slots=True)
class ShardHolding:
    """Who holds one shard until when, and how many holders it has had."""

    shard: int
    holder: str
    generation: int
    expires_at: datetime


class PgShardRepository:
    """Shard leases and the replicas taking them, for one platform (``discord``)."""

    def __init__(self, db: PgDatabase, platform: str = "discord") -> None:
        self._db = db
        self.platform = platform
        self._shard = f"{platform}-shard:"
        self._member = f"{platform}-gateway:"

    def _names(self, shards: Sequence[int]) -> list[str]:
        return [f"{self._shard}{shard}" for shard in shards]

    # -- the replicas taking shards --------------------------------------------------------------

    async def join(self, replica: str, ttl: timedelta) -> None:
        """``replica`` runs the gateway and takes shards, for ``ttl`` more."""
        await self._db.execute(
            """
            INSERT INTO leases AS l (name, holder, generation, acquired_at, expires_at)
            VALUES ($1, $2, 1, now(), now() + $3::interval)
            ON CONFLICT (name) DO UPDATE SET
                expires_at = excluded.expires_at,
                acquired_at = CASE WHEN l.expires_at > now() THEN l.acquired_at
                                   ELSE excluded.acquired_at END
            """,
            self._member + replica,
            replica,
            ttl,
        )

    async def members(self) -> list[str]:
        """The replicas taking shards now, in the order they joined."""
        rows = await self._db.all(
            "SELECT holder FROM leases WHERE starts_with(name, $1) AND expires_at > now() "
            "ORDER BY acquired_at, holder",
            self._member,
        )
        return [str(row["holder"]) for row in rows]

    async def leave(self, replica: str) -> None:
        """A clean stop: the others stop counting ``replica`` at once."""
        await self._db.execute("DELETE FROM leases WHERE name = $1", self._member + replica)

    # -- the shards ------------------------------------------------------------------------------

    async def acquire(self, replica: str, shard: int, ttl: timedelta) -> bool:
        """Take ``shard`` if nobody holds it (or renew it if ``replica`` does): the singleton
        lease's one statement, on the shard's row."""
        taken = await PgReplicaRepository(self._db).acquire(replica, ttl, f"{self._shard}{shard}")
        return taken is not None

    async def renew(self, replica: str, shards: Sequence[int], ttl: timedelta) -> set[int]:
        """Renew the shards ``replica`` still holds; which of ``shards`` it does.

        A row that ran out but that nobody took is still this replica's to renew: no other
        session can be behind it.
        """
        if not shards:
            return set()
        rows = await self._db.all(
            "UPDATE leases SET expires_at = now() + $3::interval "
            "WHERE holder = $1 AND name = ANY($2::text[]) RETURNING name",
            replica,
            self._names(shards),
            ttl,
        )
        return {int(str(row["name"]).removeprefix(self._shard)) for row in rows}

    async def release(self, replica: str, shards: Sequence[int] | None = None) -> None:
        """Give shards up at once (all of ``replica``'s when None): their sessions are closed."""
        if shards is None:
            await self._db.execute(
                "UPDATE leases SET expires_at = now() "
                "WHERE holder = $1 AND starts_with(name, $2) AND expires_at > now()",
                replica,
                self._shard,
            )
            return
        if shards:
            await self._db.execute(
                "UPDATE leases SET expires_at = now() "
                "WHERE holder = $1 AND name = ANY($2::text[]) AND expires_at > now()",
                replica,
                self._names(shards),
            )

    async def holders(self) -> dict[int, ShardHolding]:
        """Every shard held now, by its number."""
        rows = await self._db.all(
            "SELECT name, holder, generation, expires_at FROM leases "
            "WHERE starts_with(name, $1) AND expires_at > now()",
            self._shard,
        )
        held = {}
        for row in rows:
            number = str(row["name"]).removeprefix(self._shard)
            if number.isdigit():
                shard = int(number)
                held[shard] = ShardHolding(
                    shard, str(row["holder"]), int(row["generation"]), row["expires_at"]
                )
        return held
