"""The delivery worker: claims due outbox rows and sends them through the platforms' send side.

Shape (RoboDanny's timers): the outbox row is the truth; the worker claims what is due and
otherwise sleeps until the next due row, a chat's cool-down, a probe of a failing platform, or
a ``wake()``. Several sends are in flight at once (``concurrency``), since one message per
second per chat would otherwise cap a broadcast; a chat has at most one row in flight, and its
next row is claimable only once the previous one is recorded, which keeps publication order.

Every send's outcome is committed right after the send, in a group commit: outcomes that
arrive while a commit runs go into the next one. A send slot is freed only once its outcome
is committed, so the rows that could be sent twice after a crash (claimed, maybe accepted by
the platform, not yet recorded) are never more than ``concurrency``.

What the platform answers decides what happens:

* sent: the platform's message ids are recorded;
* ``RetryableDelivery`` with ``retry_after`` (a 429): nothing goes to that chat, or to the
  platform when the limit was global, before it passes; the row is due again then;
* ``RetryableDelivery`` without it, a timeout, an unexpected error: exponential back-off with
  jitter (``backoff_base`` doubling, capped at ``backoff_max``), ``failed`` after
  ``max_attempts``. While a platform fails like that, one backing-off row is tried every few
  seconds as a probe (not counted as an attempt), and the first success releases every row
  that was backing off, so delivery resumes within seconds of a recovery, not after the
  longest back-off;
* ``PermanentDelivery``: after that one try the chat is deactivated with the reason and its
  pending rows dropped (Discord bans tokens that keep making invalid requests);
* ``ChatMoved``: the chat moves to its new id and the row is sent again there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kcrush_bot.core.errors import ChatMoved, MessageRejected, PermanentDelivery, RetryableDelivery
from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.ports import Metrics, Platform
from kcrush_bot.publisher.changes import Edit, Withdraw, action_of, perform
from kcrush_bot.publisher.limits import Pacer
from kcrush_bot.settings import DeliverySettings
from kcrush_bot.storage.db import to_db_time
from kcrush_bot.storage.errors import DATABASE_ERRORS, KEY_TAKEN_ERRORS
from kcrush_bot.storage.outbox import (
    FAILED,
    PENDING,
    RATE_LIMITED,
    SENT,
    TRANSIENT,
    Outbox,
    OutboxRow,
    Outcome,
)
from kcrush_bot.storage.store import Store

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 32
SEND_TIMEOUT = 60.0  # an adapter's own HTTP timeouts should fire long before this
MAX_SLEEP = 30.0  # the scheduler's safety-net wake-up runs about as often
PROBE_INTERVAL = 5.0


def backoff_delay(attempts: int, base: float, cap: float) -> float:
    """``base`` doubling per attempt, capped, with jitter: half fixed, half random, so a
    platform's recovery is not met by every row retrying in the same instant."""
    delay = min(cap, base * 2.0 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


@dataclass(slots=True)
class _Health:
    """A platform's transient trouble: while failing, probe now and then; on success, release."""

    failing: bool = False
    next_probe: float = 0.0
    probes: set[int] = field(default_factory=set)


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped_chats: int = 0
    moved_chats: int = 0
    rate_limited: int = 0
    edited: int = 0  # messages edited because their post changed
    withdrawn: int = 0  # messages deleted or tombstoned because their post was withdrawn


class DeliveryWorker:
    """Sends outbox rows through ``platforms`` under each one's ``Pacer``."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        platforms: Mapping[str, Platform],
        pacers: Mapping[str, Pacer],
        delivery: DeliverySettings,
        *,
        clock: Callable[[], datetime],
        concurrency: int = DEFAULT_CONCURRENCY,
        probe_interval: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.outbox = outbox
        self.platforms = dict(platforms)
        self.pacers = dict(pacers)
        self.delivery = delivery
        self.clock = clock
        self.concurrency = max(1, concurrency)
        self.probe_interval = (
            probe_interval
            if probe_interval is not None
            else min(PROBE_INTERVAL, max(delivery.backoff_max, 0.1))
        )
        self._monotonic = monotonic
        self.stats = DeliveryStats()
        self._wake = asyncio.Event()
        self._closing = False
        self._loop: asyncio.Task[None] | None = None  # the task inside ``run``, while it runs
        self._tasks: set[asyncio.Task[None]] = set()
        self._task_rows: dict[asyncio.Task[None], OutboxRow] = {}
        self._not_started: set[int] = set()
        self._outcomes: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._health = {name: _Health() for name in self.platforms}
        self._waiting: dict[str, float] = {}  # chat key -> monotonic time its head may go

    # -- waking and sleeping -------------------------------------------------------------------

    def wake(self) -> None:
        """Something was enqueued, or a slot or a chat became free: look now."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def claimed(self) -> list[int]:
        """The rows this worker claimed and has not recorded yet: waiting for a send slot, being
        sent, or their outcome being committed (a replica renews their claims)."""
        return [row.id for row in self._task_rows.values()]

    def _platforms_open(self) -> list[str]:
        return [name for name in self.platforms if not self.pacers[name].paused]

    async def _sleep_seconds(self) -> float:
        """How long nothing can be claimed: until the next due head, a cooling chat's turn,
        a paused platform's resume or a failing platform's probe."""
        now = self._monotonic()
        candidates = [MAX_SLEEP]
        candidates += [t - now for t in self._waiting.values()]
        candidates += [p.paused_until - now for p in self.pacers.values() if p.paused]
        candidates += [h.next_probe - now for h in self._health.values() if h.failing]
        current = self.clock()
        due = await self.outbox.next_due(current, self._platforms_open())
        if due is not None:
            candidates.append((due - current).total_seconds())
        return max(0.0, min(candidates))

    # -- claiming ------------------------------------------------------------------------------

    async def claim_and_start(self) -> int:
        """Claim as many due rows as there are free slots and start sending them."""
        await self._probe_failing_platforms()
        free = self.concurrency - len(self._tasks)
        platforms = self._platforms_open()
        if free <= 0 or not platforms:
            return 0

        def cooling(chat_key: str) -> bool:
            return self.pacers[chat_key.split(":", 1)[0]].is_cooling(chat_key)

        def last_sent(chat_key: str, row_id: int, at: datetime) -> None:
            # Replicas: the chat's last message may have gone from another one.
            ago = (self.clock() - at).total_seconds()
            self.pacers[chat_key.split(":", 1)[0]].sent_before(chat_key, row_id, ago)

        # Each open platform gets a fair share of the send slots, claimed on its own, so a
        # long Discord backlog cannot hold Telegram's new posts behind it (or the other way
        # round); slots a platform leaves unused go to the others in a second round.
        share = -(-self.concurrency // len(platforms))
        in_flight = Counter(row.platform for row in self._task_rows.values())
        waiting: dict[str, float] = {}
        started = 0
        more = set(platforms)  # platforms that may have more due rows than they were given
        for fair in (True, False):
            for name in platforms:
                room = self.concurrency - len(self._tasks)
                if fair:
                    room = min(room, share - in_flight[name])
                if room <= 0 or name not in more:
                    continue
                rows, cooling_chats = await self.outbox.claim(
                    self.clock(), room, platforms=[name], cooling=cooling, last_sent=last_sent
                )
                waiting.update((key, self.pacers[name].ready_at(key)) for key in cooling_chats)
                for row in rows:
                    self._start(row)
                    in_flight[name] += 1
                started += len(rows)
                if len(rows) < room:
                    more.discard(name)
        self._waiting = waiting
        return started

    def _start(self, row: OutboxRow) -> None:
        self._not_started.add(row.id)
        task = asyncio.create_task(self._deliver(row), name=f"deliver-{row.id}")
        self._tasks.add(task)
        self._task_rows[task] = row
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._task_rows.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())
        self._wake.set()

    async def _probe_failing_platforms(self) -> None:
        now = self._monotonic()
        for name, health in self._health.items():
            if not health.failing or health.next_probe > now:
                continue
            health.next_probe = now + self.probe_interval
            row_id = await self.outbox.bring_forward_probe(name, self.clock())
            if row_id is not None:
                health.probes.add(row_id)
                log.info("%s is failing: probing with row %d", name, row_id)

    # -- the loop and a single pass ------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until ``stop()``: claim what is due, else sleep until something may be."""
        self._loop = asyncio.current_task()
        while not self._closing:
            self._wake.clear()
            try:
                started = await self.claim_and_start()
                if started and len(self._tasks) < self.concurrency:
                    continue  # more may be due right away
                if len(self._tasks) >= self.concurrency:
                    timeout = MAX_SLEEP  # a finishing send wakes us
                else:
                    timeout = await self._sleep_seconds()
            except DATABASE_ERRORS:
                log.exception("delivery worker: database error; retrying shortly")
                timeout = 1.0
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def drain(self) -> int:
        """Deliver everything due now, waiting for chats' spacing but not for back-offs:
        one full pass of the worker. Returns how many rows were done: messages sent, edited
        or withdrawn."""
        before = self.stats.sent + self.stats.edited + self.stats.withdrawn
        while True:
            self._wake.clear()
            started = await self.claim_and_start()
            # A send that finished while we were claiming may have made a row due (a moved
            # chat's resend): its wake-up means "look again", not "done".
            if started or self._wake.is_set():
                continue
            if self._tasks:
                await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            if self._waiting:
                await asyncio.sleep(max(0.0, min(self._waiting.values()) - self._monotonic()))
                continue
            break
        await self._flush_now()
        return self.stats.sent + self.stats.edited + self.stats.withdrawn - before

    async def stop(self, grace: float) -> None:
        """Stop claiming; give sends in flight ``grace`` seconds, then cancel the rest.

        Rows whose send never started go back to pending; a send cut off mid-request stays
        ``sending`` and is resent at the next start (the platform may or may not have it).
        """
        self._closing = True
        self._wake.set()
        # A claim under way when the stop came would start its rows after the clean-up below
        # and leave them 'sending' (or locked) for the next start: let the loop finish it.
        loop, self._loop = self._loop, None
        if loop is not None and loop is not asyncio.current_task() and not loop.done():
            await asyncio.wait({loop}, timeout=grace)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
                log.warning(
                    "%d sends did not finish in %.1fs; they go again at start", len(late), grace
                )
        await self._flush_now()
        if self._not_started:
            await self.outbox.release(sorted(self._not_started))
            self._not_started.clear()

    # -- one send ------------------------------------------------------------------------------

    async def _deliver(self, row: OutboxRow) -> None:
        platform = self.platforms[row.platform]
        pacer = self.pacers[row.platform]
        try:
            chat = ChatRef.parse(row.chat_key)
            action = action_of(row.payload)  # a reply to send, or an edit or a withdrawal
        except Exception as exc:  # a row no sender can use: never retry it
            log.error("outbox row %d cannot be sent: %s", row.id, exc)
            self.metrics.delivered(row.platform, "failed")
            self._not_started.discard(row.id)
            await self._commit(
                Outcome(
                    row.id,
                    FAILED,
                    to_db_time(self.clock()),
                    attempts=row.attempts + 1,
                    error=f"unusable row: {exc}"[:500],
                )
            )
            return
        await pacer.acquire(row.chat_key)
        self._not_started.discard(row.id)
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                ids, follow = await perform(platform, chat, action)
        except ChatMoved as exc:
            await self._moved(row, chat, exc)
        except MessageRejected as exc:
            # The message, not the chat: this row fails, the subscription stays.
            log.error("row %d to %s rejected by the platform: %s", row.id, row.chat_key, exc)
            self.stats.failed += 1
            self.metrics.delivered(row.platform, "failed")
            await self._commit(
                Outcome(
                    row.id,
                    FAILED,
                    to_db_time(self.clock()),
                    attempts=row.attempts + 1,
                    error=str(exc)[:500],
                )
            )
        except PermanentDelivery as exc:
            await self._unreachable(row, chat, str(exc) or type(exc).__name__)
        except RetryableDelivery as exc:
            await self._retry(row, pacer, str(exc) or "retryable", exc.retry_after, exc.is_global)
        except TimeoutError:
            await self._retry(row, pacer, "timed out", None, False)
        except Exception as exc:
            # An adapter bug or an SDK error it did not translate: retry with back-off so
            # that nothing is lost, but say loudly what happened.
            log.exception("sending row %d to %s raised unexpectedly", row.id, row.chat_key)
            await self._retry(row, pacer, f"{type(exc).__name__}: {exc}", None, False)
        else:
            if isinstance(action, Edit):
                self.stats.edited += 1
                self.metrics.delivered(row.platform, "edited")
            elif isinstance(action, Withdraw):
                self.stats.withdrawn += 1
                self.metrics.delivered(row.platform, "withdrawn")
            else:
                self.stats.sent += 1
                self.metrics.delivered(row.platform, "sent")
            health = self._health[row.platform]
            health.probes.discard(row.id)
            await self._commit(
                Outcome(row.id, SENT, to_db_time(self.clock()), ",".join(ids), follow=follow)
            )
            if health.failing:
                health.failing = False
                released = await self.outbox.release_transient(row.platform, self.clock())
                log.info(
                    "%s answers again: %d backing-off rows are due now", row.platform, released
                )
                self._wake.set()

    async def _retry(
        self,
        row: OutboxRow,
        pacer: Pacer,
        error: str,
        retry_after: float | None,
        platform_wide: bool,
    ) -> None:
        health = self._health[row.platform]
        probe = row.id in health.probes
        health.probes.discard(row.id)
        # A probe is our choice to try early, not one of the row's attempts.
        attempts = row.attempts if probe else row.attempts + 1
        if retry_after is not None:
            self.stats.rate_limited += 1
            self.metrics.rate_limited(row.platform)
            delay = max(retry_after, 0.0)
            if platform_wide:
                pacer.pause_all(delay)
            else:
                pacer.pause_chat(row.chat_key, delay)
            note = f"{RATE_LIMITED}{error} (retry after {delay:g}s)"
        else:
            delay = backoff_delay(attempts, self.delivery.backoff_base, self.delivery.backoff_max)
            note = f"{TRANSIENT}{error}"
            if not health.failing:
                health.failing = True
                health.next_probe = self._monotonic() + self.probe_interval
        now = self.clock()
        if attempts >= self.delivery.max_attempts:
            self.stats.failed += 1
            self.metrics.delivered(row.platform, "failed")
            log.warning(
                "giving up on row %d to %s after %d attempts: %s",
                row.id,
                row.chat_key,
                attempts,
                error,
            )
            await self._commit(
                Outcome(row.id, FAILED, to_db_time(now), attempts=attempts, error=note[:500])
            )
            return
        self.stats.retried += 1
        self.metrics.delivered(row.platform, "retry")
        log.info("row %d to %s: %s; again in %.2fs", row.id, row.chat_key, error, delay)
        # Rounded up a microsecond so the row is never due a hair before retry_after passes.
        due = now + timedelta(seconds=delay, microseconds=1)
        await self._commit(
            Outcome(
                row.id,
                PENDING,
                to_db_time(now),
                due_at=to_db_time(due),
                attempts=attempts,
                error=note[:500],
            )
        )

    async def _unreachable(self, row: OutboxRow, chat: ChatRef, reason: str) -> None:
        """Blocked, kicked, deleted: deactivate after this one try and drop what was queued."""
        self.stats.dropped_chats += 1
        self.metrics.delivered(row.platform, "unreachable")
        await self.store.chats.deactivate(chat, reason)
        dropped = await self.outbox.drop_chat(row.id, row.chat_key, reason, self.clock())
        self.pacers[row.platform].forget(row.chat_key)
        log.warning(
            "%s cannot be reached (%s): deactivated, %d queued messages dropped",
            chat.key,
            reason,
            dropped,
        )

    async def _moved(self, row: OutboxRow, chat: ChatRef, exc: ChatMoved) -> None:
        """A Telegram group became a supergroup: follow it to its new id and send again."""
        new = ChatRef(chat.platform, str(exc.new_chat_id), chat.thread_id)
        if new.key == chat.key:
            await self._unreachable(row, chat, f"moved to itself: {exc}")
            return
        self.stats.moved_chats += 1
        self.metrics.delivered(row.platform, "moved")
        try:
            await self.store.chats.move(chat, new)
        except KEY_TAKEN_ERRORS:
            # The new chat is already known (subscribed on its own): send it there once, and
            # retire the old id so nothing more is queued for it.
            await self.outbox.copy_to_chat(row.id, new.key, self.clock())
            await self.store.chats.deactivate(chat, f"moved to {new.key}")
        else:
            await self.outbox.resend_moved(row.id, self.clock())
        self.pacers[row.platform].forget(chat.key)
        log.info("%s moved to %s; resending row %d", chat.key, new.key, row.id)
        self._wake.set()

    # -- group commit of outcomes --------------------------------------------------------------

    async def _commit(self, outcome: Outcome) -> None:
        """Record one outcome; returns once it is committed (with whatever else was waiting)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((outcome, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._outcomes:
            group, self._outcomes = self._outcomes, []
            try:
                await self.outbox.record([o for o, _ in group])
            except Exception:
                # The rows stay 'sending' and go again at the next start: a possible repeat,
                # never a loss.
                log.exception("could not record %d delivery outcomes", len(group))
            for _, future in group:
                if not future.done():
                    future.set_result(None)
        self._wake.set()

    async def _flush_now(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
