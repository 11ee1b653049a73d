"""The singleton lease and the replicas' heartbeats on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from kcrush_bot.storage.postgres.db import PgDatabase
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository

LONG = timedelta(seconds=30)
EXPIRED = timedelta(0)  # a lease that has run out by the next statement


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
