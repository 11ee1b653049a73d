"""The outbox's SQL: idempotent inserts, head-of-chat claims, recovery of rows in flight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage import Store
from kcrush_bot.storage.outbox import NewRow, Outbox
from sqlkit import sql

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def chats(store: Store, *keys: str) -> None:
    for key in keys:
        await store.chats.subscribe(ChatRef.parse(key), ["interviews"], Mode.INSTANT)


def row(item: str, chat: str, order: str) -> NewRow:
    return NewRow(item, chat, {"reply": {"type": "text", "text": item}}, order)


async def insert(outbox: Outbox, *rows: NewRow) -> int:
    async with outbox.transaction() as db:
        return await outbox.insert(db, rows, NOW)


async def test_insert_is_idempotent_per_item_and_chat(store: Store):
    await chats(store, "telegram:1", "telegram:2")
    outbox = store.outbox
    assert (
        await insert(outbox, row("post:1", "telegram:1", "a"), row("post:1", "telegram:2", "a"))
        == 2
    )
    assert (
        await insert(outbox, row("post:1", "telegram:1", "a"), row("post:2", "telegram:1", "b"))
        == 1
    )
    assert await outbox.counts() == {"pending": 3}


async def test_claims_only_each_chats_head_in_sort_order(store: Store):
    await chats(store, "telegram:1", "telegram:2")
    outbox = store.outbox
    await insert(
        outbox,
        row("post:3", "telegram:1", "2024-01-03"),
        row("post:1", "telegram:1", "2024-01-01"),
        row("post:2", "telegram:2", "2024-01-02"),
    )
    claimed, waiting = await outbox.claim(NOW, 10, platforms=["telegram"])
    assert sorted((r.item, r.chat_key) for r in claimed) == [
        ("post:1", "telegram:1"),
        ("post:2", "telegram:2"),
    ]
    assert waiting == []
    # Chat 1's next row waits while its head is in flight.
    assert await outbox.claim(NOW, 10, platforms=["telegram"]) == ([], [])


async def test_cooling_chats_are_reported_not_claimed(store: Store):
    await chats(store, "telegram:1", "telegram:2")
    outbox = store.outbox
    await insert(outbox, row("post:1", "telegram:1", "a"), row("post:1", "telegram:2", "a"))
    claimed, waiting = await outbox.claim(
        NOW, 10, platforms=["telegram"], cooling={"telegram:1"}.__contains__
    )
    assert [r.chat_key for r in claimed] == ["telegram:2"]
    assert waiting == ["telegram:1"]


async def test_rows_wait_for_their_due_time_platform_and_an_active_chat(store: Store):
    await chats(store, "telegram:1", "telegram:2", "discord:3")
    await store.chats.deactivate(ChatRef.parse("telegram:2"), "Forbidden: bot was blocked")
    outbox = store.outbox
    await insert(
        outbox,
        row("post:1", "telegram:1", "a"),
        row("post:1", "telegram:2", "a"),
        row("post:1", "discord:3", "a"),
    )
    assert await outbox.claim(NOW - timedelta(seconds=1), 10, platforms=["telegram"]) == ([], [])
    claimed, _ = await outbox.claim(NOW, 10, platforms=["telegram"])
    assert [r.chat_key for r in claimed] == ["telegram:1"]


async def test_recovery_resends_rows_in_flight_and_only_those(store: Store):
    await chats(store, "telegram:1", "telegram:2", "telegram:3")
    outbox = store.outbox
    await insert(
        outbox,
        row("post:1", "telegram:1", "a"),
        row("post:1", "telegram:2", "a"),
        row("post:1", "telegram:3", "a"),
    )
    claimed, _ = await outbox.claim(NOW, 2, platforms=["telegram"])
    from kcrush_bot.storage.db import to_db_time
    from kcrush_bot.storage.outbox import SENT, Outcome

    await outbox.record([Outcome(claimed[0].id, SENT, to_db_time(NOW), "m1")])
    # The process dies here: one row sent, one in flight, one never claimed.
    assert await outbox.recover_in_flight(NOW) == 1
    assert await outbox.counts() == {"sent": 1, "pending": 2}


async def test_next_due_skips_rows_behind_their_chats_head(store: Store):
    await chats(store, "telegram:1")
    outbox = store.outbox
    await insert(outbox, row("post:1", "telegram:1", "a"), row("post:2", "telegram:1", "b"))
    await sql(
        store, "UPDATE outbox SET due_at = '2024-05-01T12:05:00.000000+00:00' WHERE item = 'post:1'"
    )
    # post:2 is due already, but waits behind post:1: the worker sleeps until 12:05.
    assert await outbox.next_due(NOW, ["telegram"]) == NOW + timedelta(minutes=5)


async def test_prune_forgets_old_finished_rows_only(store: Store):
    await chats(store, "telegram:1", "telegram:2")
    outbox = store.outbox
    await insert(
        outbox,
        row("post:1", "telegram:1", "a"),
        row("post:2", "telegram:1", "b"),
        row("post:1", "telegram:2", "a"),
    )
    await sql(store, "UPDATE outbox SET status = 'sent' WHERE item = 'post:1'")
    assert await outbox.prune(NOW - timedelta(days=1)) == 0  # not old enough yet
    assert await outbox.prune(NOW + timedelta(days=1)) == 2  # both sent rows
    assert await outbox.counts() == {"pending": 1}  # the pending row is never touched
