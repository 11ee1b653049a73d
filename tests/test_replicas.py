"""Replicas on one PostgreSQL database: the lease moves when its holder dies, and a dead
replica's claims come back (the shared send budget: tests/test_shared_budget.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kcrush_bot.app import prepare_store
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.publisher import Publisher
from kcrush_bot.replicas import LEASE_TTL, Replica, replica_collector, replicas_report
from kcrush_bot.storage.outbox import NewRow
from kcrush_bot.storage.postgres.store import PgStore
from kcrush_bot.web import PrometheusMetrics
from kcrush_bot.web.health import Health
from publisher.publisherkit import FakePlatform, make_post, make_settings
from test_cli import as_json, run

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Follower:
    def __init__(self) -> None:
        self.told: list[bool] = []

    async def lease_changed(self, held: bool) -> None:
        self.told.append(held)


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[PgStore, PgStore]]:
    """Two replicas' connections to one database."""
    async with PgStore.open(pg_url) as one, PgStore.open(pg_url, upgrade=False) as two:
        yield one, two


async def run_out(store: PgStore) -> None:
    """The holder died: it renews no more, and its lease row runs out."""
    await store.db.execute("UPDATE leases SET expires_at = now() - interval '1 second'")


async def test_one_replica_holds_the_lease_and_another_takes_it_when_the_holder_dies(
    stores: tuple[PgStore, PgStore],
) -> None:
    one, two = stores
    clock = Clock()
    first = Replica(one.replicas, replica="a", now=clock)
    second = Replica(two.replicas, replica="b", now=clock)
    follower = Follower()
    second.follow(follower)

    await first.step()
    await second.step()
    assert first.held and not second.held
    assert (await one.replicas.holder()).holder == "a"  # type: ignore[union-attr]

    await run_out(one)
    clock.t += LEASE_TTL  # and without renewals the dead holder would stop acting as one
    assert not first.held
    await second.step()
    assert second.held
    assert follower.told == [True]
    assert (await one.replicas.holder()).holder == "b"  # type: ignore[union-attr]


async def test_a_dead_replicas_claims_go_back_to_due(stores: tuple[PgStore, PgStore]) -> None:
    one, two = stores
    chat = ChatRef.parse("telegram:1")
    await one.chats.subscribe(chat, ["interviews"], Mode.INSTANT)
    row = NewRow("post:1", chat.key, {"reply": {"type": "text", "text": "x"}}, "0001")
    async with one.outbox.transaction() as conn:
        await one.outbox.insert(conn, [row], NOW)
    claimed, _ = await one.outbox.claim(datetime.now(UTC), 10, platforms=["telegram"])
    assert len(claimed) == 1  # the replica on ``one`` claims it and dies

    survivor = Replica(two.replicas, replica="b", claim_timeout=60.0)
    await survivor.step()
    assert await two.outbox.counts() == {"sending": 1}  # a recent claim: its sender may live

    survivor.claim_timeout = 0.0  # long after: nobody is sending it any more
    await survivor.step()
    assert await two.outbox.counts() == {"pending": 1}
    again, _ = await two.outbox.claim(datetime.now(UTC), 10, platforms=["telegram"])
    assert [r.item for r in again] == ["post:1"]


async def test_a_replica_not_holding_the_lease_does_no_singleton_work_until_it_takes_over(
    stores: tuple[PgStore, PgStore],
) -> None:
    one, two = stores
    await one.replicas.acquire("elsewhere", timedelta(minutes=5))
    replica = Replica(two.replicas, replica="b")
    await replica.step()
    assert not replica.held
    settings = make_settings()
    await prepare_store(two, settings)  # type: ignore[arg-type]
    await two.chats.subscribe(ChatRef.parse("telegram:42"), ["interviews"], Mode.INSTANT)
    await two.posts.upsert([make_post(1)], source="feed", pushable=True)
    publisher = Publisher(
        two,  # type: ignore[arg-type]
        settings,
        {"telegram": FakePlatform("telegram")},
        lease=replica,
    )
    async with publisher:
        await publisher._refresh_job()
        assert await two.outbox.counts() == {}  # the holder fans out, not this replica

        await run_out(one)
        replica.follow(publisher)
        await replica.step()
        assert replica.held
        assert (await two.outbox.counts()).keys() <= {"pending", "sending", "sent"}
        assert sum((await two.outbox.counts()).values()) == 1


async def test_stats_healthz_and_metrics_show_the_replica_and_the_lease(
    stores: tuple[PgStore, PgStore],
) -> None:
    one, two = stores
    first = Replica(one.replicas, replica="a")
    second = Replica(two.replicas, replica="b")
    await first.step()
    await second.step()
    await first.step()

    report = await replicas_report(one.replicas)
    assert report["lease_holder"] == "a"
    assert [(r["id"], r["holds_lease"]) for r in report["alive"]] == [("a", True), ("b", False)]

    async def no_backlog() -> dict[str, Any]:
        return {}

    healthy, body = await Health(no_backlog, {}, replica=second.describe).check()  # type: ignore[arg-type]
    assert healthy
    assert body["replica"] == {"replica": "b", "holds_lease": False, "alive": 2}

    metrics = PrometheusMetrics()
    metrics.registry.register(replica_collector(first))
    text = (await metrics.render(no_backlog)).decode()  # type: ignore[arg-type]
    assert 'kcrush_replica_holds_lease{replica="a"} 1.0' in text
    assert "kcrush_replicas_alive 2.0" in text


def test_stats_lists_the_replicas_alive_and_the_lease_holder(tmp_path: Path, pg_url: str) -> None:
    async def two_replicas() -> None:
        async with PgStore.open(pg_url) as store:
            await Replica(store.replicas, replica="a").step()
            await Replica(store.replicas, replica="b").step()

    asyncio.run(two_replicas())
    # The URL from the environment and from --db alike: a URL is not resolved as a path.
    stats = as_json(run(tmp_path, "stats", "--json", env={"KCRUSH_DB": pg_url}))
    assert stats["replicas"]["lease_holder"] == "a"
    assert [r["id"] for r in stats["replicas"]["alive"]] == ["a", "b"]
    text = run(tmp_path, "--db", pg_url, "stats")
    assert "replicas 2 alive · lease held by a" in text.stdout
