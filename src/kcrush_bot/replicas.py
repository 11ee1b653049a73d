"""Several ``kcrush-bot run`` processes on one PostgreSQL database: the replica's side of it.

A ``Replica`` beats every ``beat`` seconds (2 by default). Each beat

* writes this replica's heartbeat row (its id: host-pid-random, and what it does);
* takes or renews the singleton lease (``ttl`` 6 s): the one replica holding it runs the
  singleton duties (``core.ports.Lease``); when the holder dies its row runs out and the next
  replica to beat takes it, so the duties move within ``ttl`` + ``beat`` seconds;
* counts the replicas alive (for ``status``);
* renews the claims of the delivery rows this replica holds (waiting for a send slot, or being
  sent), and wakes its delivery worker, since another replica may have put rows in the outbox;
* in the lease holder, gives back the delivery rows a dead replica left in flight: claims not
  renewed for ``claim_timeout`` go back to due.

Each platform's send budget is shared through the database (``kcrush_bot.shared_budget``),
given to the platform's pacer by ``pace``: the platform's limit is the bot's, not a process's.

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
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from typing import Any, Protocol

from kcrush_bot.core.ports import LeaseFollower
from kcrush_bot.publisher.limits import Pacer
from kcrush_bot.shared_budget import SharedBudget
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository

log = logging.getLogger(__name__)

BEAT_SECONDS = 2.0
LEASE_TTL = 6.0
# A live replica renews the claims it holds every beat, however long they wait for a send
# slot (a 429 may pause a platform for a minute): a claim not renewed for five beats belongs
# to a replica that died.
CLAIM_TIMEOUT = 10.0
# Renewals are sent ``beat`` apart: stop acting as holder this long before the row runs out.
MARGIN = 0.5


class Deliverer(Protocol):
    """The delivery worker as the replica sees it (``publisher.worker.DeliveryWorker``)."""

    def claimed(self) -> Collection[int]: ...

    def wake(self) -> None: ...


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
        self.budgets: dict[str, SharedBudget] = {}
        self.deliverer: Deliverer | None = None
        self.alive = 1
        self.generation = 0
        self._now = now
        self._held_until = 0.0
        self._told = False  # what the followers were last told
        self._followers: list[LeaseFollower] = []
        self._task: asyncio.Task[None] | None = None
        for name, pacer in (pacers or {}).items():
            self.pace(name, pacer)

    @property
    def held(self) -> bool:
        return self._now() < self._held_until

    def pace(self, platform: str, pacer: Pacer) -> None:
        """Share this platform's send budget with the other replicas, pauses included."""
        self.pacers[platform] = pacer
        self.budgets[platform] = SharedBudget(self.repository, platform, pacer)
        pacer.share_with(self.budgets[platform])

    def deliver_with(self, deliverer: Deliverer) -> None:
        """Renew the claims of ``deliverer``'s rows, and wake it, every beat."""
        self.deliverer = deliverer

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
        for budget in self.budgets.values():
            await budget.close()
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
        if self.deliverer is not None:
            await self.repository.renew_claims(sorted(self.deliverer.claimed()))
            self.deliverer.wake()
        if self.held:
            timeout = timedelta(seconds=self.claim_timeout)
            if expired := await self.repository.expire_claims(timeout):
                log.warning("%d sends a dead replica had in flight are due again", expired)
                if self.deliverer is not None:
                    self.deliverer.wake()

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
