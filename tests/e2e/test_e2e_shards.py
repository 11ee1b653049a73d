"""Discord's shards spread over replicas: two ``kcrush-bot run`` processes on one PostgreSQL
database, the bot configured with two shards, the fake Discord routing each server's
interactions to its shard's session. Each replica holds one shard and answers the slash
commands of its servers; one is killed with SIGKILL, and the survivor holds both shards within
10 seconds and answers on the dead one's shard. A new replica then gets its share handed over,
and the survivor, stopped with SIGTERM, hands its shard on. Never two sessions for one shard at
once."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from fakes.discord_api import FAKE_TOKEN, FakeDiscord, Where, guild_on_shard, start_fake_discord

SHARDS = 2
TAKEOVER_WITHIN = 10.0  # seconds: the contract for a dead replica's shards


def write_config(directory: Path, discord: FakeDiscord) -> Path:
    path = directory / "kcrush-bot.toml"
    path.write_text(
        "[bot]\nsample_archive = false\n"
        '[http]\nlisten = "127.0.0.1:0"\n'
        f'[discord]\napi_base = "{discord.api_base}"\ngateway_url = "{discord.gateway_url}"\n'
        f"shards = {SHARDS}\n",
        encoding="utf-8",
    )
    return path


async def start_bot(config: Path, url: str, log: Path) -> asyncio.subprocess.Process:
    env = dict(os.environ, KCRUSH_DISCORD_TOKEN=FAKE_TOKEN)
    env.pop("KCRUSH_TELEGRAM_TOKEN", None)
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "kcrush_bot", "--config", str(config), "--db", url, "-v", "run"),
            stdout=out,
            stderr=out,
            env=env,
        )


async def shard_holders(conn: asyncpg.Connection) -> dict[int, int]:
    """Shard → the pid of the replica holding its lease (a replica id is host-pid-random)."""
    rows = await conn.fetch(
        "SELECT name, holder FROM leases "
        "WHERE starts_with(name, 'discord-shard:') AND expires_at > now()"
    )
    return {
        int(r["name"].removeprefix("discord-shard:")): int(r["holder"].rsplit("-", 2)[1])
        for r in rows
    }


async def answered(fake: FakeDiscord, shard: int, n: int) -> str:
    """Send /status in a server on ``shard``; the text of the bot's answer."""
    where = Where(guild_id=guild_on_shard(shard, SHARDS, n), channel_id=f"5000000000000{n:05d}")
    traffic = await fake.run_interaction(fake.slash("status", where=where), within=10)
    body = traffic[0].json
    return str(body["data"]["content"] if traffic[0].path.endswith("/callback") else body)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_replicas_share_the_shards_and_a_killed_ones_are_taken_within_10_s(
    tmp_path: Path, pg_url: str
) -> None:
    # Two IDENTIFYs at once, as Discord allows sharded bots: neither replica waits its turn.
    fake = await start_fake_discord(shards=SHARDS, max_concurrency=SHARDS)
    config = write_config(tmp_path, fake)
    log = tmp_path / "bot.log"
    bots: dict[int, asyncio.subprocess.Process] = {}
    conn = await asyncpg.connect(pg_url)
    try:
        for _ in range(2):
            bot = await start_bot(config, pg_url, log)
            bots[bot.pid] = bot

        async def one_shard_each() -> dict[int, int]:
            while True:
                holders = await shard_holders(conn)
                live = fake.live_shards()
                if len(set(holders.values())) == SHARDS and set(live) == set(range(SHARDS)):
                    return holders
                await asyncio.sleep(0.1)

        async def all_held_by(pid: int) -> None:
            while await shard_holders(conn) != dict.fromkeys(range(SHARDS), pid):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            await fake.wait_shards(lambda live: len(live) == SHARDS, within=TAKEOVER_WITHIN)

        async with asyncio.timeout(60):
            holders = await one_shard_each()
        assert set(holders.values()) == set(bots)
        for shard in range(SHARDS):
            assert "Version" in await answered(fake, shard, n=1)

        victim_shard = 1
        victim = bots.pop(holders[victim_shard])
        [survivor] = bots
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        killed_at = time.monotonic()

        async with asyncio.timeout(TAKEOVER_WITHIN):
            await all_held_by(survivor)
            text = await answered(fake, victim_shard, n=2)
        took_over = time.monotonic() - killed_at
        assert "Version" in text
        assert "Version" in await answered(fake, 0, n=3)

        newcomer = await start_bot(config, pg_url, log)
        bots[newcomer.pid] = newcomer
        async with asyncio.timeout(60):
            holders = await one_shard_each()
        assert set(holders.values()) == {survivor, newcomer.pid}
        handed = next(shard for shard, pid in holders.items() if pid == survivor)

        bots[survivor].send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        async with asyncio.timeout(TAKEOVER_WITHIN):
            await all_held_by(newcomer.pid)
            text = await answered(fake, handed, n=4)
        handed_on = time.monotonic() - stopped_at
        assert "Version" in text
        assert await asyncio.wait_for(bots.pop(survivor).wait(), 30) == 0
        newcomer.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(newcomer.wait(), 30) == 0
    except BaseException:
        print(log.read_text(errors="replace")[-8000:])
        raise
    finally:
        for bot in bots.values():
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
        await conn.close()
        await fake.close()

    # Never two sessions for one shard: the fake refused none, and no two overlapped.
    assert fake.shard_conflicts == []
    for shard in range(SHARDS):
        held = sorted(
            (s.identified_at or 0.0, s.closed_at or float("inf"))
            for s in fake.sessions
            if s.shard == shard
        )
        for (_, closed), (opened, _) in itertools.pairwise(held):
            assert closed <= opened
    print(
        f"the killed replica's shard answered again {took_over:.1f}s after SIGKILL; "
        f"the stopped one's {handed_on:.1f}s after SIGTERM"
    )
