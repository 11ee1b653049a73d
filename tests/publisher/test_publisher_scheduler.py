"""The publisher's lifecycle: one scheduler with stable job ids, wake-ups, a bounded shutdown."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from tests.conftest import caller

from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.commands.announce import decide
from kcrush_bot.core.models import ChatRef, DigestSchedule, Mode
from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
from publisher.publisherkit import FakePlatform, make_post, make_settings, wait_until
from sqlkit import sql

FEED = Path(__file__).resolve().parent.parent / "fixtures" / "atom.xml"
FAN = ChatRef("telegram", "42")
SEOUL_FRIDAYS = "digest:weekly:18:30:Asia/Seoul:fri"
PARIS_DAILY = "digest:daily:07:00:Europe/Paris"


async def test_jobs_are_registered_with_stable_ids(store: Store):
    settings = settings_mod.from_dict(
        {
            "bot": {"sample_archive": False},
            "sources": [
                {"name": "atom", "kind": "file", "url": str(FEED), "interval": 3600},
                {"name": "off", "kind": "file", "url": str(FEED), "enabled": False},
            ],
        }
    )
    await store.chats.set_digest(DigestSchedule(FAN, Mode.WEEKLY, "18:30", "Asia/Seoul", "fri"))
    later = await store.announcements.create("Soon", None, "op")
    await store.announcements.set_status(later, "confirmed")
    await sql(
        store,
        "UPDATE announcements SET scheduled_for = '2999-01-01T00:00:00+00:00' WHERE id = ?",
        later,
    )
    async with Publisher(store, settings, {"telegram": FakePlatform()}) as publisher:
        assert publisher.scheduler is not None
        ids = {job.id for job in publisher.scheduler.get_jobs()}
        assert ids == {
            "poll:atom",
            "delivery:wake",
            "schedules:refresh",
            SEOUL_FRIDAYS,
            f"announcement:{later}",
        }
        trigger = publisher.scheduler.get_job(SEOUL_FRIDAYS).trigger
        assert isinstance(trigger, CronTrigger)
        assert trigger.timezone == ZoneInfo("Asia/Seoul")
        assert "day_of_week='fri'" in str(trigger)
        # Changing the digest moves it to its new schedule's job on the next refresh.
        await store.chats.set_digest(DigestSchedule(FAN, Mode.DAILY, "07:00", "Europe/Paris"))
        await publisher.refresh_schedules()
        assert publisher.scheduler.get_job(SEOUL_FRIDAYS) is None
        trigger = publisher.scheduler.get_job(PARIS_DAILY).trigger
        assert trigger.timezone == ZoneInfo("Europe/Paris")
        assert publisher.next_digest_times()[FAN.key].hour == 7
        await store.chats.clear_digest(FAN)
        await publisher.refresh_schedules()
        assert publisher.scheduler.get_job(PARIS_DAILY) is None
    assert publisher.scheduler is None


async def test_wake_delivers_without_waiting_for_the_safety_net(store: Store):
    telegram = FakePlatform()
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    async with Publisher(store, make_settings(), {"telegram": telegram}) as publisher:
        await asyncio.sleep(0.1)  # the worker is asleep now
        await store.posts.upsert([make_post(1)], source="feed", pushable=True)
        started = time.monotonic()
        assert await publisher.enqueue_new_posts() == 1  # wakes the worker itself
        await wait_until(lambda: telegram.delivered(FAN.key), within=2.0)
        assert time.monotonic() - started < 0.5


async def test_a_confirmed_announcement_goes_out_at_once(store: Store):
    telegram = FakePlatform()
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    draft = await store.announcements.create("Fan meeting on Friday", None, "telegram:1001")
    settings = make_settings()
    settings = replace(settings, telegram=replace(settings.telegram, moderators=("1001",)))
    async with (
        app.build(settings, store=store, platforms={"telegram": telegram}) as built,
        built.publisher,
    ):
        await asyncio.sleep(0.1)  # the worker is asleep now, its safety net 30 s away
        moderator = caller(user_id="1001")
        await decide(built.service, moderator, draft, confirm=True)
        await wait_until(lambda: telegram.delivered(FAN.key), within=2.0)
    assert telegram.delivered(FAN.key)[0].reply.text == "Fan meeting on Friday"


async def test_shutdown_finishes_sends_in_flight(store: Store):
    slow = FakePlatform(latency=0.3)
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    async with Publisher(store, make_settings(), {"telegram": slow}):
        await wait_until(lambda: slow.in_flight == 1)
    assert len(slow.delivered(FAN.key)) == 1
    assert [r[0] for r in await sql(store, "SELECT status FROM outbox")] == ["sent"]


async def test_shutdown_is_bounded_and_a_cut_send_goes_again_at_start(store: Store):
    stuck = FakePlatform()
    stuck.script(FAN.key, 30.0)  # the platform never answers
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    publisher = Publisher(store, make_settings(), {"telegram": stuck}, shutdown_grace=0.2)
    async with publisher:
        await wait_until(lambda: stuck.in_flight == 1)
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    assert [r[0] for r in await sql(store, "SELECT status FROM outbox")] == ["sending"]

    fresh = FakePlatform()
    async with Publisher(store, make_settings(), {"telegram": fresh}):
        await wait_until(lambda: fresh.delivered(FAN.key), within=2.0)
