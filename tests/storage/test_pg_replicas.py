"""Replicas on one PostgreSQL database: the singleton lease, heartbeats, shared outbox claims."""

from __future__ import annotations

import asyncio
import itertools
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


# -- the shared send budget -----------------------------------------------------------------------


async def test_send_slots_go_to_each_taker_once_and_evenly_spaced(pg_url: str) -> None:
    """Three replicas taking chunks at once: no slot is handed out twice and none is closer
    to another than the interval, so together they never send faster than the rate."""
    interval = 0.01
    taken: list[float] = []

    async def taker(repo: PgReplicaRepository) -> None:
        while len(taken) < 150:
            slots = await repo.take_slots("telegram", 4, interval, 0.2)
            taken.extend(slots.first + n * interval for n in range(slots.count))
            await asyncio.sleep(0)

    async with (
        PgDatabase.open(pg_url) as a,
        PgDatabase.open(pg_url) as b,
        PgDatabase.open(pg_url) as c,
    ):
        await asyncio.gather(*(taker(PgReplicaRepository(db)) for db in (a, b, c)))
    taken.sort()
    gaps = [later - earlier for earlier, later in itertools.pairwise(taken)]
    assert min(gaps) >= interval - 1e-6


async def test_an_idle_budget_saves_nothing_up_for_a_burst(replicas: PgReplicaRepository) -> None:
    await replicas.take_slots("telegram", 1, 0.1, 1.0)
    await replicas._db.execute("UPDATE send_budgets SET next_free = now() - interval '1 minute'")
    slots = await replicas.take_slots("telegram", 5, 0.1, 1.0)
    assert slots.count == 5
    assert slots.first == pytest.approx(slots.now, abs=1e-6)  # from now on, not from before


async def test_no_slot_is_handed_out_beyond_the_horizon(replicas: PgReplicaRepository) -> None:
    first = await replicas.take_slots("telegram", 100, 0.1, 0.5)
    assert first.count == 6  # now, and five more up to half a second ahead
    assert first.first + 5 * 0.1 <= first.now + 0.5 + 1e-6
    again = await replicas.take_slots("telegram", 100, 0.1, 0.5)
    # The next taker gets the slots after those (only as far as the horizon has moved on).
    assert again.first == pytest.approx(first.first + 6 * 0.1, abs=1e-6)
    assert again.count <= 1
    assert (await replicas.take_slots("discord", 0, 0.1, 0.5)).count == 0  # none wanted, none given


async def test_a_pause_holds_every_takers_next_slot(pg_url: str) -> None:
    async with PgDatabase.open(pg_url) as a, PgDatabase.open(pg_url) as b:
        told, other = PgReplicaRepository(a), PgReplicaRepository(b)
        await other.take_slots("telegram", 1, 0.1, 0.3)
        await told.pause("telegram", 30.0)
        slots = await other.take_slots("telegram", 3, 0.1, 0.3)
        assert slots.count == 0
        assert slots.paused_until >= slots.now + 29
        assert slots.first >= slots.paused_until
        await told.pause("discord", 5.0)  # a budget nobody has used yet
        assert (await other.take_slots("discord", 1, 0.1, 0.3)).paused_until >= slots.now + 4


async def test_claims_renewed_by_their_replica_do_not_expire(pg_url: str) -> None:
    async with PgStore.open(pg_url) as store:
        for n in (1, 2):
            await store.chats.subscribe(ChatRef.parse(f"telegram:{n}"), ["x"], Mode.INSTANT)
        rows = [NewRow("post:1", f"telegram:{n}", {}, "0001") for n in (1, 2)]
        async with store.outbox.transaction() as conn:
            await store.outbox.insert(conn, rows, NOW)
        claimed, _ = await store.outbox.claim(NOW, 10, platforms=["telegram"])
        age = "UPDATE outbox SET claimed_at = now() - interval '1 minute'"
        await store.db.execute(age)
        held = claimed[0].id
        assert await store.replicas.renew_claims([held]) == 1
        assert await store.replicas.expire_claims(timedelta(seconds=10)) == 1  # the other one
        counts = dict(await store.db.all("SELECT id, status FROM outbox"))
        assert counts[held] == "sending"
