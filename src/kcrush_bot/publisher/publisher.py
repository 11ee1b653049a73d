"""The publisher: polls, fan-out into the outbox, the delivery worker and the schedules.

``async with Publisher(...)`` runs one APScheduler ``AsyncIOScheduler`` on the running loop:

* ``poll:<source>``: each enabled source at its interval (with jitter); a poll that finds new
  pushable posts fans them out at once and wakes the worker;
* ``delivery:wake``: a safety-net wake-up of the worker (``wake()`` wakes it at once);
* ``schedules:refresh``: re-reads the digests and scheduled announcements (so a digest set by
  a command is picked up within a minute), catches posts ingested by another process, and sends
  any digest that is due but was missed;
* ``digest:<frequency>:<time>:<zone>[:<weekday>]``: a cron job per distinct digest schedule,
  in that time zone, shared by every chat with that schedule (one job per chat would cost ~5 KB
  each: 50 MB for 10,000 digest chats); when it fires, each of those chats is checked for a due
  digest on its own, exactly as the refresh job checks it;
* ``announcement:<id>``: a date job per scheduled announcement.

The schedules live in our tables; jobs are re-registered at start with stable ids
(``replace_existing``), so nothing about them is lost when the process stops. At start, rows a
crash left in flight go out again, and a digest missed while the bot was down is sent once.

Several replicas on one PostgreSQL database run every job, but the singleton ones (polls,
reconciles, digests, scheduled announcements, the refresh) do their work only in the replica
holding the ``lease``; the others skip each run. The replica that takes the lease over does
what a start does (``lease_changed``): fans out what was missed, re-registers the schedules from
the tables and polls at once. Delivery runs in every replica. Rows a crashed replica left in
flight are given back by the claims' expiry (``kcrush_bot.replicas``), not at start, since
another replica's rows in flight are its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kcrush_bot.core.categories import CategoryIndex
from kcrush_bot.core.commands.announce import audience
from kcrush_bot.core.digests import assemble_digest
from kcrush_bot.core.matching import INSTANT, SubscriptionIndex
from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.models import DigestSchedule
from kcrush_bot.core.ports import SOLE, Lease, Metrics, PacedPlatform, Platform
from kcrush_bot.core.times import as_utc, utc_now
from kcrush_bot.publisher import changes
from kcrush_bot.publisher.digests import (
    DigestCalendar,
    Signature,
    digest_job_id,
    due_fire_time,
    next_fire,
    signature,
)
from kcrush_bot.publisher.doorbell import Doorbell
from kcrush_bot.publisher.enqueue import announcement_rows, post_rows, sort_key
from kcrush_bot.publisher.limits import Limits, Pacer
from kcrush_bot.publisher.payloads import payload_of
from kcrush_bot.publisher.worker import DEFAULT_CONCURRENCY, DeliveryStats, DeliveryWorker
from kcrush_bot.settings import Settings, SourceSettings
from kcrush_bot.storage.outbox import NewRow, stamp
from kcrush_bot.storage.store import Store

if TYPE_CHECKING:
    from kcrush_bot.core.commands import CommandService
    from kcrush_bot.sources.ingest import Ingestor, SourceReport

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
REFRESH_SECONDS = 60.0
PRUNE_EVERY = timedelta(hours=1)  # forgetting old outbox rows is housekeeping
WAKE_SECONDS = 30.0
FANOUT_CHUNK = 200
RECONCILE_LIMIT = 5000  # posts asked about per reconcile, newest first


class Publisher:
    """Ingest → outbox → platforms, on one scheduler. See the module docstring."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        platforms: Mapping[str, Platform],
        *,
        service: CommandService | None = None,
        doorbell: Doorbell | None = None,
        calendar: DigestCalendar | None = None,
        clock: Callable[[], datetime] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        shutdown_grace: float = SHUTDOWN_GRACE,
        refresh_seconds: float = REFRESH_SECONDS,
        probe_interval: float | None = None,
        headroom: float | None = None,
        metrics: Metrics = NO_METRICS,
        lease: Lease = SOLE,
    ) -> None:
        self.store = store
        self.lease = lease
        self.metrics = metrics
        self.settings = settings
        self.platforms = dict(platforms)
        self.service = service
        self.doorbell = doorbell
        self.clock = clock or utc_now
        self.calendar = calendar or DigestCalendar(self.clock)
        self.shutdown_grace = shutdown_grace
        self.refresh_seconds = refresh_seconds
        self.outbox = store.outbox
        pacer_options: dict[str, Any] = {} if headroom is None else {"headroom": headroom}
        self.pacers = {
            name: Pacer(Limits.for_platform(name, settings.delivery), **pacer_options)
            for name in self.platforms
        }
        for name, platform in self.platforms.items():
            # One budget per platform: command replies draw from the broadcast's, first.
            if isinstance(platform, PacedPlatform):
                platform.pace_with(self.pacers[name])
        self.worker = DeliveryWorker(
            store,
            self.outbox,
            self.platforms,
            self.pacers,
            settings.delivery,
            clock=self.clock,
            concurrency=concurrency,
            probe_interval=probe_interval,
            metrics=metrics,
        )
        self.scheduler: AsyncIOScheduler | None = None
        self._stack: AsyncExitStack | None = None
        self._ingestor: Ingestor | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._polls: set[asyncio.Task[object]] = set()
        self._pruned_at: datetime | None = None
        self._doorbell_task: asyncio.Task[None] | None = None
        self._fanout_lock = asyncio.Lock()
        self._digest_jobs: set[Signature] = set()  # the schedules with a cron job registered
        # Per chat the earliest time its digest can next be due (by what that depends on), so
        # with the calendar's one trigger per schedule the minutely check of 10,000 digests is
        # a dictionary lookup each, not cron arithmetic.
        self._not_due_before: dict[str, tuple[object, datetime]] = {}
        self._announcement_jobs: set[int] = set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Publisher:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            now = self.clock()
            if not self.lease.shared:
                resent = await self.outbox.recover_in_flight(now)
                if resent:
                    log.warning(
                        "%d messages were in flight when the bot stopped: resending", resent
                    )
            if any(s.enabled for s in self.settings.sources):
                self._ingestor = await stack.enter_async_context(self._open_ingestor())
            if self.lease.held:
                await self._catch_up(now)
            self._worker_task = asyncio.create_task(self.worker.run(), name="delivery-worker")
            self.scheduler = self._start_scheduler()
            if self.lease.held:
                await self.refresh_schedules()
            if self.doorbell is not None:
                self._doorbell_task = asyncio.create_task(self._answer_doorbell(self.doorbell))
        except BaseException:
            await self._shutdown()
            await stack.__aexit__(None, None, None)
            raise
        self._stack = stack
        return self

    async def _catch_up(self, now: datetime) -> None:
        """What the singleton duties missed while nobody here ran them."""
        await self.enqueue_new_posts()
        await self.follow_changed_posts()
        await self.enqueue_announcements()
        await self.send_due_digests(now)  # the ones missed while the bot was down

    async def lease_changed(self, held: bool) -> None:
        """This replica took the singleton lease over (or lost it). Taking it over does what a
        start does: catch up from the tables, register the schedules, poll every source now.
        Losing it needs nothing: every singleton job checks the lease before it works."""
        scheduler = self.scheduler
        if not held or scheduler is None:
            return
        log.info("holding the singleton lease: polls, digests and announcements run here")
        try:
            await self._catch_up(self.clock())
            await self.refresh_schedules()
        except Exception:
            log.exception("taking over the singleton duties failed; the refresh job retries")
        now = datetime.now(UTC)
        for source in self.settings.sources:
            if source.enabled:
                with contextlib.suppress(Exception):
                    scheduler.modify_job(f"poll:{source.name}", next_run_time=now)

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._shutdown()
        finally:
            if self._stack is not None:
                await self._stack.__aexit__(None, None, None)
                self._stack = None
            self._ingestor = None

    async def _shutdown(self) -> None:
        """Stop taking work, let the sends in flight finish (bounded), stop the scheduler."""
        if self._doorbell_task is not None:
            self._doorbell_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._doorbell_task
            self._doorbell_task = None
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        # A poll still running would write through the ingest connection after it closes:
        # cancel it (its transaction rolls back) and wait until it has let go.
        polls = list(self._polls)
        for task in polls:
            task.cancel()
        if polls:
            await asyncio.wait(polls, timeout=self.shutdown_grace)
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
        await self.worker.stop(self.shutdown_grace)
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
            self._worker_task = None

    @asynccontextmanager
    async def _open_ingestor(self) -> AsyncIterator[Ingestor]:
        """An Ingestor on its own connection to the database file.

        Ingest is a bulk writer; on its own connection its transactions queue behind the
        publisher's on SQLite's lock (busy_timeout) instead of colliding with them on the
        shared connection, where a second BEGIN inside an open transaction is an error.
        """
        from kcrush_bot.sources.ingest import Ingestor

        async with AsyncExitStack() as stack:
            store = self.store
            if self.store.db.path != ":memory:":
                second = Store.open(self.store.db.path, upgrade=False, clock=self.store.db.clock)
                store = await stack.enter_async_context(second)
            ingestor = await stack.enter_async_context(
                Ingestor(store, self.settings, metrics=self.metrics)
            )
            yield ingestor

    def _start_scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        for source in self.settings.sources:
            if not source.enabled:
                continue
            scheduler.add_job(
                self._poll_job,
                IntervalTrigger(
                    seconds=source.interval, jitter=min(source.interval * 0.1, 60.0) or None
                ),
                args=(source,),
                id=f"poll:{source.name}",
                name=f"poll {source.name}",
                replace_existing=True,
                next_run_time=datetime.now(UTC),  # the first poll at start
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(int(source.interval), 1),
            )
        if self._reconcile_source() is not None:
            interval = self.settings.ingest.reconcile_interval
            scheduler.add_job(
                self._reconcile_job,
                IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 60.0)),
                id="reconcile",
                name="reconcile the archive with WordPress",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )
        scheduler.add_job(
            self.worker.wake,
            IntervalTrigger(seconds=WAKE_SECONDS),
            id="delivery:wake",
            replace_existing=True,
            coalesce=True,
        )
        scheduler.add_job(
            self._refresh_job,
            IntervalTrigger(seconds=self.refresh_seconds),
            id="schedules:refresh",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        scheduler.start()
        return scheduler

    # -- the Notifier port ---------------------------------------------------------------------

    def wake(self) -> None:
        """Something was enqueued or an announcement confirmed: the worker looks now, and
        confirmed announcements and changed schedules are picked up."""
        self.worker.wake()
        if self.scheduler is None:
            return
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.get_running_loop().create_task(self._refresh_job())

    async def _answer_doorbell(self, doorbell: Doorbell) -> None:
        """The command service rang (an announcement was confirmed): wake up as if called."""
        doorbell.listening = True
        try:
            while True:
                await doorbell.rung()
                self.wake()
        finally:
            doorbell.listening = False

    # -- polling -------------------------------------------------------------------------------

    async def _poll_job(self, source: SourceSettings) -> None:
        if not self.lease.held:
            return
        task = asyncio.current_task()
        if task is not None:
            self._polls.add(task)
        try:
            report = await self.poll_source(source)
        except asyncio.CancelledError:
            # Only shutdown cancels a poll, and this is the job's own task: end it quietly
            # rather than let the scheduler log the cancellation as a failure.
            log.info("poll of %s stopped for shutdown; nothing of it was stored", source.name)
            return
        except Exception:
            log.exception("polling %s failed", source.name)
            return
        finally:
            self._polls.discard(task)  # type: ignore[arg-type,unused-ignore]
        if report.error or report.new:
            log.info("%s", report.line())

    async def poll_source(self, source: SourceSettings, *, force: bool = False) -> SourceReport:
        """Ingest one source and fan out what it brought (never a source's silent first sight:
        the ingest stores those posts as not pushable). ``force`` polls a source that is
        backing off, as a push notice does."""
        if self._ingestor is not None:
            report = await self._ingestor.poll(source, force=force)
        else:
            async with self._open_ingestor() as ingestor:
                report = await ingestor.poll(source, force=force)
        return await self._fan_out_after(report)

    async def ingest_document(self, source: SourceSettings, body: bytes) -> SourceReport:
        """Store a document that reached the bot another way (the post a push notice named)
        as a poll of ``source`` would, and fan out what it brought."""
        if self._ingestor is not None:
            report = await self._ingestor.ingest_document(source, body)
        else:
            async with self._open_ingestor() as ingestor:
                report = await ingestor.ingest_document(source, body)
        return await self._fan_out_after(report)

    async def _fan_out_after(self, report: SourceReport) -> SourceReport:
        if report.new and self.service is not None:
            self.service.forget_categories()  # the ingest may have added categories
        if await self.enqueue_new_posts():
            self.worker.wake()
        if report.updated:
            await self.follow_changed_posts()
        return report

    # -- reconciling with WordPress -------------------------------------------------------------

    def _reconcile_source(self) -> SourceSettings | None:
        """The enabled ``wordpress`` source the reconcile asks, if there is one."""
        return next((s for s in self.settings.sources if s.enabled and s.kind == "wordpress"), None)

    async def _reconcile_job(self) -> None:
        if not self.lease.held:
            return
        try:
            await self.reconcile()
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("reconciling with WordPress failed")

    async def reconcile(self) -> int:
        """Ask WordPress about the recent archive (``[ingest] reconcile_window``, feed-read
        posts included) and withdraw what it no longer shows: the withdrawals no poll reports
        (a post back to draft, made private, given a password, trashed or deleted). A recently
        withdrawn post WordPress shows again comes back (publishing a draft does not change its
        modification time, so a poll may not see it). Returns how many posts changed; a site
        that cannot answer changes nothing."""
        source = self._reconcile_source()
        if source is None:
            return 0
        since = self.clock() - timedelta(seconds=self.settings.ingest.reconcile_window)
        await self._learn_wordpress_ids(source, since)
        shown = [p.wp_id for p in await self.store.posts.public_since(since, RECONCILE_LIMIT)]
        hidden = [p.wp_id for p in await self.store.posts.withdrawn_since(since, RECONCILE_LIMIT)]
        ids = [i for i in shown + hidden if i]
        if not ids:
            return 0
        if self._ingestor is not None:
            public, gone = await self._ingestor.visibility(source, ids)
        else:
            async with self._open_ingestor() as ingestor:
                public, gone = await ingestor.visibility(source, ids)
        withdrawn = await self.withdraw(*sorted(gone & set(shown))) if gone & set(shown) else 0
        back = public & set(hidden)
        restored = await self.restore(*sorted(back)) if back else 0
        log.info(
            "reconciled %d recent posts with %s: %d withdrawn, %d back",
            len(ids),
            source.name,
            withdrawn,
            restored,
        )
        return withdrawn + restored

    async def _learn_wordpress_ids(self, source: SourceSettings, since: datetime) -> None:
        """Feed-read posts whose guid is a permalink name no WordPress id: find it by slug, so
        the reconcile can ask about them too."""
        unknown = await self.store.posts.public_without_wordpress_id(since, RECONCILE_LIMIT)
        if not unknown:
            return
        links = [p.url for p in unknown]
        if self._ingestor is not None:
            found = await self._ingestor.wordpress_ids(source, links)
        else:
            async with self._open_ingestor() as ingestor:
                found = await ingestor.wordpress_ids(source, links)
        await self.store.posts.set_wordpress_ids(
            {p.id: found[p.url] for p in unknown if p.id is not None and p.url in found}
        )

    # -- fan-out -------------------------------------------------------------------------------

    async def _categories(self) -> CategoryIndex:
        if self.service is not None:
            return await self.service.categories()
        return CategoryIndex(await self.store.posts.categories())

    async def enqueue_new_posts(self) -> int:
        """Outbox rows for pushable posts not yet fanned out; returns how many rows."""
        total = 0
        async with self._fanout_lock:
            while True:
                pending = await self.outbox.posts_to_publish(FANOUT_CHUNK)
                if not pending:
                    break
                posts = {p.id: p for p in await self.store.posts.by_ids([i for i, _ in pending])}
                index = await self._categories()
                names = index.names()
                subs = SubscriptionIndex(await self.store.chats.subscriptions(), INSTANT)
                rows: list[NewRow] = []
                for post_id, published in pending:
                    post = posts.get(post_id)
                    if post is not None:
                        chats = subs.chats_for(post, index)
                        rows += post_rows(
                            post, as_utc(datetime.fromisoformat(published)), chats, names
                        )
                now = self.clock()
                async with self.outbox.transaction() as db:
                    total += await self.outbox.insert(db, rows, now)
                    await self.outbox.mark_posts_enqueued(db, [i for i, _ in pending], now)
                log.info("fanned out %d posts: %d messages queued", len(pending), len(rows))
        if total:
            self.worker.wake()
        return total

    async def follow_changed_posts(self) -> int:
        """Edits and withdrawals of posts reach the messages sent for them (see
        ``publisher.changes``); returns how many outbox rows were armed or changed."""
        total = 0
        async with self._fanout_lock:
            while True:
                touched = await self.store.posts.touched(FANOUT_CHUNK)
                if not touched:
                    break
                rows = await self.outbox.post_messages([p.id or 0 for p, _, _ in touched])
                names = (await self._categories()).names()
                now = self.clock()
                plan, handled = changes.plan(touched, rows, names, self.settings.delivery, now)
                async with self.outbox.transaction() as db:
                    await self.outbox.follow_posts(db, plan, now)
                    await self.store.posts.untouch(db, handled)
                done = len(plan.drop) + len(plan.refresh) + len(plan.resend) + len(plan.arm)
                total += done
                if done:
                    log.info(
                        "%d changed posts: %d edits or withdrawals armed, %d deliveries again, "
                        "%d dropped",
                        len(handled),
                        len(plan.arm),
                        len(plan.resend),
                        len(plan.drop),
                    )
                if len(handled) < len(touched):
                    break  # the rest have a row in flight: the next pass takes them
        if total:
            self.worker.wake()
        return total

    async def withdraw(self, *wp_ids: int) -> int:
        """WordPress says these posts (by WordPress's id) stopped being public: they leave
        latest, search, categories and digests at once, and their messages follow. What the
        push receiver calls on an ``unpublish`` or ``delete`` notice once WordPress confirmed
        it (401 or 404 for the post). Returns how many stored posts were withdrawn."""
        found = await self.store.posts.by_wordpress_ids(wp_ids)
        withdrawn = await self.store.posts.withdraw([p.id for p in found.values() if p.id])
        if withdrawn:
            log.info("withdrawn: %d posts (WordPress ids %s)", len(withdrawn), sorted(found))
            if self.service is not None:
                self.service.forget_categories()
            await self.follow_changed_posts()
        return len(withdrawn)

    async def restore(self, *wp_ids: int) -> int:
        """These withdrawn posts are public again (a REST reading of them restores them too);
        their messages follow. Returns how many were restored."""
        found = await self.store.posts.by_wordpress_ids(wp_ids)
        restored = await self.store.posts.restore([p.id for p in found.values() if p.id])
        if restored:
            log.info("restored: %d posts (WordPress ids %s)", len(restored), sorted(found))
            await self.enqueue_new_posts()  # withdrawn before they were fanned out
            await self.follow_changed_posts()
        return len(restored)

    async def enqueue_announcements(self) -> int:
        """Outbox rows for confirmed announcements not yet fanned out (and due, if scheduled)."""
        total = 0
        async with self._fanout_lock:
            due = await self.outbox.announcements_to_send(self.clock())
            if not due:
                return 0
            subs = await self.store.chats.subscriptions()
            index = await self._categories()
            for item in due:
                chats = [chat.key for chat in audience(subs, item["category"], index)]
                at = as_utc(datetime.fromisoformat(item["scheduled"] or item["at"]))
                rows = announcement_rows(item["id"], item["text"], at, chats)
                now = self.clock()
                async with self.outbox.transaction() as db:
                    total += await self.outbox.insert(db, rows, now)
                    await self.outbox.mark_announcement_enqueued(db, item["id"], now)
                log.info("announcement #%d queued for %d chats", item["id"], len(chats))
        if total:
            self.worker.wake()
        return total

    # -- digests -------------------------------------------------------------------------------

    async def send_due_digests(self, now: datetime) -> int:
        """Enqueue every digest due at ``now`` (see ``publisher.digests``); returns how many
        chats' digests were handled (an empty digest is marked sent without a message unless
        ``digest.send_empty``)."""
        schedules = await self.store.chats.digests()
        self.calendar.read(schedules)
        changed = await self.outbox.digest_changed_at()
        done = 0
        for schedule in schedules:
            if await self._digest_if_due(schedule, now, changed.get(schedule.chat.key)):
                done += 1
        return done

    async def _digest_if_due(
        self, schedule: DigestSchedule, now: datetime, set_at: datetime | None
    ) -> bool:
        key = schedule.chat.key
        basis = (signature(schedule), schedule.last_sent_at, set_at)
        known = self._not_due_before.get(key)
        if known is not None and known[0] == basis and now < known[1]:
            return False
        trigger = self.calendar.trigger(schedule)
        fire = due_fire_time(schedule, now, set_at, trigger)
        if fire is None:
            # No fire time falls between now and the next one: not due before it.
            upcoming = next_fire(trigger, now)
            if upcoming is not None:
                self._not_due_before[key] = (basis, upcoming)
            return False
        self._not_due_before.pop(key, None)
        await self._send_digest(schedule, fire, now)
        return True

    async def _send_digest(self, schedule: DigestSchedule, fire: datetime, now: datetime) -> int:
        chat = schedule.chat
        async with self._fanout_lock:
            digest = await assemble_digest(
                self.store,
                await self._categories(),
                schedule,
                now,
                max_items=self.settings.digest.max_items,
                send_empty=self.settings.digest.send_empty,
            )
            rows = [
                NewRow(
                    f"digest:{chat.key}:{stamp(fire)}#{number}",
                    chat.key,
                    payload_of(reply),
                    sort_key(fire, "digest", number),
                )
                for number, reply in enumerate(digest.replies, start=1)
            ]
            # Enqueue and close the window in one transaction: a crash leaves either both or
            # neither, so a digest is neither skipped nor repeated.
            async with self.outbox.transaction() as db:
                queued = await self.outbox.insert(db, rows, now)
                await self.store.chats.mark_digest_sent(chat, now)
        log.info(
            "%s digest for %s (%s): %d posts, %d messages",
            schedule.frequency.value,
            chat.key,
            fire.isoformat(),
            len(digest.posts),
            queued,
        )
        if queued:
            self.worker.wake()
        return queued

    async def _digest_job(self, sig: Signature) -> None:
        """The cron job of one schedule: every chat that has it now (read afresh) gets its
        digest if due, each on its own, so one chat's failure does not hold up the others."""
        if not self.lease.held:
            return
        try:
            schedules = [s for s in await self.store.chats.digests() if signature(s) == sig]
            changed = await self.outbox.digest_changed_at()
        except Exception:
            log.exception("digests at %s failed", digest_job_id(sig))
            return
        for schedule in schedules:
            key = schedule.chat.key
            try:
                await self._digest_if_due(schedule, self.clock(), changed.get(key))
                self.calendar.schedules[key] = schedule
            except Exception:
                log.exception("digest for %s failed", key)

    def next_digest_times(self) -> dict[str, datetime]:
        """Chat key → when its next digest fires (from the schedules last read)."""
        return self.calendar.next_digest_times()

    # -- keeping the schedules in step with the tables ------------------------------------------

    async def _refresh_job(self) -> None:
        if not self.lease.held:
            return
        try:
            await self.enqueue_new_posts()
            await self.follow_changed_posts()
            await self.enqueue_announcements()
            await self.refresh_schedules()
            await self.send_due_digests(self.clock())
            now = self.clock()
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                self._pruned_at = now
                keep = timedelta(seconds=self.settings.delivery.keep_finished)
                window = timedelta(seconds=self.settings.delivery.edit_window)
                if pruned := await self.outbox.prune(
                    now - keep, keep_sent_posts_since=now - window
                ):
                    log.info("forgot %d finished outbox rows older than %s", pruned, keep)
        except Exception:
            log.exception("refreshing schedules failed")

    async def refresh_schedules(self) -> None:
        """(Re-)register digest cron jobs and scheduled announcements from the tables.

        One digest job per distinct schedule: a job is added when the first chat takes its
        schedule and removed when the last one leaves it, never replaced while in use, so a
        refresh never moves a fire time.
        """
        schedules = await self.store.chats.digests()
        self.calendar.read(schedules)
        groups: dict[Signature, DigestSchedule] = {}
        for schedule in schedules:
            groups.setdefault(signature(schedule), schedule)
        scheduler = self.scheduler
        if scheduler is None:
            return
        for sig, schedule in groups.items():
            if sig in self._digest_jobs:
                continue
            scheduler.add_job(
                self._digest_job,
                self.calendar.trigger(schedule),
                args=(sig,),
                id=digest_job_id(sig),
                name=f"{schedule.frequency.value} digests at {' '.join(p for p in sig[1:] if p)}",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                # A run late by up to an hour still goes; anything later is caught by the
                # refresh job's due check, which sends each missed digest once.
                misfire_grace_time=3600,
            )
            self._digest_jobs.add(sig)
        for sig in self._digest_jobs - groups.keys():
            with contextlib.suppress(Exception):
                scheduler.remove_job(digest_job_id(sig))
            self._digest_jobs.discard(sig)
        now = self.clock()
        for announcement_id, when in await self.outbox.scheduled_announcements():
            if announcement_id in self._announcement_jobs or when <= now:
                continue
            scheduler.add_job(
                self._announcement_job,
                DateTrigger(run_date=when + timedelta(milliseconds=1)),
                id=f"announcement:{announcement_id}",
                replace_existing=True,
                misfire_grace_time=None,  # however late: an announcement is never skipped
            )
            self._announcement_jobs.add(announcement_id)

    async def _announcement_job(self) -> None:
        if not self.lease.held:
            return
        try:
            await self.enqueue_announcements()
        except Exception:
            log.exception("scheduled announcement failed")

    # -- delivery ------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """One full pass of the worker: everything due now is sent (tests and the bench)."""
        return await self.worker.drain()

    @property
    def delivery_stats(self) -> DeliveryStats:
        return self.worker.stats
