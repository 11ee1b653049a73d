"""End to end: a post appears in the feed; the next poll delivers it to Telegram and Discord."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from e2e.e2ekit import Item, bot_settings, fake_platforms, feed_site, running_bot
from kcrush_bot.core.models import ChatRef, Mode
from publisher.publisherkit import wait_until

INTERVAL = 1.0
GROUP = "-1001234"
CHANNEL = "1200000000000000001"


async def test_a_new_post_reaches_both_platforms_within_the_poll_interval(tmp_path: Path):
    async with fake_platforms() as (telegram, discord), feed_site([Item(1), Item(2)]) as site:
        settings = bot_settings(
            telegram=telegram,
            discord=discord,
            database=tmp_path / "bot.db",
            feed_url=site.url,
            interval=INTERVAL,
        )
        async with running_bot(settings) as bot:
            store = bot.app.store
            await store.chats.subscribe(ChatRef("telegram", GROUP), ["interviews"], Mode.INSTANT)
            await store.chats.subscribe(
                ChatRef("discord", CHANNEL), ["k-pop-interviews"], Mode.INSTANT
            )
            await wait_until(lambda: site.hits >= 1)  # the first sight: archived silently
            await asyncio.sleep(INTERVAL * 1.5)
            assert telegram.sent(GROUP) == [] and discord.channel_posts(CHANNEL) == []

            site.items.append(Item(3))
            published = time.monotonic()
            await wait_until(
                lambda: telegram.sent(GROUP) and discord.channel_posts(CHANNEL),
                within=INTERVAL + 2.0,
            )
            # The poll interval's jitter is up to 10 %, and the card must be there within +2 s.
            assert time.monotonic() - published <= INTERVAL * 1.1 + 2.0
            [message] = telegram.sent(GROUP)
            assert Item(3).title in (message.get("text") or message.get("caption") or "")
            [post] = discord.channel_posts(CHANNEL)
            assert Item(3).title in str(post.json)
            assert post.json["allowed_mentions"] == {"parse": []}

            hits = site.hits
            await wait_until(lambda: site.hits >= hits + 2, within=INTERVAL * 3 + 1)
            await asyncio.sleep(0.3)
            assert len(telegram.sent(GROUP)) == 1
            assert len(discord.channel_posts(CHANNEL)) == 1
