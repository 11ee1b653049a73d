"""Discord's shards spread over the replicas on one PostgreSQL database: each shard held by one
replica at a time, at most its share each; a dead holder's shards taken by the others, a stopping
one's handed on at once; and ``stats``, ``/healthz`` and ``/metrics`` say who holds which."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kcrush_bot.app import build
from kcrush_bot.replicas import Replica
from kcrush_bot.replicas_shards import SHARD_TTL, ShardLeases, shard_collector
from kcrush_bot.settings import from_dict
from kcrush_bot.storage.postgres.store import PgStore
from kcrush_bot.web import PrometheusMetrics
from kcrush_bot.web.health import Health
from test_cli import as_json, run


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Gateway:
    """A ``ShardedIntake`` that records what it is told to hold."""

    def __init__(self, count: int) -> None:
        self.shard_count = count
        self.holding: frozenset[int] = frozenset()
        self.told: list[set[int]] = []
        self.shared = False

    def share_shards(self) -> None:
        self.shared = True

    async def hold_shards(self, shards: frozenset[int]) -> None:
        self.holding = shards
        self.told.append(set(shards))


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[list[PgStore]]:
    """Three replicas' connections to one database."""
    async with (
        PgStore.open(pg_url) as one,
        PgStore.open(pg_url, upgrade=False) as two,
        PgStore.open(pg_url, upgrade=False) as three,
    ):
        yield [one, two, three]


def replicas(
    stores: list[PgStore], count: int, clock: Clock, n: int = 2
) -> list[tuple[ShardLeases, Gateway]]:
    made = []
    for name, store in zip("abc"[:n], stores, strict=False):
        gateway = Gateway(count)
        made.append((ShardLeases(store.shards, name, gateway, now=clock), gateway))
    return made


async def holders(store: PgStore) -> dict[int, str]:
    return {shard: h.holder for shard, h in (await store.shards.holders()).items()}


async def die(store: PgStore, replica: str) -> None:
    """``replica`` was killed: it renews nothing more, and its rows run out."""
    await store.db.execute(
        "UPDATE leases SET expires_at = now() - interval '1 second' WHERE holder = $1", replica
    )


async def test_two_replicas_hold_one_shard_each_and_never_the_same(
    stores: list[PgStore],
) -> None:
    clock = Clock()
    (a, gate_a), (b, gate_b) = replicas(stores, 2, clock)
    await a.step()
    assert gate_a.holding == {0, 1}  # alone, for now: both
    await b.step()
    assert gate_b.holding == set()  # both are held
    await a.step()  # two replicas now: a keeps one, closes the other, then releases it
    assert gate_a.holding == {0}
    await b.step()
    assert gate_b.holding == {1}
    assert await holders(stores[0]) == {0: "a", 1: "b"}
    for _ in range(3):  # and so it stays
        await a.step()
        await b.step()
    assert (a.held, b.held) == ({0}, {1})
    assert gate_a.told == [{0, 1}, {0}]
    assert gate_b.told == [{1}]


async def test_three_replicas_hold_at_most_their_share_each(stores: list[PgStore]) -> None:
    clock = Clock()
    made = replicas(stores, 5, clock, n=3)
    for _ in range(3):
        for leases, _gateway in made:
            await leases.step()
    held = [leases.held for leases, _ in made]
    assert all(len(h) <= 2 for h in held)  # ceil(5 / 3)
    assert sorted(s for h in held for s in h) == [0, 1, 2, 3, 4]
    assert [gateway.holding for _, gateway in made] == held


async def test_a_dead_holders_shards_are_taken_by_the_survivor(stores: list[PgStore]) -> None:
    clock = Clock()
    (a, gate_a), (b, gate_b) = replicas(stores, 2, clock)
    for leases in (a, b, a, b):
        await leases.step()
    assert (a.held, b.held) == ({0}, {1})

    await die(stores[0], "a")
    await b.step()  # one replica counted now: its share is both, and shard 0 is free
    assert gate_b.holding == {0, 1}
    assert await holders(stores[1]) == {0: "b", 1: "b"}

    # The dead one, had it only been cut off from the database, closed its session before
    # its row ran out: judged by its own clock, renewals stopped.
    assert gate_a.holding == {0}
    clock.t += SHARD_TTL
    await a.expire()
    assert gate_a.holding == set()
    assert a.held == set()


async def test_a_stopping_replica_hands_its_shards_on_at_once(stores: list[PgStore]) -> None:
    clock = Clock()
    (a, gate_a), (b, gate_b) = replicas(stores, 2, clock)
    await a.step()
    await b.step()
    await a.step()
    await b.step()
    assert (gate_a.holding, gate_b.holding) == ({0}, {1})

    await a.__aexit__(None, None, None)  # SIGTERM
    assert gate_a.holding == set()
    assert await stores[0].shards.members() == ["b"]
    await b.step()  # its next beat, not when a's rows would have run out
    assert gate_b.holding == {0, 1}


