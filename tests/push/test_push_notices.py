"""What a good notice does: the post WordPress serves is read and ingested exactly as a poll
would (the silent first sight included), notices for one post waiting together are one read,
a notice for a post WordPress no longer shows withdraws it, a site without a ``wordpress``
source has its feeds polled, and a flood of notices costs bounded memory while deliveries and
commands go on."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from e2e.e2ekit import Item, feed_site
from publisher.publisherkit import wait_until
from push.pushkit import (
    GROUP,
    SECRET,
    PushBot,
    RestSite,
    bot_after_first_sight,
    fake_telegram,
    notice_body,
    push_bot,
    push_settings,
    rest_site,
    seen_once,
    signed,
    wordpress_source,
)

USER_CHAT = 4242
FLOOD = Path(__file__).with_name("flood.py")


async def notify(bot: PushBot, site: RestSite, post_id: int, event: str = "publish") -> int:
    body = notice_body(post_id, event, site=site.base)
    return (await bot.notify(body, signed(body))).status_code


async def test_an_unknown_source_is_seen_silently_first_even_through_a_notice(
    tmp_path: Path,
) -> None:
    async with fake_telegram() as telegram, rest_site() as site:
        settings = push_settings(tmp_path / "bot.db", telegram, wordpress_source(site))
        site.gate.clear()  # the bot's first look at the site is the notice's read
        async with push_bot(settings, telegram) as bot:
            site.publish(1)
            assert await notify(bot, site, 1) == 202
            site.gate.set()
            await bot.settle()
            await bot.app.publisher.deliver_due()
            [post] = await bot.app.store.posts.latest(5)
            assert "number 1" in post.title
            assert telegram.sent(GROUP) == []  # archived, not pushed


async def test_notices_for_one_post_waiting_together_are_one_read(tmp_path: Path) -> None:
    async with rest_site() as site:
        site.publish(1)
        async with bot_after_first_sight(tmp_path, site) as bot:
            telegram = bot.telegram
            site.publish(7)
            site.publish(8)
            site.gate.clear()
            # Both workers busy with a read each (7 and 8); then three more notices for 8.
            assert await notify(bot, site, 7) == 202
            assert await notify(bot, site, 8) == 202
            await wait_until(lambda: site.waiting == 2, within=10)
            for second, event in enumerate(("update", "update", "publish"), start=1):
                body = notice_body(8, event, site=site.base)
                body = body.replace(b"10:00:00", f"10:00:0{second}".encode())
                assert (await bot.notify(body, signed(body))).status_code == 202
            site.gate.set()
            await bot.settle()
            reads = site.single_reads()
            assert sorted(reads) == sorted(
                ["/wp-json/wp/v2/posts/7?_embed=1"] + ["/wp-json/wp/v2/posts/8?_embed=1"] * 2
            )
            assert bot.app.push.counts["coalesced"] == 2
            await wait_until(lambda: len(telegram.sent(GROUP)) == 2, within=10)


async def test_a_post_wordpress_no_longer_shows_is_read_as_gone(tmp_path: Path) -> None:
    async with rest_site() as site:
        site.publish(1)
        site.publish(2, status="draft")
        site.publish(3, protected=True)
        async with bot_after_first_sight(tmp_path, site) as bot:
            telegram = bot.telegram
            count = await bot.post_count()
            assert await notify(bot, site, 2, "unpublish") == 202  # 401 at WordPress
            assert await notify(bot, site, 3, "update") == 202  # a password set
            assert await notify(bot, site, 99, "delete") == 202  # 404 at WordPress
            await bot.settle()
            assert bot.app.push.counts["gone"] == 3
            assert await bot.post_count() == count
            assert telegram.sent(GROUP) == []


async def test_an_unpublished_post_is_withdrawn_and_its_message_deleted(tmp_path: Path) -> None:
    async with rest_site() as site:
        site.publish(1)
        async with bot_after_first_sight(tmp_path, site) as bot:
            telegram = bot.telegram
            site.publish(2)
            assert await notify(bot, site, 2) == 202
            await wait_until(lambda: telegram.sent(GROUP), within=10)
            assert "number 2" in (await bot.app.store.posts.latest(1))[0].title
            site.posts[2]["status"] = "draft"  # back to draft: WordPress answers 401
            assert await notify(bot, site, 2, "unpublish") == 202
            await wait_until(lambda: not telegram.sent(GROUP), within=10)
            await bot.settle()
            assert "number 2" not in (await bot.app.store.posts.latest(1))[0].title
            assert bot.app.push.counts["gone"] == 1
            # Published again: read, restored, and sent again.
            site.posts[2]["status"] = "publish"
            assert await notify(bot, site, 2, "publish") == 202
            await wait_until(lambda: telegram.sent(GROUP), within=10)
            assert "number 2" in (await bot.app.store.posts.latest(1))[0].title


async def test_without_a_wordpress_source_a_notice_polls_the_feeds_at_once(
    tmp_path: Path,
) -> None:
    async with fake_telegram() as telegram, feed_site([Item(1)]) as feed:
        sources = [{"name": "feed", "kind": "feed", "url": feed.url, "interval": 3600}]
        settings = push_settings(tmp_path / "bot.db", telegram, sources)
        await seen_once(settings)
        async with push_bot(settings, telegram) as bot:
            await wait_until(lambda: feed.hits >= 2, within=10)
            feed.items.append(Item(2))
            body = notice_body(2, site=feed.base)
            assert (await bot.notify(body, signed(body))).status_code == 202
            await wait_until(lambda: telegram.sent(GROUP), within=10)
            await bot.settle()
            assert bot.app.push.counts["polled"] == 1
            assert feed.hits == 3
            assert "number 2" in str(telegram.sent(GROUP))


async def test_a_flood_of_notices_is_bounded_and_delivery_and_commands_go_on(
    tmp_path: Path,
) -> None:
    async with rest_site() as site:
        site.publish(1)
        async with bot_after_first_sight(tmp_path, site) as bot:
            telegram = bot.telegram
            queue = bot.push.queue
            site.gate.clear()  # WordPress is slow: the workers stay busy the whole flood
            site.publish(2)  # news, whose notice comes when the queue is full
            longest = 0

            async def watch() -> None:
                nonlocal longest
                while True:
                    longest = max(longest, len(queue))
                    await asyncio.sleep(0.005)

            watcher = asyncio.create_task(watch())
            flood = await asyncio.create_subprocess_exec(
                sys.executable,
                str(FLOOD),
                f"{bot.server.url}/push/wordpress",
                site.base,
                "1000",
                "1500",
                stdout=asyncio.subprocess.PIPE,
                env=os.environ | {"KCRUSH_PUSH_SECRET": SECRET},
            )
            # A fan's command during the flood is answered while push's work waits.
            telegram.message_update(USER_CHAT, "/latest")
            await wait_until(lambda: telegram.sent(USER_CHAT), within=60)
            out, _ = await flood.communicate()
            watcher.cancel()
            longest = max(longest, len(queue))
            assert json.loads(out)["statuses"] == {"202": 1500}
            assert await notify(bot, site, 2) == 202  # past the queue's capacity
            counts = bot.app.push.counts
            assert counts["dropped"] > 0
            assert counts["accepted"] + counts["dropped"] == 1501
            # Full, and no fuller: the queue's capacity of post reads, and one poll per source.
            assert longest == len(queue) == queue.capacity + 1
            site.gate.set()
            # The poll that stood in for the dropped reads brings the news, once.
            await wait_until(lambda: telegram.sent(GROUP), within=60)
            await bot.settle()
            await bot.app.publisher.deliver_due()
            assert len(telegram.sent(GROUP)) == 1 and "number 2" in str(telegram.sent(GROUP))
            assert counts["polled"] == 1
