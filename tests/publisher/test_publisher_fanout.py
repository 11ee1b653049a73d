"""Fan-out: one outbox row per matching chat, for new posts and announcements."""

from __future__ import annotations

import json

from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.publisher import Publisher
from kcrush_bot.storage import Store
from publisher.publisherkit import make_post
from sqlkit import sql

GROUP = ChatRef("telegram", "-1001")
FAN = ChatRef("telegram", "42")
CHANNEL = ChatRef("discord", "9001")


async def outbox_rows(store: Store) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in await sql(store, "SELECT item, chat_key FROM outbox ORDER BY chat_key, id")
    ]


async def test_parent_subscription_covers_child_categories(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await store.chats.subscribe(CHANNEL, ["k-pop-interviews"], Mode.INSTANT)
    await store.chats.subscribe(FAN, ["kpop"], Mode.INSTANT)
    result = await store.posts.upsert([make_post(1)], source="feed", pushable=True)

    assert await publisher.enqueue_new_posts() == 2
    post = f"post:{result.new[0]}"
    assert await outbox_rows(store) == [(post, "discord:9001"), (post, "telegram:-1001")]


async def test_fan_out_is_idempotent(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    assert await publisher.enqueue_new_posts() == 1
    assert await publisher.enqueue_new_posts() == 0
    # Even if a post were fanned out twice (a crash between insert and the mark cannot
    # happen: one transaction), UNIQUE(item, chat) keeps one row.
    await sql(store, "UPDATE posts SET enqueued_at = NULL")
    assert await publisher.enqueue_new_posts() == 0
    assert len(await outbox_rows(store)) == 1


async def test_silent_posts_are_never_pushed(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await store.posts.upsert([make_post(1), make_post(2)], source="feed", pushable=False)
    assert await publisher.enqueue_new_posts() == 0
    assert await outbox_rows(store) == []


async def test_keywords_must_all_appear_case_insensitively(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT, keywords=["album", "SEOUL"])
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT, keywords=["album", "busan"])
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    await publisher.enqueue_new_posts()
    assert [chat for _, chat in await outbox_rows(store)] == ["telegram:-1001"]


async def test_keywords_match_the_posts_tags_too(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT, keywords=["stray", "kids"])
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT, keywords=["ateez"])
    await store.posts.upsert([make_post(1, tags=("Stray Kids",))], source="feed", pushable=True)
    await publisher.enqueue_new_posts()
    assert [chat for _, chat in await outbox_rows(store)] == ["telegram:-1001"]


async def test_digest_subscriptions_wait_for_the_digest(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.DAILY)
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    await publisher.enqueue_new_posts()
    assert [chat for _, chat in await outbox_rows(store)] == ["telegram:42"]


async def test_inactive_subscriptions_get_nothing(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await store.chats.deactivate(GROUP, "Forbidden: bot was kicked")
    await store.posts.upsert([make_post(1)], source="feed", pushable=True)
    assert await publisher.enqueue_new_posts() == 0


async def test_a_row_carries_the_teaser_card_and_publication_order(
    store: Store, publisher: Publisher
):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await store.posts.upsert([make_post(2), make_post(1)], source="feed", pushable=True)
    await publisher.enqueue_new_posts()
    rows = await sql(store, "SELECT payload, sort_key FROM outbox ORDER BY sort_key")
    titles = [json.loads(p)["reply"]["cards"][0]["title"] for p, _ in rows]
    assert titles == [make_post(1).title, make_post(2).title]
    assert rows[0][1].startswith("2024-01-02T00:00:00")


async def test_confirmed_announcements_reach_their_audience_once(
    store: Store, publisher: Publisher
):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    await store.chats.subscribe(FAN, ["kpop"], Mode.DAILY)
    everyone = await store.announcements.create("Hello fans", None, "telegram:1001")
    interviews = await store.announcements.create("Interview night", "k-pop-interviews", "op")
    draft = await store.announcements.create("Not yet", None, "op")
    await store.announcements.set_status(everyone, "confirmed")
    await store.announcements.set_status(interviews, "confirmed")

    assert await publisher.enqueue_announcements() == 3
    assert await publisher.enqueue_announcements() == 0
    assert sorted(await outbox_rows(store)) == sorted(
        [
            (f"announcement:{everyone}", "telegram:-1001"),
            (f"announcement:{everyone}", "telegram:42"),
            (f"announcement:{interviews}", "telegram:-1001"),
        ]
    )
    assert (await store.announcements.get(everyone)).status == "sent"
    assert (await store.announcements.get(draft)).status == "draft"


async def test_scheduled_announcements_wait_for_their_time(store: Store, publisher: Publisher):
    await store.chats.subscribe(GROUP, ["interviews"], Mode.INSTANT)
    later = await store.announcements.create("Tomorrow", None, "op")
    await store.announcements.set_status(later, "confirmed")
    await sql(
        store,
        "UPDATE announcements SET scheduled_for = '2999-01-01T00:00:00+00:00' WHERE id = ?",
        later,
    )
    assert await publisher.enqueue_announcements() == 0
    await sql(
        store,
        "UPDATE announcements SET scheduled_for = '2000-01-01T00:00:00+00:00' WHERE id = ?",
        later,
    )
    assert await publisher.enqueue_announcements() == 1