async def test_a_joining_replica_gets_its_share_handed_over(stores: list[PgStore]) -> None:
    clock = Clock()
    (a, gate_a), (b, gate_b) = replicas(stores, 4, clock)
    await a.step()
    assert gate_a.holding == {0, 1, 2, 3}
    await b.step()
    await a.step()
    await b.step()
    assert len(gate_a.holding) == len(gate_b.holding) == 2
    assert gate_a.holding | gate_b.holding == {0, 1, 2, 3}
    # Every change closed sessions before another replica could connect them.
    for told in gate_a.told[1:]:
        assert told <= gate_a.told[0]


async def test_healthz_and_metrics_show_the_shards_this_replica_holds(
    stores: list[PgStore],
) -> None:
    clock = Clock()
    (a, _), (b, _) = replicas(stores, 2, clock)
    for leases in (a, b, a, b):
        await leases.step()
    replica = Replica(stores[1].replicas, replica="b")
    await replica.step()

    async def no_backlog() -> dict[str, Any]:
        return {}

    def describe() -> dict[str, Any]:
        return {**replica.describe(), **b.describe()}

    healthy, body = await Health(no_backlog, {}, replica=describe).check()  # type: ignore[arg-type]
    assert healthy
    assert body["replica"]["discord_shards"] == [1]
    assert body["replica"]["discord_shard_count"] == 2

    metrics = PrometheusMetrics()
    metrics.registry.register(shard_collector(b))
    text = (await metrics.render(no_backlog)).decode()  # type: ignore[arg-type]
    assert 'kcrush_discord_shard_held{replica="b",shard="0"} 0.0' in text
    assert 'kcrush_discord_shard_held{replica="b",shard="1"} 1.0' in text


def test_stats_says_which_replica_holds_each_shard(tmp_path: Path, pg_url: str) -> None:
    async def two_replicas() -> None:
        async with PgStore.open(pg_url) as store:
            clock = Clock()
            a = ShardLeases(store.shards, "a", Gateway(2), now=clock)
            b = ShardLeases(store.shards, "b", Gateway(2), now=clock)
            for replica in ("a", "b"):
                await Replica(store.replicas, replica=replica).step()
            for leases in (a, b, a, b):
                await leases.step()

    asyncio.run(two_replicas())
    config = tmp_path / "kcrush-bot.toml"
    config.write_text("[discord]\nshards = 2\n", encoding="utf-8")
    stats = as_json(run(tmp_path, "--config", str(config), "--db", pg_url, "stats", "--json"))
    shards = stats["replicas"]["discord_shards"]
    assert shards == {"count": 2, "holders": {"0": "a", "1": "b"}}
    assert [(r["id"], r["discord_shards"]) for r in stats["replicas"]["alive"]] == [
        ("a", [0]),
        ("b", [1]),
    ]
    text = run(tmp_path, "--config", str(config), "--db", pg_url, "stats")
    assert "discord shards 0 a · 1 b" in text.stdout


async def test_run_shares_discords_shards_only_among_replicas_on_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    environ = {"KCRUSH_DISCORD_TOKEN": "token"}
    data: dict[str, Any] = {"bot": {"sample_archive": False}, "discord": {"shards": 2}}
    settings = from_dict(data, db=pg_url, environ=environ)
    async with build(settings, replicas=True) as built:
        assert built.replica is not None and built.shards is not None
        assert built.shards.count == 2
        assert built.shards.intake is built.platforms["discord"]
        # The platform holds nothing until the leases say which shards are its.
        assert built.platforms["discord"]._alone is False  # type: ignore[attr-defined]

    alone = from_dict(data, db=str(tmp_path / "kcrush.db"), environ=environ)
    async with build(alone, replicas=True) as built:
        assert built.shards is None
        assert built.platforms["discord"]._alone is True  # type: ignore[attr-defined]


async def test_a_held_shard_is_refused_to_another_replica_until_it_runs_out(
    stores: list[PgStore],
) -> None:
    one, two = stores[0].shards, stores[1].shards
    assert await one.acquire("a", 0, timedelta(seconds=30))
    assert not await two.acquire("b", 0, timedelta(seconds=30))  # held: refused
    assert await one.acquire("a", 0, timedelta(seconds=30))  # its holder renews it
    assert await two.acquire("b", 1, timedelta(seconds=30))  # another shard is free
    await one.release("a", [0])
    assert await two.acquire("b", 0, timedelta(seconds=30))  # given up: taken at once
    assert (await one.holders())[0].holder == "b"
