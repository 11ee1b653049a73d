"""Replicas share each platform's send budget through PostgreSQL: together they never send
faster than the limit, an idle replica takes nothing from a busy one, a 429 in one pauses the
others at their next chunk, a fan's reply still goes out at once, and a row waiting in a
replica's pacer keeps its claim however long it waits."""

from __future__ import annotations

import asyncio
import bisect
import math
import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.publisher.limits import DEFAULT_HEADROOM, Limits, Pacer
from kcrush_bot.publisher.worker import DeliveryWorker
from kcrush_bot.replicas import Replica
from kcrush_bot.shared_budget import HORIZON, SharedBudget
from kcrush_bot.storage.outbox import NewRow
from kcrush_bot.storage.postgres.store import PgStore
from publisher.publisherkit import FakePlatform, make_settings, wait_until

LIMIT = 50.0  # the test platform's sends per second
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class NotedBudget(SharedBudget):
    """A replica's share of the budget that notes the slot each of its sends used."""

    def __init__(self, store: PgStore, pacer: Pacer) -> None:
        super().__init__(store.replicas, "telegram", pacer)
        self.used: list[float] = []

    def take(self) -> None:
        self.used.append(self.first(-math.inf))  # the slot held first, dropping none
        super().take()


@dataclass
class Side:
    """One replica's send side: its pacer and its share of the budget."""

    pacer: Pacer
    budget: NotedBudget

    async def send(self, n: int, *, reply: bool = False) -> None:
        await asyncio.gather(*(self.pacer.acquire(None, reply=reply) for _ in range(n)))


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[PgStore, PgStore]]:
    """Two replicas' connections to one database."""
    async with PgStore.open(pg_url) as one, PgStore.open(pg_url, upgrade=False) as two:
        yield one, two


@pytest.fixture
async def sides(stores: tuple[PgStore, PgStore]) -> AsyncIterator[tuple[Side, Side]]:
    made = []
    for store in stores:
        pacer = Pacer(Limits(LIMIT, 0.0))
        budget = NotedBudget(store, pacer)
        pacer.share_with(budget)
        made.append(Side(pacer, budget))
    yield made[0], made[1]
    for side in made:
        await side.budget.close()


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


async def test_replicas_sending_together_never_exceed_the_limit_in_any_second(
    sides: tuple[Side, Side],
) -> None:
    one, two = sides
    await asyncio.gather(one.send(60), two.send(60))
    used = one.budget.used + two.budget.used
    assert len(used) == 120
    assert one.budget.used and two.budget.used  # both sent
    assert most_in_a_second(used) <= LIMIT
    # Spaced as one pacer's would be, whichever replica held the slot: none two at once.
    gaps = [b - a for a, b in zip(sorted(used), sorted(used)[1:], strict=False)]
    assert min(gaps) >= one.pacer.interval / 2


async def test_an_idle_replica_takes_nothing_from_a_busy_one(
    stores: tuple[PgStore, PgStore], sides: tuple[Side, Side]
) -> None:
    busy, idle = sides
    # Both alive and beating, as in a deployment of two.
    replicas = [
        Replica(store.replicas, replica=name) for store, name in zip(stores, "ab", strict=True)
    ]
    for replica in (*replicas, *replicas):
        await replica.step()
    assert replicas[0].alive == 2

    await busy.send(40)
    assert idle.budget.stats.requests == 0
    # The busy one had the platform's whole rate: its slots came one interval apart, not two.
    gaps = [b - a for a, b in zip(busy.budget.used, busy.budget.used[1:], strict=False)]
    assert statistics.median(gaps) == pytest.approx(busy.budget.interval)
    assert busy.budget.interval == pytest.approx(1 / (LIMIT * DEFAULT_HEADROOM), rel=0.02)


async def test_a_429_in_one_replica_pauses_the_other_at_its_next_chunk(
    sides: tuple[Side, Side],
) -> None:
    told, other = sides
    await other.send(1)  # it has used the budget before
    told.pacer.pause_all(30.0)
    await told.budget.settle()
    waiting = asyncio.create_task(other.send(1))
    await wait_until(lambda: other.pacer.paused)
    assert other.pacer.paused_until > other.pacer._now() + 25
    assert not waiting.done()
    assert len(other.budget.used) == 1  # nothing went out inside the pause
    waiting.cancel()


async def test_a_fans_reply_goes_out_at_once_while_another_replica_broadcasts(
    sides: tuple[Side, Side],
) -> None:
    broadcasting, idle = sides
    broadcast = asyncio.create_task(broadcasting.send(100))
    await wait_until(lambda: len(broadcasting.budget.used) >= 5)
    await idle.send(1, reply=True)
    # Its slot came within the horizon, while the broadcast (two seconds at the limit) goes on.
    assert len(broadcasting.budget.used) < 100 - LIMIT * HORIZON
    await broadcast
    assert most_in_a_second(broadcasting.budget.used + idle.budget.used) <= LIMIT


