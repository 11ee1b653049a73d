"""Crash: ``kcrush-bot run`` broadcasting to 500 chats is killed with SIGKILL half-way and
started again; every chat ends with the post, repeated at most for the sends in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from e2e.e2ekit import Item, rss, wait_for_outbox, write_config
from fakes.telegram_api import FakeTelegram, start_fake_telegram
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.publisher.worker import DEFAULT_CONCURRENCY
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.storage import Store
from publisher.publisherkit import wait_until

CHATS = [str(10_000 + n) for n in range(500)]


def write_feed(path: Path, items: list[Item]) -> None:
    path.write_bytes(rss(items))


async def prepare(config_path: Path, database: Path, feed: Path) -> None:
    """500 subscribed chats, and the feed already seen once (its first sight is silent)."""
    settings = settings_mod.load(str(config_path), db=str(database))
    async with Store.open(database) as store:
        await app.prepare_store(store, settings)
        for chat in CHATS:
            await store.chats.subscribe(ChatRef("telegram", chat), ["interviews"], Mode.INSTANT)
        async with Ingestor(store, settings) as ingestor:
            report = await ingestor.poll(settings.sources[0])
        assert report.silent and len(report.new) == 1
    write_feed(feed, [Item(1), Item(2)])  # the post to broadcast


async def start_bot(config_path: Path, database: Path, token: str, log: Path):  # type: ignore[no-untyped-def]
    env = dict(os.environ, KCRUSH_TELEGRAM_TOKEN=token)
    env.pop("KCRUSH_DISCORD_TOKEN", None)
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kcrush_bot",
            "--config",
            str(config_path),
            "--db",
            str(database),
            "-v",
            "run",
            stdout=out,
            stderr=out,
            env=env,
        )


def delivered(telegram: FakeTelegram) -> Counter[str]:
    return Counter(c.chat_id for c in telegram.calls("sendMessage") if c.status == 200)


@pytest.mark.slow
async def test_kill_9_mid_broadcast_loses_nothing(tmp_path: Path):
    telegram = await start_fake_telegram()
    feed = tmp_path / "feed.xml"
    write_feed(feed, [Item(1)])
    database = tmp_path / "bot.db"
    config_path = write_config(tmp_path, telegram=telegram, source_url=feed)
    log = tmp_path / "bot.log"
    try:
        await prepare(config_path, database, feed)

        first = await start_bot(config_path, database, telegram.token, log)
        await wait_until(lambda: sum(delivered(telegram).values()) >= 150, within=60)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        at_kill = sum(delivered(telegram).values())
        assert at_kill < len(CHATS), "the broadcast finished before the kill"

        second = await start_bot(config_path, database, telegram.token, log)
        await wait_until(lambda: len(delivered(telegram)) == len(CHATS), within=60)
        # Every row sent: nothing is left to send twice (and what still came until the bot
        # stops is counted below).
        async with Store.open(database, upgrade=False) as store:
            await wait_for_outbox(store, {"sent": len(CHATS)}, within=30)
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 15) == 0
    except BaseException:
        print(log.read_text(errors="replace")[-5000:])
        raise
    finally:
        await telegram.close()

    counts = delivered(telegram)
    assert set(counts) == set(CHATS)
    repeats = sum(n - 1 for n in counts.values())
    assert repeats <= DEFAULT_CONCURRENCY, f"{repeats} chats got the post twice"
    # 429s are not asserted away here: on a loaded machine a late request can still trip the
    # fake's sliding window, and the worker honours them. bench/bench_broadcast.py measures
    # the 429-free rate; this test is about losing and repeating nothing.
    async with (
        Store.open(database) as store,
        store.db.connection.execute("SELECT status, count(*) FROM outbox GROUP BY 1") as cursor,
    ):
        assert dict(await cursor.fetchall()) == {"sent": len(CHATS)}
    print(f"killed after {at_kill} sends; {repeats} repeated after the restart")
