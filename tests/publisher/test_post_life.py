"""A post's life after its messages went out: edits and withdrawals reach every message sent,
through the outbox, and nothing reaches a chat that never got the post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from factories import CATEGORIES
from kcrush_bot.core.errors import CannotDelete, MessageGone
from kcrush_bot.core.models import ChatRef, Mode, Post
from kcrush_bot.core.replies import Cards, Text
from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
from publisher.publisherkit import FakeClock, FakePlatform, make_post, make_settings
from sqlkit import sql

FAN = ChatRef("telegram", "42")
GROUP = ChatRef("telegram", "-1001")
CHANNEL = ChatRef("discord", "9001")
OTHER = ChatRef("telegram", "77")  # subscribed to k-dramas only: never gets the post


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def store(store_target: str, clock: FakeClock) -> AsyncIterator[Store]:
    """The store on the test's clock, three chats subscribed to interviews, one to k-dramas."""
    async with Store.open(store_target, clock=clock) as opened:
        await opened.posts.sync_categories(CATEGORIES)
        for chat in (FAN, GROUP, CHANNEL):
            await opened.chats.subscribe(chat, ["interviews"], Mode.INSTANT)
        await opened.chats.subscribe(OTHER, ["k-dramas"], Mode.INSTANT)
        yield opened


def life_publisher(
    store: Store, clock: FakeClock, telegram: FakePlatform, discord: FakePlatform, **delivery: Any
) -> Publisher:
    settings = make_settings(edit_debounce=60, **delivery)
    return Publisher(store, settings, {"telegram": telegram, "discord": discord}, clock=clock)


@pytest.fixture
def publisher(
    store: Store, clock: FakeClock, telegram: FakePlatform, discord: FakePlatform
) -> Publisher:
    """The publisher over ``store`` and the fake platforms, with a 60-second edit debounce
    (a test that wants other delivery settings calls ``life_publisher`` itself)."""
    return life_publisher(store, clock, telegram, discord)


async def store_post(store: Store, post: Post, *, api: bool = True) -> int:
    result = await store.posts.upsert([post], source="rest", pushable=True, authoritative=api)
    return (result.new or result.updated or [0])[0]


def wp_post(n: int = 1, **changes: Any) -> Post:
    return replace(
        make_post(n), guid=f"https://www.kcrush.com/?p={1000 + n}", wp_id=1000 + n, **changes
    )


async def sent_everywhere(store: Store, publisher: Publisher, post: Post) -> int:
    """Store ``post`` and deliver it to the three chats subscribed to it; its id."""
    post_id = await store_post(store, post)
    await publisher.enqueue_new_posts()
    assert await publisher.deliver_due() == 3
    return post_id


async def outbox(store: Store) -> list[tuple[Any, ...]]:
    return await sql(
        store, "SELECT item, chat_key, status, shown FROM outbox ORDER BY item, chat_key"
    )


def title_of(reply: Any) -> str:
    assert isinstance(reply, Cards)
    return reply.cards[0].title


async def test_an_edit_reaches_every_sent_copy_once_after_the_debounce(
    store: Store,
    clock: FakeClock,
    publisher: Publisher,
    telegram: FakePlatform,
    discord: FakePlatform,
) -> None:
    await sent_everywhere(store, publisher, wp_post())

    await store_post(store, wp_post(title="Interview, corrected"))
    await publisher.follow_changed_posts()
    assert await publisher.deliver_due() == 0  # within the debounce: not yet
    clock.advance(seconds=61)
    assert await publisher.deliver_due() == 3

    edits = telegram.edits() + discord.edits()
    assert sorted(e.chat for e in edits) == sorted([FAN.key, GROUP.key, CHANNEL.key])
    assert {title_of(e.reply) for e in edits} == {"Interview, corrected"}
    assert all(len(e.message_ids) == 1 for e in edits)  # the message each delivery made
    assert telegram.edits(OTHER.key) == [] and telegram.delivered(OTHER.key) == []
    assert len(telegram.delivered()) == 2 and len(discord.delivered()) == 1  # not re-sent
    assert publisher.delivery_stats.edited == 3
    assert (await store.stats()).edits == 3
    # Done: nothing more, however often the publisher looks.
    clock.advance(seconds=600)
    await publisher.follow_changed_posts()
    assert await publisher.deliver_due() == 0


