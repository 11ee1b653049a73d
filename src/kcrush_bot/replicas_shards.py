"""Discord's gateway shards spread over the replicas on one PostgreSQL database.

Each shard's session runs in exactly one replica, the one holding its lease row
(``storage/postgres/shards.py``). ``ShardLeases`` is this replica's side: every ``beat``
seconds (2 by default) it

* says this replica takes shards (a member row, ``ttl`` 6 s), and counts the replicas that do;
* renews the shards it holds, and gives up those over its share, ``ceil(shards / members)``:
  their sessions closed first, then their rows released, so another replica takes them at its
  next beat;
* takes free shards up to its share, starting from its own place in the members' order so
  that replicas starting together do not all reach for shard 0;
* tells the platform (``ShardedIntake.hold_shards``) the shards it now holds.

A dead replica's rows run out after ``ttl``; the others count one member fewer and take its
shards at their next beat: within ``ttl`` + ``beat`` seconds of its last renewal, and its
servers' commands are answered again once the new session is READY (within 10 s). A replica
stopped with SIGTERM closes its sessions, releases its rows and leaves at once.

Never two sessions for one shard: whether a shard is held is judged here against when the beat
that renewed it began, and a watch closes a shard's session ``MARGIN`` seconds before the
database would let another replica take it, whether or not the database still answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kcrush_bot.core.ports import ShardedIntake
from kcrush_bot.storage.postgres.shards import PgShardRepository

log = logging.getLogger(__name__)

BEAT_SECONDS = 2.0
SHARD_TTL = 6.0
# Renewals are sent ``beat`` apart: a session is closed this long before its row runs out.
MARGIN = 0.5


class ShardLeases:
    """This replica's shards of one sharded platform: see the module docstring. ``async with``,
    once the platform is connected; left first on the way out, so the shards move on at once."""

    def __init__(
        self,
        repository: PgShardRepository,
        replica: str,
        intake: ShardedIntake,
        *,
        beat: float = BEAT_SECONDS,
        ttl: float = SHARD_TTL,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.replica = replica
        self.intake = intake
        self.count = intake.shard_count
        self.beat_seconds = beat
        self.ttl = ttl
        self.members = 1
        self._now = now
        self._until: dict[int, float] = {}  # shard -> until when it is judged held here
        self._told: frozenset[int] = frozenset()  # what the platform was last told
        self._changing = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def held(self) -> frozenset[int]:
        now = self._now()
        return frozenset(shard for shard, until in self._until.items() if now < until)

    @property
    def share(self) -> int:
        """How many shards this replica may hold: its part of them, rounded up."""
        return math.ceil(self.count / max(self.members, 1))

    def describe(self) -> dict[str, Any]:
        """What ``/healthz`` shows of this replica's shards."""
        return {"discord_shards": sorted(self.held), "discord_shard_count": self.count}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ShardLeases:
        await self.step()
        log.info(
            "replica %s: %d replicas take Discord's %d shards; holding %s",
            self.replica,
            self.members,
            self.count,
            _listed(self.held),
        )
        self._tasks = [
            asyncio.create_task(self._run(), name="discord-shard-leases"),
            asyncio.create_task(self._watch(), name="discord-shard-watch"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Sessions closed first, then the rows given up: the next holder connects to no one's.
        async with self._changing:
            self._until = {}
            await self._tell()
        try:
            await self.repository.release(self.replica)
            await self.repository.leave(self.replica)
        except Exception:
            log.exception(
                "replica %s: giving up its shards failed; their rows run out", self.replica
            )
        else:
            log.info("replica %s: its Discord shards are free for the others", self.replica)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.beat_seconds)
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The shards lapse by themselves (``_watch``): nothing to undo.
                log.exception("replica %s: renewing its Discord shards failed", self.replica)

    async def _watch(self) -> None:
        """Close a shard's session when its renewal did not come in time."""
        while True:
            await self.expire()
            now = self._now()
            soonest = min(self._until.values(), default=now + self.beat_seconds)
            await asyncio.sleep(min(max(soonest - now, 0.05), self.beat_seconds))

    async def expire(self) -> None:
        """Drop the shards whose time ran out without a renewal (one pass of the watch)."""
        now = self._now()
        if not any(until <= now for until in self._until.values()):
            return
        async with self._changing:
            ran_out = sorted(s for s, until in self._until.items() if until <= self._now())
            for shard in ran_out:
                del self._until[shard]
            if ran_out:
                log.warning(
                    "replica %s: shard %s not renewed in time; its session closes",
                    self.replica,
                    _listed(ran_out),
                )
                await self._tell()

    # -- one beat ------------------------------------------------------------------------------

    async def step(self) -> None:
        """Renew, give up what is over the share, take free shards up to it."""
        started = self._now()
        ttl = timedelta(seconds=self.ttl)
        await self.repository.join(self.replica, ttl)
        members = await self.repository.members()
        if len(members) != self.members:
            log.info("replica %s: %d replicas share Discord's shards", self.replica, len(members))
        self.members = max(len(members), 1)
        share = self.share
        mine = sorted(self._until)
        renewed = sorted(await self.repository.renew(self.replica, mine, ttl))
        if lost := set(mine) - set(renewed):
            log.warning("replica %s lost shard %s to another", self.replica, _listed(lost))
        keep, over = renewed[:share], renewed[share:]
        if len(keep) < share:
            taken = await self.repository.holders()
            place = members.index(self.replica) if self.replica in members else 0
            start = place * share % max(self.count, 1)
            for shard in [*range(start, self.count), *range(start)]:
                if len(keep) >= share:
                    break
                if shard in taken or shard in keep:
                    continue
                if await self.repository.acquire(self.replica, shard, ttl):
                    log.info("replica %s took Discord shard %d", self.replica, shard)
                    keep.append(shard)
        until = started + self.ttl - MARGIN
        if until <= self._now():
            # This beat took so long that its renewals are as good as run out: connect nothing.
            log.warning("replica %s: a beat took over %.1fs", self.replica, self.ttl - MARGIN)
            keep, over = [], sorted({*keep, *over})
        async with self._changing:
            self._until = dict.fromkeys(keep, until)
            await self._tell()
        if over:
            # Closed above; only now may another replica connect them.
            await self.repository.release(self.replica, over)
            log.info("replica %s handed on shard %s", self.replica, _listed(over))

    async def _tell(self) -> None:
        held = frozenset(self._until)
        if held == self._told:
            return
        try:
            await self.intake.hold_shards(held)
        except Exception:
            log.exception("replica %s: the gateway did not follow its shards", self.replica)
        self._told = held


def _listed(shards: Any) -> str:
    return ", ".join(str(s) for s in sorted(shards)) or "none"


async def shards_report(repository: PgShardRepository, count: int) -> dict[str, Any]:
    """Which replica holds each shard, for ``stats``."""
    holders = await repository.holders()
    return {
        "count": count,
        "holders": {
            str(shard): holders[shard].holder if shard in holders else None
            for shard in range(count)
        },
    }


def add_shards_to_report(report: dict[str, Any], shards: dict[str, Any]) -> None:
    """``replicas_report`` with each replica's shards, and the shards' holders."""
    report["discord_shards"] = shards
    for replica in report.get("alive", []):
        replica["discord_shards"] = [
            int(shard) for shard, holder in shards["holders"].items() if holder == replica["id"]
        ]


def shard_collector(leases: ShardLeases) -> Any:
    """A Prometheus collector of the shards this replica holds (imported here: only
    ``/metrics`` needs the client)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class ShardCollector(Collector):
        def collect(self) -> Any:
            held = leases.held
            family = GaugeMetricFamily(
                "kcrush_discord_shard_held",
                "1 while this replica runs the Discord gateway session of the shard.",
                labels=["replica", "shard"],
            )
            for shard in range(leases.count):
                family.add_metric([leases.replica, str(shard)], 1.0 if shard in held else 0.0)
            return [family]

    return ShardCollector()
