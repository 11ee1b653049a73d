"""Replicas on one PostgreSQL database: the singleton lease, heartbeats, shared outbox claims."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage.db import to_db_time
from kcrush_bot.storage.outbox import SENT, NewRow, Outcome
from kcrush_bot.storage.postgres.db import PgDatabase
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository
from kcrush_bot.storage.postgres.store import PgStore

LONG = timedelta(seconds=30)
EXPIRED = timedelta(0)  # a lease that has run out by the next statement
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def replicas(pg_url: str) -> AsyncIterator[PgReplicaRepository]:
    async with PgDatabase.open(pg_url) as db:
        yield PgReplicaRepository(db)


async def test_one_holder_at_a_time(replicas: PgReplicaRepository) -> None:
    first = await replicas.acquire("a", LONG)
    assert first is not None and first.holder == "a" and first.generation == 1
    assert await replicas.acquire("b", LONG) is None
    held = await replicas.holder()
    assert held is not None and held.holder == "a"


async def test_renewing_keeps_the_generation_and_extends_the_expiry(
    replicas: PgReplicaRepository,
) -> None:
    first = await replicas.acquire("a", timedelta(seconds=5))
    again = await replicas.acquire("a", LONG)
    assert first is not None and again is not None
    assert again.generation == first.generation
    assert again.acquired_at == first.acquired_at
    assert again.expires_at > first.expires_at


async def test_an_expired_lease_is_taken_over_with_a_new_generation(
    replicas: PgReplicaRepository,
) -> None:
    assert await replicas.acquire("a", EXPIRED) is not None
    assert await replicas.holder() is None
    taken = await replicas.acquire("b", LONG)
    assert taken is not None and taken.holder == "b" and taken.generation == 2
    assert await replicas.acquire("a", LONG) is None


async def test_a_released_lease_is_free_at_once(replicas: PgReplicaRepository) -> None:
    await replicas.acquire("a", LONG)
    assert not await replicas.release("b")  # not b's to give up
    assert await replicas.release("a")
    taken = await replicas.acquire("b", LONG)
    assert taken is not None and taken.holder == "b"


async def test_replicas_racing_for_the_lease_get_one_winner(pg_url: str) -> None:
    async with PgDatabase.open(pg_url, max_connections=8) as db:
        repo = PgReplicaRepository(db)
        won = await asyncio.gather(*(repo.acquire(f"r{n}", LONG) for n in range(8)))
    assert len([lease for lease in won if lease is not None]) == 1


async def test_heartbeats_say_who_is_alive(replicas: PgReplicaRepository) -> None:
    await replicas.heartbeat("a", {"lease": True, "sending": 3})
    await replicas.heartbeat("b")
    alive = await replicas.alive(LONG)
    assert [r.id for r in alive] == ["a", "b"]
    assert alive[0].detail == {"lease": True, "sending": 3}
    await replicas.heartbeat("a", {"lease": False})
    assert (await replicas.alive(LONG))[0].detail == {"lease": False}
    await replicas.leave("b")
    assert [r.id for r in await replicas.alive(LONG)] == ["a"]
    assert await replicas.alive(EXPIRED) == []
    assert await replicas.forget(EXPIRED) == 1


async def test_replicas_claiming_together_send_each_row_once_in_chat_order(pg_url: str) -> None:
    """Three replicas drain one outbox at once: no row is claimed twice, none is left, and
    each chat gets its rows in sort order, whichever replica sent them."""
    chats = [f"telegram:{n}" for n in range(12)]
    rows = [
        NewRow(f"post:{post}", chat, {"reply": {"type": "text", "text": "x"}}, f"{post:04d}")
        for chat in chats
        for post in (3, 1, 2, 4)
    ]
    sent: dict[str, list[str]] = {chat: [] for chat in chats}
    claimed_ids: list[int] = []

    async def replica(store: PgStore) -> None:
        idle = 0
        while idle < 3:  # a few empty claims in a row: the others hold the rest, or it is done
            batch, _ = await store.outbox.claim(NOW, 4, platforms=["telegram"])
            idle = 0 if batch else idle + 1
            for claimed in batch:
                claimed_ids.append(claimed.id)
                sent[claimed.chat_key].append(claimed.sort_key)
            await store.outbox.record([Outcome(r.id, SENT, to_db_time(NOW)) for r in batch])
            await asyncio.sleep(0)

    async with (
        PgStore.open(pg_url) as one,
        PgStore.open(pg_url) as two,
        PgStore.open(pg_url) as three,
    ):
        for chat in chats:
            await one.chats.subscribe(ChatRef.parse(chat), ["interviews"], Mode.INSTANT)
        async with one.outbox.transaction() as conn:
            assert await one.outbox.insert(conn, rows, NOW) == len(rows)
        while (await one.outbox.counts()).get("pending"):
            await asyncio.gather(replica(one), replica(two), replica(three))
        assert await one.outbox.counts() == {"sent": len(rows)}
    assert len(claimed_ids) == len(set(claimed_ids)) == len(rows)
    assert all(order == ["0001", "0002", "0003", "0004"] for order in sent.values()), sent