async def test_changes_within_the_debounce_become_one_edit_showing_the_last(
    store: Store, clock: FakeClock, publisher: Publisher, telegram: FakePlatform
) -> None:
    await sent_everywhere(store, publisher, wp_post())
    for n, title in enumerate(["First fix", "Second fix", "Third fix"]):
        clock.advance(seconds=15)
        await store_post(store, wp_post(title=title))
        await publisher.follow_changed_posts()
        assert await publisher.deliver_due() == 0, n
    clock.advance(seconds=30)  # 60 s after the first change
    assert await publisher.deliver_due() == 3
    assert [title_of(e.reply) for e in telegram.edits(FAN.key)] == ["Third fix"]


async def test_nothing_is_sent_when_nothing_visible_changed(
    store: Store,
    clock: FakeClock,
    publisher: Publisher,
    telegram: FakePlatform,
    discord: FakePlatform,
) -> None:
    await sent_everywhere(store, publisher, wp_post())
    # Only the modification time: not a visible change.
    await store_post(store, wp_post(modified_at=datetime(2026, 3, 1, tzinfo=UTC)))
    # A change undone within the debounce: nothing either.
    await store_post(store, wp_post(title="Oops"))
    await publisher.follow_changed_posts()
    await store_post(store, wp_post())
    await publisher.follow_changed_posts()
    clock.advance(seconds=120)
    assert await publisher.deliver_due() == 0
    assert telegram.edits() == [] and discord.edits() == []


async def test_a_change_before_delivery_is_delivered_not_edited(
    store: Store, clock: FakeClock, publisher: Publisher, telegram: FakePlatform
) -> None:
    await store_post(store, wp_post())
    await publisher.enqueue_new_posts()
    await store_post(store, wp_post(title="Fixed before it went out"))
    await publisher.follow_changed_posts()
    assert await publisher.deliver_due() == 3
    assert [title_of(s.reply) for s in telegram.delivered(FAN.key)] == ["Fixed before it went out"]
    clock.advance(seconds=120)
    assert await publisher.deliver_due() == 0 and telegram.edits() == []


async def test_a_withdrawn_post_leaves_every_list_and_its_messages_are_deleted(
    store: Store, publisher: Publisher, telegram: FakePlatform, discord: FakePlatform
) -> None:
    post_id = await sent_everywhere(store, publisher, wp_post(1))
    late = await store_post(store, wp_post(2))  # queued, not yet delivered
    await publisher.enqueue_new_posts()

    assert await publisher.withdraw(1001, 1002) == 2

    assert [p.id for p in await store.posts.latest(10)] == []
    assert (await store.posts.search("interview"))[1] == 0
    assert all(c.posts == 0 for c in await store.posts.category_counts())
    since = datetime(2000, 1, 1, tzinfo=UTC)
    assert await store.posts.for_chat_since(FAN, since) == []
    assert await publisher.deliver_due() == 3  # three deletions, and the queued post dropped
    assert sorted(d.chat for d in telegram.deletions() + discord.deletions()) == sorted(
        [FAN.key, GROUP.key, CHANNEL.key]
    )
    assert len(telegram.delivered()) == 2  # post 2 never went out
    rows = await outbox(store)
    assert (f"post:{late}", FAN.key, "dropped", None) in rows
    assert (f"post:{post_id}", FAN.key, "sent", "deleted") in rows
    assert publisher.delivery_stats.withdrawn == 3
    stats = await store.stats()
    assert (stats.withdrawn_posts, stats.withdrawals, stats.edits, stats.posts) == (2, 3, 0, 0)


async def test_a_message_the_platform_will_not_delete_becomes_a_tombstone(
    store: Store, publisher: Publisher, telegram: FakePlatform
) -> None:
    post_id = await sent_everywhere(store, publisher, wp_post())
    telegram.script(FAN.key, CannotDelete("Bad Request: message can't be deleted"))
    await publisher.withdraw(1001)
    assert await publisher.deliver_due() == 3
    [tomb] = telegram.edits(FAN.key)
    assert isinstance(tomb.reply, Text) and "withdrawn" in tomb.reply.text
    assert (f"post:{post_id}", FAN.key, "sent", "tombstone") in await outbox(store)


@pytest.mark.parametrize(("mode", "edits", "deletions"), [("tombstone", 3, 0), ("keep", 0, 0)])
async def test_on_unpublish_chooses_what_happens_to_the_messages(
    store: Store,
    clock: FakeClock,
    telegram: FakePlatform,
    discord: FakePlatform,
    mode: str,
    edits: int,
    deletions: int,
) -> None:
    publisher = life_publisher(store, clock, telegram, discord, on_unpublish=mode)
    await sent_everywhere(store, publisher, wp_post())
    await publisher.withdraw(1001)
    await publisher.deliver_due()
    assert len(telegram.edits() + discord.edits()) == edits
    assert len(telegram.deletions() + discord.deletions()) == deletions


