"""The outbox as history (``kcrush-bot deliveries``) and as a backlog (``/metrics``,
``/healthz``): what was sent where, what failed and why, and what still waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from factories import make_post
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage import Store
from kcrush_bot.storage.outbox import FAILED, SENT, NewRow, Outbox, Outcome, stamp

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def queue(store: Store, outbox: Outbox, rows: list[tuple[str, str]], at: datetime) -> None:
    for _, chat in rows:
        await store.chats.subscribe(ChatRef.parse(chat), ["interviews"], Mode.INSTANT)
    async with outbox.transaction() as db:
        await outbox.insert(
            db, [NewRow(item, chat, {"reply": {}}, item) for item, chat in rows], at
        )


async def ids(outbox: Outbox) -> dict[tuple[str, str], int]:
    return {(d.item, d.chat_key): d.id for d in await outbox.history(limit=100)}


async def test_history_says_what_went_where_newest_first_with_the_post_and_the_reason(
    store: Store,
) -> None:
    result = await store.posts.upsert([make_post(1), make_post(2)], source="t", pushable=True)
    first, second = (f"post:{post_id}" for post_id in result.new)
    outbox = store.outbox
    await queue(
        store,
        outbox,
        [
            (first, "telegram:1"),
            (first, "discord:77"),
            (second, "telegram:1"),
            ("announcement:4", "telegram:1"),
        ],
        NOW,
    )
    row = await ids(outbox)
    await outbox.record(
        [
            Outcome(row[(first, "telegram:1")], SENT, stamp(NOW), "11"),
            Outcome(row[(second, "telegram:1")], SENT, stamp(NOW + timedelta(seconds=1)), "12,13"),
            Outcome(row[(first, "discord:77")], FAILED, stamp(NOW), attempts=12, error="timed out"),
        ]
    )

    everything = await outbox.history()
    assert [d.item for d in everything] == ["announcement:4", second, first, first]
    sent = everything[1]
    assert (sent.chat_key, sent.status, sent.message_ids) == ("telegram:1", "sent", ("12", "13"))
    assert sent.post_url == "https://www.kcrush.com/post-2/" and "number 2" in (
        sent.post_title or ""
    )
    assert sent.sent_at == NOW + timedelta(seconds=1)
    assert everything[0].post_url is None and everything[0].status == "pending"

    [failed] = await outbox.history(failed=True)
    assert (failed.chat_key, failed.attempts, failed.error) == ("discord:77", 12, "timed out")
    assert [d.item for d in await outbox.history(chat_key="discord:77")] == [first]
    by_post = await outbox.history(post_url="https://www.kcrush.com/post-1/")
    assert sorted(d.chat_key for d in by_post) == ["discord:77", "telegram:1"]
    assert await outbox.history(post_url="https://www.kcrush.com/no-such-post/") == []
    assert len(await outbox.history(limit=2)) == 2


async def test_backlog_counts_what_still_waits_per_platform_and_its_oldest(store: Store) -> None:
    outbox = store.outbox
    assert await outbox.backlog() == {}
    await queue(store, outbox, [("post:1", "telegram:1"), ("post:1", "discord:77")], NOW)
    await queue(store, outbox, [("post:2", "telegram:1")], NOW + timedelta(minutes=5))
    row = await ids(outbox)
    await outbox.record([Outcome(row[("post:1", "discord:77")], SENT, stamp(NOW), "9")])
    await outbox.claim(NOW + timedelta(minutes=5), 1, platforms=["telegram"])  # in flight

    backlog = await outbox.backlog()
    assert set(backlog) == {"telegram"}
    assert backlog["telegram"].pending == 2
    assert backlog["telegram"].oldest_created_at == NOW
