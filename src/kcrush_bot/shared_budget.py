"""A platform's send budget shared by the replicas on one PostgreSQL database.

The platform's limit is the bot's, not a process's. So the budget is one row per platform in
the database (``send_budgets``): the bot's next free send slot. A replica that has sends
waiting takes a small chunk of slots from it (``PgReplicaRepository.take_slots``: the next
free ones, ``interval`` apart, and the row moves past them), and its pacer lets one send go at
each slot it holds. Slots are handed out once, evenly spaced, for the bot as a whole, so the
replicas together send at the platform's rate and never above it, however many are alive and
however the work falls between them: an idle replica takes nothing, a busy one alone takes the
whole rate.

* **Chunks.** A replica asks for at most ``CHUNK`` seconds' worth of slots, and for the next
  chunk once the slots it holds run out within ``LEAD``, so its sends never wait for the
  database; the database hands out nothing beyond ``HORIZON`` from now, so whoever asks next
  (a fan's reply in an idle replica) gets a slot within that.
* **Spacing.** The slots follow the pacer's rate (2 % under the limit), spaced ``SPREAD``
  (1.5 %) wider. One process counts each slot from when the send before it actually went, a
  loop turn late, which leaves the platform's sliding second 30-50 ms of slack for the jitter
  between our send and its count; slots from the database are exact, so they leave such
  slack on purpose.
* **Late slots are given up.** A slot used much later than its time would crowd the slots that
  follow it, which other replicas hold: one that passed more than ``LATE`` ago is dropped, and
  the send takes the next one.
* **One clock.** Slots are times on the database's clock; each replica maps them onto its own
  by the database's ``now()`` in its answers. That was read before the answer came, so a slot
  is never mapped earlier than it is; of its recent answers, the quickest one's says how much
  later (a slow answer does not shift the slots against the other replicas').
* **Pauses.** A 429 saying the platform's limit was hit pauses this replica at once and writes
  the pause to the row, which also moves the next free slot past it: every other replica learns
  of it with its next chunk (a fraction of a second while it sends), and no slot is handed out
  inside it.

One process alone on its database never uses this: its pacer owns the whole rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kcrush_bot.publisher.limits import Pacer
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository

log = logging.getLogger(__name__)

SPREAD = 1.015
CHUNK = 0.15  # seconds of slots asked for at once
LEAD = 0.1  # ask for the next chunk when the slots held run out within this
HORIZON = 0.3  # the database hands out no slot further ahead than this
# Spaced so, 30 slots span 1.036 s: a platform counting 30 sends per second sees no 31 in one
# second unless one send reaches it 36 ms later than the one 30 slots after it. A send up to
# LATE after its slot leaves most of that to the network.
LATE = 0.015
RETRY = 1.0  # after a failed request for slots: the database is away, nothing may be sent
# How much an old reading of the clocks' difference is trusted less than a fresh one: a
# millisecond per second of age (clocks drift, and NTP slews a clock by up to 0.5 ms/s).
AGING = 0.001


@dataclass(slots=True)
class SharedStats:
    """Slots taken from the shared budget, how they were used, and the requests it took."""

    requests: int = 0
    granted: int = 0
    used: int = 0
    given_up: int = 0  # held too long past their time (the process was late), or left unused


class SharedBudget:
    """The slots one replica holds of one platform's shared budget: ``SharedSlots`` for its
    ``Pacer`` (``pacer.share_with``). ``close()`` when the replica stops."""

    def __init__(
        self,
        repository: PgReplicaRepository,
        platform: str,
        pacer: Pacer,
        *,
        chunk: float = CHUNK,
        lead: float = LEAD,
        horizon: float = HORIZON,
        late: float = LATE,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.platform = platform
        self.pacer = pacer
        self.interval = pacer.interval * SPREAD
        self.chunk_slots = max(1, round(chunk / self.interval))
        self.lead = lead
        self.horizon = max(horizon, chunk + lead)
        self.late = late
        self.stats = SharedStats()
        self._now = now
        self._held: deque[float] = deque()  # monotonic times of the slots held, in order
        self._waiting = 0
        self._fetcher: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        # At least how far the database's clock is ahead of ours, and when that was learnt.
        self._offset = -math.inf
        self._synced_at = 0.0

    # -- SharedSlots ---------------------------------------------------------------------------

    def first(self, now: float) -> float:
        held = self._held
        while held and held[0] < now - self.late:
            held.popleft()
            self.stats.given_up += 1
        return held[0] if held else math.inf

    def take(self) -> None:
        self._held.popleft()
        self.stats.used += 1

    def want(self, waiting: int) -> None:
        self._waiting = waiting
        if self._fetcher is None and self._short():
            self._fetcher = asyncio.get_running_loop().create_task(
                self._fetch(), name=f"send-budget-{self.platform}"
            )

    def pause(self, seconds: float) -> None:
        task = asyncio.get_running_loop().create_task(self._write_pause(seconds))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # -- the database --------------------------------------------------------------------------

    def _short(self) -> bool:
        """More sends wait than slots are held, and the last one held is near."""
        now = self._now()
        self.first(now)  # the slots held that are past using do not count
        held = self._held
        if len(held) >= self._waiting:
            return False
        return not held or held[-1] - now < self.lead

    async def _fetch(self) -> None:
        try:
            while self._short():
                want = min(self._waiting - len(self._held), self.chunk_slots)
                try:
                    slots = await self.repository.take_slots(
                        self.platform, want, self.interval, self.horizon
                    )
                except Exception:
                    log.exception("%s: no send slots from the shared budget", self.platform)
                    await asyncio.sleep(RETRY)
                    continue
                received = self._now()
                offset = self._sync(slots.now, received)
                self.stats.requests += 1
                if slots.paused_until - offset > received:
                    self.pacer.pause_for(slots.paused_until - offset - received)
                first = slots.first - offset
                if slots.count:
                    self.stats.granted += slots.count
                    self._held.extend(first + n * self.interval for n in range(slots.count))
                    self.pacer.slots_came()
                else:
                    # Others hold every slot up to the horizon: ask again as it moves on.
                    await asyncio.sleep(max(first - self.horizon - received, self.interval))
        finally:
            self._fetcher = None

    def _sync(self, database_now: float, received: float) -> float:
        """The database's clock less ours, never overestimated: its ``now()`` was read before
        the answer was ``received``. Of the recent answers the quickest gives the closest
        bound; an older bound is trusted less by ``AGING`` per second."""
        bound = database_now - received
        aged = self._offset - (received - self._synced_at) * AGING
        if bound >= aged:
            self._offset, self._synced_at = bound, received
            return bound
        return aged

    async def _write_pause(self, seconds: float) -> None:
        try:
            await self.repository.pause(self.platform, seconds)
        except Exception:
            log.exception("sharing a %s pause with the other replicas failed", self.platform)

    async def settle(self) -> None:
        """Wait until the pauses this replica was told of are written for the others."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetcher
        await self.settle()
        self.stats.given_up += len(self._held)
        self._held.clear()