async def test_a_reply_in_a_broadcasting_replica_goes_before_its_deliveries(
    sides: tuple[Side, Side],
) -> None:
    busy, _ = sides
    order: list[str] = []

    async def delivery(n: int) -> None:
        await busy.pacer.acquire(f"telegram:{n}")
        order.append("delivery")

    deliveries = [asyncio.create_task(delivery(n)) for n in range(30)]
    await wait_until(lambda: len(order) >= 3)
    await busy.pacer.acquire("telegram:fan", reply=True)
    order.append("reply")
    await asyncio.gather(*deliveries)
    assert order.index("reply") < 15  # not behind the 27 deliveries already waiting


async def test_a_row_waiting_in_a_replicas_pacer_is_not_handed_to_another(
    stores: tuple[PgStore, PgStore],
) -> None:
    one, two = stores
    chat = ChatRef.parse("telegram:1")
    await one.chats.subscribe(chat, ["interviews"], Mode.INSTANT)
    row = NewRow("post:1", chat.key, {"reply": {"type": "text", "text": "x"}}, "0001")
    async with one.outbox.transaction() as conn:
        await one.outbox.insert(conn, [row], NOW)

    holder = Replica(two.replicas, replica="holder")  # gives back the claims of the dead
    await holder.step()
    pacer = Pacer(Limits(LIMIT, 0.0))
    platform = FakePlatform("telegram")
    worker = DeliveryWorker(
        one,  # type: ignore[arg-type]
        one.outbox,
        {"telegram": platform},
        {"telegram": pacer},
        make_settings().delivery,
        clock=lambda: datetime.now(UTC),
    )
    sender = Replica(one.replicas, replica="sender")
    sender.deliver_with(worker)
    assert await worker.claim_and_start() == 1
    # Before its send starts, a 429 elsewhere says wait: the claimed row waits in the pacer.
    pacer.pause_all(600.0)
    try:
        for _ in range(3):
            # Much longer than the claim timeout passes; the sender beats all along.
            await one.db.execute("UPDATE outbox SET claimed_at = now() - interval '1 hour'")
            await sender.step()
            await holder.step()
            assert await two.outbox.counts() == {"sending": 1}
            again, _ = await two.outbox.claim(datetime.now(UTC), 10, platforms=["telegram"])
            assert again == []
    finally:
        await worker.stop(0.0)
    assert platform.attempts == []
    # A replica that stops beating (it died) loses the claim to the next one.
    await two.db.execute(
        "UPDATE outbox SET status = 'sending', claimed_at = now() - interval '1 hour'"
    )
    await holder.step()
    assert await two.outbox.counts() == {"pending": 1}


async def test_a_chats_next_message_keeps_its_spacing_from_another_replica(
    stores: tuple[PgStore, PgStore],
) -> None:
    """Two posts for one chat: one replica sends the first; the other, which would take the
    second at once, waits out the chat's second as the first replica would have."""
    one, two = stores
    chat = ChatRef.parse("telegram:1")
    await one.chats.subscribe(chat, ["interviews"], Mode.INSTANT)
    rows = [
        NewRow(f"post:{n}", chat.key, {"reply": {"type": "text", "text": f"{n}"}}, f"000{n}")
        for n in (1, 2)
    ]
    async with one.outbox.transaction() as conn:
        await one.outbox.insert(conn, rows, NOW)

    def worker(store: PgStore, platform: FakePlatform) -> DeliveryWorker:
        return DeliveryWorker(
            store,  # type: ignore[arg-type]
            store.outbox,
            {"telegram": platform},
            {"telegram": Pacer(Limits(LIMIT, 1.0))},
            make_settings().delivery,
            clock=lambda: datetime.now(UTC),
        )

    first, second = FakePlatform("telegram"), FakePlatform("telegram")
    sender, other = worker(one, first), worker(two, second)
    assert await sender.claim_and_start() == 1
    await wait_until(lambda: sender.in_flight == 0)
    assert len(first.attempts) == 1

    assert await other.claim_and_start() == 0  # the chat's second has not passed
    assert other.pacers["telegram"].is_cooling(chat.key)
    assert await two.outbox.counts() == {"sent": 1, "pending": 1}
    await other.drain()  # it goes once the second has passed, from this replica
    assert [a.chat for a in second.attempts] == [chat.key]
    assert second.attempts[0].at - first.attempts[0].at >= 1.0