async def test_a_post_that_comes_back_is_delivered_again_only_where_its_card_was_deleted(
    store: Store,
    clock: FakeClock,
    publisher: Publisher,
    telegram: FakePlatform,
    discord: FakePlatform,
) -> None:
    await sent_everywhere(store, publisher, wp_post())
    telegram.script(GROUP.key, CannotDelete("Bad Request: message can't be deleted"))
    await publisher.withdraw(1001)
    await publisher.deliver_due()

    # WordPress shows it again: a REST reading restores it.
    await store_post(store, wp_post())
    await publisher.follow_changed_posts()
    assert await publisher.deliver_due() == 3
    assert len(telegram.delivered(FAN.key)) == 2  # deleted: delivered again
    assert len(discord.delivered(CHANNEL.key)) == 2
    assert len(telegram.delivered(GROUP.key)) == 1  # its tombstone is edited back instead
    assert title_of(telegram.edits(GROUP.key)[-1].reply) == wp_post().title
    assert [p.title for p in await store.posts.latest(5)] == [wp_post().title]
    # And never twice.
    clock.advance(seconds=600)
    await store_post(store, wp_post())
    await publisher.follow_changed_posts()
    assert await publisher.deliver_due() == 0


async def test_a_feed_cannot_bring_back_a_withdrawn_post(
    store: Store, publisher: Publisher
) -> None:
    await store_post(store, wp_post(), api=False)  # read from a feed
    await publisher.enqueue_new_posts()
    await publisher.deliver_due()
    await publisher.withdraw(1001)  # the reconcile or a notice found it gone
    await publisher.deliver_due()
    await store_post(store, wp_post(), api=False)  # a cached feed still lists it
    assert await store.posts.latest(5) == []


async def test_an_edit_cut_off_by_a_crash_is_done_once_after_restart(
    store: Store, clock: FakeClock, publisher: Publisher
) -> None:
    await sent_everywhere(store, publisher, wp_post())
    await store_post(store, wp_post(title="After the crash"))
    await publisher.follow_changed_posts()
    clock.advance(seconds=61)
    # The process dies with the edits claimed and nothing recorded.
    rows, _ = await store.outbox.claim(clock(), 10, platforms=["telegram", "discord"])
    assert sorted(r.item for r in rows) == ["edit:1"] * 3

    telegram2, discord2 = FakePlatform("telegram"), FakePlatform("discord")
    restarted = life_publisher(store, clock, telegram2, discord2)
    await store.outbox.recover_in_flight(clock())
    assert await restarted.deliver_due() == 3
    assert len(telegram2.edits()) == 2 and len(discord2.edits()) == 1
    assert telegram2.delivered() == [] and discord2.delivered() == []
    assert await restarted.deliver_due() == 0


async def test_a_message_deleted_by_the_chat_is_not_edited_again(
    store: Store, clock: FakeClock, publisher: Publisher, telegram: FakePlatform
) -> None:
    post_id = await sent_everywhere(store, publisher, wp_post())
    telegram.script(FAN.key, MessageGone("Bad Request: message to edit not found"))
    await store_post(store, wp_post(title="Edit one"))
    await publisher.follow_changed_posts()
    clock.advance(seconds=61)
    await publisher.deliver_due()
    assert (f"post:{post_id}", FAN.key, "sent", "gone") in await outbox(store)
    await store_post(store, wp_post(title="Edit two"))
    await publisher.follow_changed_posts()
    clock.advance(seconds=61)
    assert await publisher.deliver_due() == 2  # the group and the channel only
    assert len(telegram.edits(FAN.key)) == 1


async def test_messages_older_than_the_edit_window_are_left_alone_and_kept_ids_outlive_keep_finished(
    store: Store, clock: FakeClock, telegram: FakePlatform, discord: FakePlatform
) -> None:
    publisher = life_publisher(
        store, clock, telegram, discord, keep_finished="1d", edit_window="10d"
    )
    await sent_everywhere(store, publisher, wp_post(1))
    clock.advance(days=3)
    await publisher._refresh_job()  # prunes what keep_finished allows
    assert len(await outbox(store)) == 3  # the message ids are still known
    await store_post(store, wp_post(1, title="Three days later"))
    await publisher.follow_changed_posts()
    clock.advance(seconds=61)
    assert await publisher.deliver_due() == 3

    clock.advance(days=10)
    await store_post(store, wp_post(1, title="Two weeks later"))
    await publisher.follow_changed_posts()
    clock.advance(seconds=61)
    assert await publisher.deliver_due() == 0
