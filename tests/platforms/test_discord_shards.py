"""Discord's gateway in shards: each shard a session of its own, identified as
``shard: [id, count]``; a server's slash commands arrive on its shard's session only; the set of
shards held changes without disturbing the others; and the fake refuses a second session for a
shard, as Discord does."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from discord.gateway import KeepAliveHandler

from fakes.discord_api import (
    FakeDiscord,
    Request,
    Where,
    guild_on_shard,
    settings_for,
    start_fake_discord,
)
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.ports import ShardedIntake
from kcrush_bot.platforms.discord import DiscordPlatform
from kcrush_bot.platforms.discord.gateway import IDENTIFY_SPACING, IdentifyGate
from kcrush_bot.storage import Store
from publisher.publisherkit import wait_until

pytestmark = pytest.mark.timeout(30)

SHARDS = 2


def in_guild(guild_id: str, channel: str = "500000000000000001") -> Where:
    return Where(guild_id=guild_id, channel_id=channel)


def answered_by(traffic: list[Request]) -> str:
    """The text of an interaction's first answer (a callback's message)."""
    body = traffic[0].json
    data = body["data"] if traffic[0].path.endswith("/callback") else body
    parts = [data.get("content") or ""]
    parts += [e.get("description", "") for e in data.get("embeds") or ()]
    return "\n".join(parts)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = await start_fake_discord(shards=SHARDS, max_concurrency=SHARDS)
    yield fake
    await fake.close()


def sharded(fake: FakeDiscord, service: CommandService, **options: Any) -> DiscordPlatform:
    return DiscordPlatform(settings_for(fake, shards=SHARDS), service, **options)


def service_named(store: Store, version: str) -> CommandService:
    """A command service whose ``/status`` names ``version``: tells the replicas apart."""
    return CommandService(store, default_registry(), CoreConfig(version=version))


async def test_alone_the_platform_runs_every_shard_and_each_answers_its_servers(
    fake: FakeDiscord, service: CommandService
) -> None:
    platform = sharded(fake, service)
    assert isinstance(platform, ShardedIntake)
    async with platform:
        live = await fake.wait_shards(lambda live: len(live) == SHARDS)
        await platform.wait_until_ready()
        assert platform.connection_problem() is None
        assert platform.held_shards == {0, 1}
        assert sorted(s.shard for s in live.values()) == [0, 1]
        assert sorted(_identified_shards(fake)) == [(0, SHARDS), (1, SHARDS)]

        for shard in range(SHARDS):
            where = in_guild(guild_on_shard(shard, SHARDS))
            assert fake.shard_of(where.guild_id) == shard
            traffic = await fake.run_interaction(fake.slash("status", where=where))
            assert "Version test" in answered_by(traffic)
    assert fake.shard_conflicts == []
    # Asked at start how many sessions may identify at once, and how many shards Discord wants.
    assert fake.find("GET", "/gateway/bot")


def _identified_shards(fake: FakeDiscord) -> list[tuple[int, int]]:
    return [(s.shard, s.count) for s in fake.sessions if s.shard is not None]


async def test_a_servers_commands_reach_only_the_replica_holding_its_shard(
    fake: FakeDiscord, filled_store: Store
) -> None:
    first = sharded(fake, service_named(filled_store, "first"))
    second = sharded(fake, service_named(filled_store, "second"))
    for platform in (first, second):
        platform.share_shards()
    async with first, second:
        await first.hold_shards(frozenset({0}))
        await second.hold_shards(frozenset({1}))
        await fake.wait_shards(lambda live: len(live) == SHARDS)
        await first.wait_until_ready()
        await second.wait_until_ready()
        for shard, holder in ((0, "first"), (1, "second")):
            for n in range(3):
                where = in_guild(guild_on_shard(shard, SHARDS, n))
                traffic = await fake.run_interaction(fake.slash("status", where=where))
                assert f"Version {holder}" in answered_by(traffic)
        # A direct message goes to shard 0.
        dm = Where(guild_id=None, channel_id="600000000000000001", channel_type=1)
        traffic = await fake.run_interaction(fake.slash("status", where=dm))
        assert "Version first" in answered_by(traffic)
    assert fake.shard_conflicts == []


async def test_taking_and_dropping_a_shard_leaves_the_other_session_alone(
    fake: FakeDiscord, service: CommandService
) -> None:
    platform = sharded(fake, service)
    platform.share_shards()
    await platform.hold_shards(frozenset({0}))  # remembered until connected
    async with platform:
        first = (await fake.wait_shards(lambda live: set(live) == {0}))[0]
        await platform.hold_shards(frozenset({0, 1}))
        live = await fake.wait_shards(lambda live: set(live) == {0, 1})
        assert live[0] is first
        await platform.hold_shards(frozenset({1}))
        # Dropped sessions are closed by the time hold_shards returns.
        assert set(fake.live_shards()) == {1}
        assert platform.held_shards == {1}
        assert fake.live_shards()[1] is live[1]
        traffic = await fake.run_interaction(
            fake.slash("status", where=in_guild(guild_on_shard(1, SHARDS)))
        )
        assert "Version test" in answered_by(traffic)
        with pytest.raises(RuntimeError, match="no client holds shard 0"):
            await fake.dispatch_interaction(
                fake.slash("status", where=in_guild(guild_on_shard(0, SHARDS)))
            )
    assert fake.live_shards() == {}
    assert fake.shard_conflicts == []


async def test_a_second_session_for_a_held_shard_is_refused_and_reported(
    fake: FakeDiscord, service: CommandService
) -> None:
    holder = sharded(fake, service)
    intruder = sharded(fake, service)
    for platform in (holder, intruder):
        platform.share_shards()
    async with holder, intruder:
        await holder.hold_shards(frozenset({1}))
        first = (await fake.wait_shards(lambda live: 1 in live))[1]
        await intruder.hold_shards(frozenset({1}))
        await wait_until(lambda: fake.shard_conflicts, within=10)
        assert fake.shard_conflicts[0].shard is None  # invalidated, not given the shard
        assert fake.live_shards()[1] is first
        assert intruder.connection_problem() == "shard 1: gateway disconnected"

        # Invalidated, it connects again and waits its turn to identify: stopped then, its
        # new socket's heartbeat stops too (it would beat on into a closed loop).
        await wait_until(lambda: fake.hellos == 3, within=10)
        connection = intruder._sessions[1].client._connection
        await intruder.hold_shards(frozenset())
        await wait_until(lambda: not heartbeats(connection), within=5)


def heartbeats(connection: object) -> list[threading.Thread]:
    """discord.py's heartbeat threads still running for a client's websockets."""
    return [
        t
        for t in threading.enumerate()
        if isinstance(t, KeepAliveHandler) and t.ws._connection is connection and t.is_alive()
    ]


class VirtualTime:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


async def test_identifies_wait_their_turn_in_their_bucket() -> None:
    """Discord allows max_concurrency IDENTIFYs per 5 s, one per bucket shard_id % that."""
    time = VirtualTime()
    one_at_a_time = IdentifyGate(1, spacing=IDENTIFY_SPACING, now=time.now, sleep=time.sleep)
    await one_at_a_time.wait_turn(0)
    await one_at_a_time.wait_turn(1)
    assert time.t == IDENTIFY_SPACING
    await one_at_a_time.wait_turn(2)
    assert time.t == 2 * IDENTIFY_SPACING

    time = VirtualTime()
    two_at_a_time = IdentifyGate(2, spacing=IDENTIFY_SPACING, now=time.now, sleep=time.sleep)
    await two_at_a_time.wait_turn(0)
    await two_at_a_time.wait_turn(1)
    assert time.t == 0.0
    await two_at_a_time.wait_turn(2)  # bucket 0 again
    assert time.t == IDENTIFY_SPACING


async def test_the_shard_clients_identify_through_the_gate(
    fake: FakeDiscord, service: CommandService
) -> None:
    platform = sharded(fake, service)
    async with platform:
        await fake.wait_shards(lambda live: len(live) == SHARDS)
        gate = platform._identify
        assert gate.max_concurrency == SHARDS  # as /gateway/bot said
        assert set(gate._last) == {0, 1}


async def test_too_few_shards_are_refused_by_discord_and_logged(
    service: CommandService, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await start_fake_discord(shards=SHARDS)
    settings = dataclasses.replace(settings_for(fake), shards=1)
    try:
        with caplog.at_level(logging.WARNING):
            async with DiscordPlatform(settings, service) as platform:
                await wait_until(
                    lambda: platform.connection_problem() == "gateway stopped", within=10
                )
        assert "Discord recommends 2 shards for this bot; [discord] shards is 1" in caplog.text
    finally:
        await fake.close()
