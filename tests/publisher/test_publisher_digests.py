"""Digests: due at the chat's local time across DST, missed ones sent once, split when long."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kcrush_bot.core.models import ChatRef, DigestSchedule, Mode
from kcrush_bot.publisher import Publisher
from kcrush_bot.publisher.digests import next_digest_times
from kcrush_bot.storage import Store
from publisher.publisherkit import FakeClock, FakePlatform, make_post, make_settings
from sqlkit import sql

CHAT = ChatRef("telegram", "-1001")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def daily_digest(
    store: Store,
    *,
    tz: str = "America/New_York",
    time: str = "09:00",
    last_sent: datetime | None,
    frequency: Mode = Mode.DAILY,
    weekday: str = "mon",
) -> None:
    await store.chats.subscribe(CHAT, ["interviews"], frequency)
    await store.chats.set_digest(DigestSchedule(CHAT, frequency, time, tz, weekday))
    # The schedule was set long before the times these tests look at.
    await sql(store, "UPDATE digests SET updated_at = '2024-01-01T00:00:00+00:00'")
    if last_sent is not None:
        await store.chats.mark_digest_sent(CHAT, last_sent)


async def digest_items(store: Store) -> list[str]:
    return [r[0] for r in await sql(store, "SELECT item FROM outbox ORDER BY sort_key")]


async def test_daily_digest_follows_local_time_into_daylight_saving(store: Store):
    clock = FakeClock()
    publisher = Publisher(store, make_settings(), {"telegram": FakePlatform()}, clock=clock)
    await daily_digest(store, last_sent=utc(2024, 3, 9, 14, 0))  # 09:00 EST
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)

    # 2024-03-10: clocks went forward at 02:00, so 09:00 local is 13:00 UTC, not 14:00.
    assert await publisher.send_due_digests(utc(2024, 3, 10, 12, 59)) == 0
    assert await publisher.send_due_digests(utc(2024, 3, 10, 13, 0)) == 1
    assert await publisher.send_due_digests(utc(2024, 3, 10, 13, 30)) == 0
    assert await digest_items(store) == ["digest:telegram:-1001:2024-03-10T13:00:00.000000+00:00#1"]
    clock.now = utc(2024, 3, 10, 13, 30)
    assert publisher.next_digest_times() == {CHAT.key: utc(2024, 3, 11, 13, 0)}
    # What ``kcrush-bot stats`` shows, computed without a publisher, is the same.
    shown = next_digest_times(await store.chats.digests(), clock.now)
    assert shown == publisher.next_digest_times()


async def test_daily_digest_follows_local_time_out_of_daylight_saving(store: Store):
    publisher = Publisher(store, make_settings(), {"telegram": FakePlatform()})
    await daily_digest(store, last_sent=utc(2024, 11, 2, 13, 0))  # 09:00 EDT
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)

    # 2024-11-03: clocks went back at 02:00, so 09:00 local is 14:00 UTC again.
    assert await publisher.send_due_digests(utc(2024, 11, 3, 13, 0)) == 0
    assert await publisher.send_due_digests(utc(2024, 11, 3, 13, 59)) == 0
    assert await publisher.send_due_digests(utc(2024, 11, 3, 14, 0)) == 1


async def test_weekly_digest_fires_on_its_day_name(store: Store):
    publisher = Publisher(store, make_settings(), {"telegram": FakePlatform()})
    # Friday 18:00 in Seoul is 09:00 UTC; 2024-05-03 was a Friday.
    await daily_digest(
        store,
        tz="Asia/Seoul",
        time="18:00",
        frequency=Mode.WEEKLY,
        weekday="fri",
        last_sent=utc(2024, 4, 26, 9, 0),
    )
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    assert await publisher.send_due_digests(utc(2024, 5, 2, 9, 0)) == 0  # Thursday
    assert await publisher.send_due_digests(utc(2024, 5, 3, 8, 59)) == 0
    assert await publisher.send_due_digests(utc(2024, 5, 3, 9, 0)) == 1


async def test_missed_digest_goes_out_once_after_a_restart(store: Store):
    telegram = FakePlatform()
    clock = FakeClock(utc(2024, 6, 5, 12, 0))
    await daily_digest(store, last_sent=utc(2024, 6, 1, 13, 0))  # down since June 1st
    await store.posts.upsert([make_post(1), make_post(2)], source="feed", pushable=True)

    async with Publisher(store, make_settings(), {"telegram": telegram}, clock=clock):
        pass
    publisher = Publisher(store, make_settings(), {"telegram": telegram}, clock=clock)
    async with publisher:  # a second restart the same day: already sent
        await publisher.deliver_due()
    assert await digest_items(store) == ["digest:telegram:-1001:2024-06-04T13:00:00.000000+00:00#1"]
    assert len(telegram.delivered(CHAT.key)) == 1
    page = telegram.delivered(CHAT.key)[0].reply
    assert [item.title for item in page.items] == [make_post(1).title, make_post(2).title]
    [schedule] = await store.chats.digests()
    assert schedule.last_sent_at == utc(2024, 6, 5, 12, 0)


async def test_a_missed_digest_is_sent_once_even_when_news_follows_it(store: Store):
    """The due rule, not the outbox's unique key, keeps a digest from going out twice: the
    missed digest here was empty (marked sent, no message), so a second one for the same fire
    time would carry the post that arrived since, under a key the outbox has never seen."""
    telegram = FakePlatform()
    clock = FakeClock(utc(2024, 6, 5, 12, 0))
    await daily_digest(store, tz="UTC", last_sent=utc(2024, 6, 1, 9, 0))  # down since June 1st

    async with Publisher(store, make_settings(), {"telegram": telegram}, clock=clock):
        pass  # the missed 09:00 digest: nothing new, so marked sent without a message
    [schedule] = await store.chats.digests()
    assert schedule.last_sent_at == utc(2024, 6, 5, 12, 0)
    assert await digest_items(store) == []

    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    clock.now = utc(2024, 6, 5, 12, 30)
    publisher = Publisher(store, make_settings(), {"telegram": telegram}, clock=clock)
    assert await publisher.send_due_digests(clock.now) == 0  # the minutely look
    async with publisher:  # and another restart the same day
        await publisher.deliver_due()
    assert await digest_items(store) == []
    assert telegram.attempts == []

    # The post waits for the next digest, which goes out once.
    assert await publisher.send_due_digests(utc(2024, 6, 6, 9, 0)) == 1
    assert await publisher.send_due_digests(utc(2024, 6, 6, 9, 1)) == 0
    assert await digest_items(store) == ["digest:telegram:-1001:2024-06-06T09:00:00.000000+00:00#1"]


async def test_nothing_new_sends_nothing_unless_asked(store: Store):
    await daily_digest(store, last_sent=utc(2024, 6, 1, 13, 0))
    quiet = Publisher(store, make_settings(), {"telegram": FakePlatform()})
    assert await quiet.send_due_digests(utc(2024, 6, 2, 13, 0)) == 1
    assert await digest_items(store) == []

    from dataclasses import replace

    settings = make_settings()
    chatty = Publisher(
        store,
        replace(settings, digest=replace(settings.digest, send_empty=True)),
        {"telegram": FakePlatform()},
    )
    assert await chatty.send_due_digests(utc(2024, 6, 3, 13, 0)) == 1
    assert len(await digest_items(store)) == 1


async def test_long_digest_is_split_and_silent_posts_left_out(store: Store):
    telegram = FakePlatform()
    publisher = Publisher(store, make_settings(), {"telegram": telegram})
    await daily_digest(store, last_sent=None)
    await store.posts.upsert([make_post(n) for n in range(1, 24)], source="feed", pushable=True)
    await store.posts.upsert([make_post(99)], source="first-sight", pushable=False)
    await store.posts.upsert(
        [make_post(50, category="news")], source="feed", pushable=True
    )  # not a category the chat follows
    assert await publisher.send_due_digests(datetime.now(UTC)) == 1
    assert await publisher.deliver_due() == 3
    pages = [s.reply for s in telegram.delivered(CHAT.key)]
    assert [p.page for p in pages] == [1, 2, 3]
    titles = [item.title for p in pages for item in p.items]
    assert titles == [make_post(n).title for n in range(1, 24)]


async def test_keyword_filters_apply_to_digests(store: Store):
    publisher = Publisher(store, make_settings(), {"telegram": FakePlatform()})
    await daily_digest(store, last_sent=None)
    await store.chats.subscribe(CHAT, ["interviews"], Mode.DAILY, keywords=["artist2"])
    await store.posts.upsert([make_post(1), make_post(2)], source="feed", pushable=True)
    await publisher.send_due_digests(datetime.now(UTC))
    [(payload,)] = await sql(store, "SELECT payload FROM outbox")
    items = json.loads(payload)["reply"]["items"]
    assert [i["title"] for i in items] == [make_post(2).title]


async def test_chats_sharing_a_schedule_share_one_job(store: Store):
    """50 digest chats on 2 schedules are 2 cron jobs, not 50; each job, when it fires, sends
    the digest of every chat on its schedule that is due, once."""
    new_york = [ChatRef("telegram", str(-2000 - n)) for n in range(30)]
    seoul = [ChatRef("discord", str(900000 + n)) for n in range(20)]
    for n, chat in enumerate(new_york):  # the weekday of a daily digest does not matter
        await store.chats.subscribe(chat, ["interviews"], Mode.DAILY)
        weekday = ("mon", "fri", "sun")[n % 3]
        await store.chats.set_digest(
            DigestSchedule(chat, Mode.DAILY, "09:00", "America/New_York", weekday)
        )
        await store.chats.mark_digest_sent(chat, utc(2024, 5, 2, 13, 0))  # 09:00 EDT
    for chat in seoul:
        await store.chats.subscribe(chat, ["interviews"], Mode.WEEKLY)
        await store.chats.set_digest(
            DigestSchedule(chat, Mode.WEEKLY, "18:00", "Asia/Seoul", "fri")
        )
        await store.chats.mark_digest_sent(chat, utc(2024, 4, 26, 9, 0))  # a Friday, 18:00 KST
    await sql(store, "UPDATE digests SET updated_at = '2024-01-01T00:00:00+00:00'")
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)

    clock = FakeClock(utc(2024, 5, 3, 8, 0))  # Friday 2024-05-03, before either fires
    platforms = {"telegram": FakePlatform(), "discord": FakePlatform("discord")}
    async with Publisher(store, make_settings(), platforms, clock=clock) as publisher:
        assert publisher.scheduler is not None
        jobs = {j.id: j for j in publisher.scheduler.get_jobs() if j.id.startswith("digest:")}
        assert set(jobs) == {
            "digest:daily:09:00:America/New_York",
            "digest:weekly:18:00:Asia/Seoul:fri",
        }
        times = publisher.next_digest_times()
        assert {times[c.key] for c in new_york} == {utc(2024, 5, 3, 13, 0)}
        assert {times[c.key] for c in seoul} == {utc(2024, 5, 3, 9, 0)}
        assert await digest_items(store) == []

        clock.now = utc(2024, 5, 3, 9, 0)
        seoul_job = jobs["digest:weekly:18:00:Asia/Seoul:fri"]
        await seoul_job.func(*seoul_job.args)
        sent = await digest_items(store)
        assert sorted(sent) == sorted(
            f"digest:{c.key}:2024-05-03T09:00:00.000000+00:00#1" for c in seoul
        )
        clock.now = utc(2024, 5, 3, 9, 1)
        await seoul_job.func(*seoul_job.args)  # fired again: nothing is sent twice
        assert sorted(await digest_items(store)) == sorted(sent)
        for schedule in await store.chats.digests():
            if schedule.chat in new_york:
                assert schedule.last_sent_at == utc(2024, 5, 2, 13, 0)  # not its time yet

        # The last chat leaving a schedule removes its job; the other job stays as it was.
        for chat in seoul:
            await store.chats.clear_digest(chat)
        await publisher.refresh_schedules()
        digest_jobs = [j for j in publisher.scheduler.get_jobs() if j.id.startswith("digest:")]
        assert [j.id for j in digest_jobs] == ["digest:daily:09:00:America/New_York"]
        assert (
            digest_jobs[0].next_run_time
            == jobs["digest:daily:09:00:America/New_York"].next_run_time
        )
