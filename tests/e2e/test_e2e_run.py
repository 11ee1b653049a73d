"""``kcrush-bot run`` as an operator starts it: one process, both platforms, a feed on loopback.

A chat that missed its daily digest while the bot was down gets it once at start; a post that
appears in the feed reaches a Telegram group and a Discord channel within the poll interval
plus two seconds; SIGTERM stops the bot cleanly within a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from e2e.e2ekit import Item, fake_platforms, feed_site, write_config
from fakes.discord_api import FAKE_TOKEN
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, DigestSchedule, Mode
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.storage import Store
from kcrush_bot.storage.db import to_db_time
from publisher.publisherkit import wait_until

INTERVAL = 1.0
GROUP = "-1001234"
READER = "4242"  # a private chat with a daily digest
CHANNEL = "1200000000000000001"


async def prepare(config_path: Path, database: Path) -> None:
    """Subscriptions, the feed's silent first sight, and a digest last sent two days ago."""
    settings = settings_mod.load(str(config_path), db=str(database))
    async with Store.open(database) as store:
        await app.prepare_store(store, settings)
        await store.chats.subscribe(ChatRef("telegram", GROUP), ["interviews"], Mode.INSTANT)
        await store.chats.subscribe(ChatRef("discord", CHANNEL), ["k-pop-interviews"], Mode.INSTANT)
        reader = ChatRef("telegram", READER)
        await store.chats.subscribe(reader, ["interviews"], Mode.DAILY)
        async with Ingestor(store, settings) as ingestor:
            assert (await ingestor.poll(settings.sources[0])).silent
        # The bot was down since before yesterday's digest time (in UTC, 06:00 every day).
        await store.chats.set_digest(
            DigestSchedule(reader, Mode.DAILY, time="06:00", timezone="UTC")
        )
        long_ago = to_db_time(datetime.now(UTC) - timedelta(days=2))
        await store.db.connection.execute(
            "UPDATE digests SET last_sent_at = ?, updated_at = ?", (long_ago, long_ago)
        )
        # One post that reached the archive since the last digest, by a normal (pushable) poll.
        await store.db.connection.execute(
            "UPDATE posts SET pushable = 1, enqueued_at = first_seen_at"
        )


async def test_run_publishes_to_both_platforms_sends_the_missed_digest_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    async with fake_platforms() as (telegram, discord), feed_site([Item(1)]) as site:
        config_path = write_config(
            tmp_path,
            telegram=telegram,
            discord=discord,
            source_kind="feed",
            source_url=site.url,
            interval=INTERVAL,
        )
        database = tmp_path / "bot.db"
        await prepare(config_path, database)
        env = dict(
            os.environ, KCRUSH_TELEGRAM_TOKEN=telegram.token, KCRUSH_DISCORD_TOKEN=FAKE_TOKEN
        )
        log = tmp_path / "bot.log"
        with log.open("wb") as out:
            bot = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "kcrush_bot",
                "--config",
                str(config_path),
                "--db",
                str(database),
                "-v",
                "run",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
            )
        try:
            # The missed digest goes out once, soon after start.
            await wait_until(lambda: telegram.sent(READER), within=20)
            [digest] = telegram.sent(READER)
            assert "Daily digest" in digest["text"] and Item(1).title in digest["text"]
            await wait_until(lambda: site.hits >= 2, within=10)

            site.items.append(Item(2))
            published = time.monotonic()
            await wait_until(
                lambda: telegram.sent(GROUP) and discord.channel_posts(CHANNEL),
                within=INTERVAL * 1.1 + 2.0 + 1.0,
            )
            assert time.monotonic() - published <= INTERVAL * 1.1 + 2.0
            [card] = telegram.sent(GROUP)
            assert Item(2).title in (card.get("text") or card.get("caption") or "")
            [post] = discord.channel_posts(CHANNEL)
            assert Item(2).title in str(post.json)

            hits = site.hits
            await wait_until(lambda: site.hits >= hits + 2, within=5)
            assert len(telegram.sent(GROUP)) == 1 and len(discord.channel_posts(CHANNEL)) == 1
            assert len(telegram.sent(READER)) == 1  # the digest was not repeated

            stopping = time.monotonic()
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), 15) == 0
            assert time.monotonic() - stopping < 6
        except BaseException:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
            print(log.read_text(errors="replace")[-5000:])
            raise
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]
