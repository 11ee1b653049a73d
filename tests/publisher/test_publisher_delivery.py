"""The delivery worker against an in-process platform: order, pacing, retries, dead chats."""

from __future__ import annotations

import asyncio
import itertools

from kcrush_bot.core.errors import ChatMoved, MessageRejected, PermanentDelivery, RetryableDelivery
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
from publisher.publisherkit import (
    FakePlatform,
    card_title,
    make_post,
    make_settings,
    wait_until,
)
from sqlkit import sql

GROUP = ChatRef("telegram", "-1001")
FAN = ChatRef("telegram", "42")
CHANNEL = ChatRef("discord", "9001")


async def publish(store: Store, publisher: Publisher, *numbers: int) -> None:
    await store.posts.upsert([make_post(n) for n in numbers], source="feed", pushable=True)
    await publisher.enqueue_new_posts()


async def statuses(store: Store) -> dict[str, int]:
    return {r[0]: r[1] for r in await sql(store, "SELECT status, count(*) FROM outbox GROUP BY 1")}


async def test_delivers_to_each_platform_and_records_message_ids(
    store: Store, publisher: Publisher, telegram: FakePlatform, discord: FakePlatform
):
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.chats.subscribe(CHANNEL, ["interviews"], Mode.INSTANT)
    await publish(store, publisher, 1)

    assert await publisher.deliver_due() == 2
    assert [card_title(s.reply) for s in telegram.delivered(FAN.key)] == [make_post(1).title]
    assert len(discord.delivered(CHANNEL.key)) == 1
    assert await sql(store, "SELECT status, message_id FROM outbox ORDER BY chat_key") == [
        ("sent", "discord-1"),
        ("sent", "telegram-1"),
    ]
    assert await publisher.deliver_due() == 0  # nothing twice


async def test_publication_order_within_a_chat_and_one_per_second(
    store: Store, telegram: FakePlatform
):
    real_limits = make_settings(telegram_per_chat_seconds=1.0, telegram_group_per_minute=20.0)
    publisher = Publisher(store, real_limits, {"telegram": telegram})
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await publish(store, publisher, 3, 1, 2)

    assert await publisher.deliver_due() == 6
    sends = telegram.delivered(FAN.key)
    assert [card_title(s.reply) for s in sends] == [make_post(n).title for n in (1, 2, 3)]
    gaps = [b.at - a.at for a, b in itertools.pairwise(sends)]
    assert min(gaps) >= 1.0
    group = telegram.delivered(GROUP.key)  # 20 a minute in a group: one per 3 s
    assert [b.at - a.at >= 3.0 for a, b in itertools.pairwise(group)] == [True, True]


async def test_a_chat_waits_for_its_earlier_row_while_others_go_on(
    store: Store, publisher: Publisher, telegram: FakePlatform
):
    other = ChatRef("telegram", "43")
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.chats.subscribe(other, ["interviews"], Mode.INSTANT)
    telegram.script(FAN.key, RetryableDelivery("flood", retry_after=0.5))
    await publish(store, publisher, 1, 2)

    await publisher.deliver_due()  # the other chat gets both; the fan's first row waits
    assert len(telegram.delivered(other.key)) == 2
    assert telegram.delivered(FAN.key) == []
    await asyncio.sleep(0.5)
    assert await publisher.deliver_due() == 2
    titles = [card_title(s.reply) for s in telegram.delivered(FAN.key)]
    assert titles == [make_post(1).title, make_post(2).title]


async def test_retry_after_is_honoured_before_the_next_request(
    store: Store, publisher: Publisher, telegram: FakePlatform
):
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    telegram.script(FAN.key, RetryableDelivery("flood", retry_after=0.4))
    await publish(store, publisher, 1)

    assert await publisher.deliver_due() == 0
    assert await publisher.deliver_due() == 0  # still waiting: no request
    await asyncio.sleep(0.45)
    assert await publisher.deliver_due() == 1
    first, second = telegram.tries(FAN.key)
    assert second.at - first.at >= 0.4


async def test_transient_errors_back_off_then_give_up(store: Store, telegram: FakePlatform):
    publisher = Publisher(
        store,
        make_settings(max_attempts=3, backoff_base=0.05, backoff_max=0.1),
        {"telegram": telegram},
        probe_interval=60,
    )
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    telegram.failing = lambda chat: RetryableDelivery("502 Bad Gateway")
    await publish(store, publisher, 1)

    for _ in range(8):
        await publisher.deliver_due()
        await asyncio.sleep(0.1)
    assert len(telegram.tries(FAN.key)) == 3
    [(status, attempts, error)] = await sql(
        store, "SELECT status, attempts, last_error FROM outbox"
    )
    assert (status, attempts) == ("failed", 3)
    assert "502 Bad Gateway" in error


