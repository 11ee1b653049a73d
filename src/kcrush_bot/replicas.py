"""Several ``kcrush-bot run`` processes on one PostgreSQL database: the replica's side of it.

A ``Replica`` beats every ``beat`` seconds (2 by default). Each beat

* writes this replica's heartbeat row (its id: host-pid-random, and what it does);
* takes or renews the singleton lease (``ttl`` 6 s): the one replica holding it runs the
  singleton duties (``core.ports.Lease``); when the holder dies its row runs out and the next
  replica to beat takes it, so the duties move within ``ttl`` + ``beat`` seconds;
* counts the replicas alive and gives each platform's send budget that share of the limit
  (``Pacer.share``): the platform's limit is the bot's, not a process's;
* takes up the platform-wide pauses other replicas were told of by a 429 (``Pacer.on_pause``
  writes ours);
* in the lease holder, gives back the delivery rows a dead replica left in flight: claims
  older than ``claim_timeout`` go back to due.

Whether the lease is held is judged here against when the beat that took it began: once
``ttl`` less a margin has passed without a renewal, this replica stops acting as holder,
before the database lets another take the row. Followers (the publisher, Telegram's long
polling) are told when the lease changes hands here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kcrush_bot.core.ports import LeaseFollower
from kcrush_bot.publisher.limits import Pacer
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository

log = logging.getLogger(__name__)

BEAT_SECONDS = 2.0
LEASE_TTL = 6.0
# A live replica hands a claimed row to the platform within seconds (a send's own timeout is
# 10 s, the pacer's queue a few more); older claims belong to a replica that died.
CLAIM_TIMEOUT = 30.0
# Renewals are sent ``beat`` apart: stop acting as holder this long before the row runs out.
MARGIN = 0.5


def replica_id() -> str:
    """host-pid-random: readable in ``status``, unique even when a pid is reused."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Replica:
    """This process as one replica of several: see the module docstring. ``async with``."""

    shared = True

    def __init__(
        self,
        repository: PgReplicaRepository,
        *,
        replica: str | None = None,
        beat: float = BEAT_SECONDS,
        ttl: float = LEASE_TTL,
        claim_timeout: float = CLAIM_TIMEOUT,
        pacers: Mapping[str, Pacer] | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.id = replica or replica_id()
        self.beat_seconds = beat
        self.ttl = ttl
        self.claim_timeout = claim_timeout
        self.pacers: dict[str, Pacer] = {}
        self.alive = 1
        self.generation = 0
        self._now = now
        self._held_until = 0.0
        self._told = False  # what the followers were last told
        self._followers: list[LeaseFollower] = []
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        for name, pacer in (pacers or {}).items():
            self.pace(name, pacer)

    @property
    def held(self) -> bool:
        return self._now() < self._held_until

    def pace(self, platform: str, pacer: Pacer) -> None:
        """Share this platform's budget with the other replicas, pauses included."""
        self.pacers[platform] = pacer
        pacer.share(self.alive)
        pacer.on_pause = lambda seconds: self._tell_pause(platform, seconds)

    def follow(self, follower: LeaseFollower) -> None:
        self._followers.append(follower)

    def describe(self) -> dict[str, Any]:
        """What ``status``, ``/healthz`` and ``/metrics`` show of this replica."""
        return {"replica": self.id, "holds_lease": self.held, "alive": self.alive}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Replica:
        await self.beat()  # the first one decides, before anything asks whether we hold it
        self._told = self.held
        log.info(
            "replica %s: %d alive, %s the singleton lease",
            self.id,
            self.alive,
            "holding" if self.held else "not holding",
        )
        self._task = asyncio.create_task(self._run(), name="replica-heartbeat")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        held = self.held
        self._held_until = 0.0
        # A clean stop hands the lease on at once, rather than when its row runs out.
        try:
            if held:
                await self.repository.release(self.id)
            await self.repository.leave(self.id)
        except Exception:
            log.exception("replica %s: leaving cleanly failed; its rows run out instead", self.id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.beat_seconds)
            await self.step()

    async def step(self) -> None:
        """One beat, then the followers told if the lease changed hands here."""
        try:
            await self.beat()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease lapses by itself (``held`` is judged by time): nothing to undo.
            log.exception("replica %s: heartbeat failed", self.id)
        await self._tell_followers()

    async def settle(self) -> None:
        """Wait until the pauses this replica was told of are written for the others."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # -- one beat ------------------------------------------------------------------------------

    async def beat(self) -> None:
        started = self._now()
        holding = self.held
        await self.repository.heartbeat(self.id, {"holds_lease": holding, "alive": self.alive})
        lease = await self.repository.acquire(self.id, timedelta(seconds=self.ttl))
        if lease is not None:
            if not holding:
                log.info("replica %s took the singleton lease (#%d)", self.id, lease.generation)
            self.generation = lease.generation
            self._held_until = started + self.ttl - MARGIN
        elif holding:
            log.warning("replica %s lost the singleton lease", self.id)
            self._held_until = 0.0
        alive = len(await self.repository.alive(timedelta(seconds=self.ttl)))
        if max(alive, 1) != self.alive:
            log.info("replica %s: %d replicas alive share the send budget", self.id, alive)
        self.alive = max(alive, 1)
        for pacer in self.pacers.values():
            pacer.share(self.alive)
        for platform, left in (await self.repository.pauses()).items():
            paused = self.pacers.get(platform)
            if paused is not None:
                paused.pause_for(left)
        if self.held:
            before = datetime.now(UTC) - timedelta(seconds=self.claim_timeout)
            if expired := await self.repository.expire_claims(before):
                log.warning("%d sends a dead replica had in flight are due again", expired)

    async def _tell_followers(self) -> None:
        held = self.held
        if held == self._told:
            return
        self._told = held
        for follower in self._followers:
            try:
                await follower.lease_changed(held)
            except Exception:
                log.exception("replica %s: %r did not follow the lease", self.id, follower)

    def _tell_pause(self, platform: str, seconds: float) -> None:
        task = asyncio.get_running_loop().create_task(self._write_pause(platform, seconds))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_pause(self, platform: str, seconds: float) -> None:
        try:
            await self.repository.pause(platform, seconds, self.id)
        except Exception:
            log.exception("replica %s: sharing a %s pause failed", self.id, platform)


async def replicas_report(repository: PgReplicaRepository) -> dict[str, Any]:
    """Who holds the lease and which replicas are alive, for ``stats`` (``status``)."""
    lease = await repository.holder()
    alive = await repository.alive(timedelta(seconds=LEASE_TTL))
    return {
        "lease_holder": lease.holder if lease else None,
        "lease_generation": lease.generation if lease else None,
        "lease_expires_at": lease.expires_at.isoformat() if lease else None,
        "alive": [
            {
                "id": r.id,
                "started_at": r.started_at.isoformat(),
                "seen_at": r.seen_at.isoformat(),
                "holds_lease": bool(lease and lease.holder == r.id),
                **{k: v for k, v in r.detail.items() if k != "holds_lease"},
            }
            for r in alive
        ],
    }


def replica_collector(replica: Replica) -> Any:
    """A Prometheus collector of this replica: its id, whether it holds the lease, how many
    replicas are alive (imported here: only ``/metrics`` needs the client)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class ReplicaCollector(Collector):
        def collect(self) -> Any:
            holds = GaugeMetricFamily(
                "kcrush_replica_holds_lease",
                "1 while this replica holds the singleton lease.",
                labels=["replica"],
            )
            holds.add_metric([replica.id], 1.0 if replica.held else 0.0)
            alive = GaugeMetricFamily(
                "kcrush_replicas_alive", "Replicas sharing the database, from the heartbeats."
            )
            alive.add_metric([], float(replica.alive))
            return [holds, alive]

    return ReplicaCollector()