async def test_blocked_chat_is_deactivated_not_retried(
    store: Store, publisher: Publisher, telegram: FakePlatform
):
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    telegram.script(FAN.key, PermanentDelivery("Forbidden: bot was blocked by the user"))
    await publish(store, publisher, 1, 2, 3)

    await publisher.deliver_due()
    await asyncio.sleep(0.1)
    await publisher.deliver_due()
    assert len(telegram.tries(FAN.key)) == 1
    assert len(telegram.delivered(GROUP.key)) == 3
    subs = {s.chat.key: s for s in await store.chats.subscriptions()}
    assert not subs[FAN.key].active
    assert subs[FAN.key].inactive_reason == "Forbidden: bot was blocked by the user"
    counts = "SELECT status, count(*) FROM outbox WHERE chat_key = ? GROUP BY 1"
    assert dict(await sql(store, counts, FAN.key)) == {"failed": 1, "dropped": 2}
    chat = "SELECT active, inactive_reason FROM chats WHERE key = ?"
    assert await sql(store, chat, FAN.key) == [(0, "Forbidden: bot was blocked by the user")]


async def test_a_rejected_message_fails_alone_and_the_chat_stays(
    store: Store, publisher: Publisher, telegram: FakePlatform
):
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    telegram.script(FAN.key, MessageRejected("Telegram rejected the message: can't parse entities"))
    await publish(store, publisher, 1, 2)
    await publisher.deliver_due()
    assert len(telegram.delivered(FAN.key)) == 1
    assert all(s.active for s in await store.chats.subscriptions())
    assert await statuses(store) == {"failed": 1, "sent": 1}


async def test_migrated_group_moves_and_the_message_is_resent(
    store: Store, publisher: Publisher, telegram: FakePlatform
):
    await store.chats.subscribe(ChatRef("telegram", "-42"), ["interviews"], Mode.INSTANT)
    telegram.script("telegram:-42", ChatMoved("upgraded", new_chat_id="-1009999"))
    await publish(store, publisher, 1, 2)

    assert await publisher.deliver_due() == 2
    assert telegram.tries("telegram:-42")[0].ok is False
    titles = [card_title(s.reply) for s in telegram.delivered("telegram:-1009999")]
    assert titles == [make_post(1).title, make_post(2).title]
    assert {s.chat.key for s in await store.chats.subscriptions()} == {"telegram:-1009999"}


async def test_several_sends_in_flight_but_never_two_to_one_chat(store: Store):
    slow = FakePlatform("telegram", latency=0.05)
    publisher = Publisher(
        store, make_settings(telegram_per_chat_seconds=0.5), {"telegram": slow}, concurrency=8
    )
    for n in range(20):
        await store.chats.subscribe(
            ChatRef("telegram", str(1000 + n)), ["interviews"], Mode.INSTANT
        )
    await publish(store, publisher, 1, 2)

    assert await publisher.deliver_due() == 40
    assert 2 <= slow.max_in_flight <= 8
    for n in range(20):
        sends = slow.delivered(f"telegram:{1000 + n}")
        assert [card_title(s.reply) for s in sends] == [make_post(1).title, make_post(2).title]
        assert sends[1].at - sends[0].at >= 0.5


async def test_rows_left_sending_by_a_crash_are_resent_and_only_those(
    store: Store, publisher: Publisher, telegram: FakePlatform
):
    for n in range(6):
        await store.chats.subscribe(ChatRef("telegram", str(n + 1)), ["interviews"], Mode.INSTANT)
    await publish(store, publisher, 1)
    await sql(
        store, "UPDATE outbox SET status = 'sent' WHERE chat_key IN ('telegram:1', 'telegram:2')"
    )
    await sql(
        store, "UPDATE outbox SET status = 'sending' WHERE chat_key IN ('telegram:3', 'telegram:4')"
    )
    async with publisher:
        await wait_until(lambda: len(telegram.delivered()) >= 4)
    assert sorted(s.chat for s in telegram.delivered()) == [f"telegram:{n}" for n in (3, 4, 5, 6)]
    assert await statuses(store) == {"sent": 6}


async def test_a_backlog_on_one_platform_does_not_hold_the_other_back(store: Store):
    """Rows are due in chat-key order, so all of Discord's come before Telegram's; each
    platform still gets its share of the send slots and Telegram starts at once."""
    telegram = FakePlatform("telegram", latency=0.05)
    discord = FakePlatform("discord", latency=0.05)
    publisher = Publisher(
        store, make_settings(), {"telegram": telegram, "discord": discord}, concurrency=4
    )
    for n in range(20):
        await store.chats.subscribe(ChatRef("discord", str(9000 + n)), ["interviews"], Mode.INSTANT)
    for n in range(4):
        await store.chats.subscribe(ChatRef("telegram", str(100 + n)), ["interviews"], Mode.INSTANT)
    await publish(store, publisher, 1)

    assert await publisher.deliver_due() == 24
    # Telegram's first message is done before Discord's fifth: it did not queue behind the
    # twenty Discord rows that were due first.
    first_telegram = min(s.at for s in telegram.attempts)
    assert first_telegram < sorted(s.at for s in discord.attempts)[4]
    assert discord.max_in_flight <= 4 and telegram.max_in_flight <= 4


async def test_the_refresh_job_forgets_finished_rows_past_their_retention(
    store: Store, publisher: Publisher
):
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await publish(store, publisher, 1, 2)
    assert await publisher.deliver_due() == 2
    await sql(
        store,
        "UPDATE outbox SET created_at = '2000-01-01T00:00:00+00:00', "
        "sent_at = '2000-01-01T00:00:00+00:00' WHERE item = 'post:1'",
    )
    await publisher._refresh_job()  # what the scheduler runs every minute
    assert await statuses(store) == {"sent": 1}  # the month-old row is gone, the new one kept
