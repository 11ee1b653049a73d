"""Push from a real WordPress: the plugin active in the test WordPress, ``kcrush-bot run`` as a
real process reading it through its REST API with the poll interval at one hour, the fake
Telegram and the fake Discord. A post published in WordPress reaches the subscribed group and
channel exactly once, a scheduled post going live likewise (its notice sent over PHP's socket
transport, which hangs up without reading the answer), and a trashed post is withdrawn: its
messages are deleted on both platforms.
The push secret never shows in the bot's most verbose log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e.e2ekit import fake_platforms, write_config
from fakes.discord_api import FAKE_TOKEN
from kcrush_bot.core.models import ChatRef
from publisher.publisherkit import wait_until
from push.wpbot import (
    SECRET,
    last_polled,
    plug_in,
    point_at,
    polled_after,
    prepare,
    start,
)
from wordpress.wpkit import WordPress

pytestmark = pytest.mark.wordpress

GROUP = "-1001234"
CHANNEL = "1200000000000000001"


async def test_publishing_in_wordpress_reaches_telegram_and_discord_once(
    wordpress: WordPress, tmp_path: Path
) -> None:
    async with fake_platforms() as (telegram, discord):
        config = write_config(
            tmp_path,
            telegram=telegram,
            discord=discord,
            source_kind="wordpress",
            source_url=wordpress.rest_url,
            interval=3600,
        )
        database = tmp_path / "bot.db"
        log = tmp_path / "bot.log"
        with plug_in(wordpress):
            await prepare(
                config, database, [ChatRef("telegram", GROUP), ChatRef("discord", CHANNEL)]
            )
            seen = await last_polled(database)
            env = {
                "KCRUSH_TELEGRAM_TOKEN": telegram.token,
                "KCRUSH_DISCORD_TOKEN": FAKE_TOKEN,
                "KCRUSH_PUSH_SECRET": SECRET,
            }
            bot = await start(config, database, log, env=env, verbosity="-vvv")
            try:
                point_at(wordpress, bot.url)
                await polled_after(database, seen)

                def both(count: int) -> bool:
                    return (
                        len(telegram.sent(GROUP)) >= count
                        and len(discord.channel_posts(CHANNEL)) >= count
                    )

                post_id = wordpress.create_post(
                    "KCRUSH Interview with PUSHED (푸시)",
                    excerpt="PUSHED talk about the album that reached the chats in a second.",
                    categories=["Interviews"],
                )
                await wait_until(lambda: both(1), within=30)

                # Scheduled for tomorrow: nothing yet. Going live: pushed, over sockets.
                later = wordpress.create_post(
                    "KCRUSH Interview with LATER",
                    excerpt="LATER were scheduled.",
                    categories=["Interviews"],
                    status="future",
                    date=datetime.now(UTC) + timedelta(days=1),
                )
                wordpress.define("KCRUSH_TEST_HTTP_TRANSPORT", "Requests_Transport_fsockopen")
                try:
                    assert wordpress.publish_scheduled(later)["status"] == "publish"
                finally:
                    wordpress.undefine("KCRUSH_TEST_HTTP_TRANSPORT")
                await wait_until(lambda: both(2), within=30)

                # Trashed: WordPress no longer shows it; the bot withdraws it, and its
                # messages are deleted on both platforms.
                wordpress.trash(post_id)
                await wait_until(
                    lambda: len(telegram.sent(GROUP)) == 1 and len(discord.deleted) == 1,
                    within=30,
                )

                await bot.counts_become({"accepted": 3, "gone": 1, "stored": 2})
                assert (await bot.push_state())["receiver"] == "on"
            finally:
                code = await bot.stop()
        text = log.read_text(errors="replace")
        assert code == 0, text[-3000:]
        # Each post was sent once to each chat; the trashed one's messages are gone.
        sends = [
            c for c in telegram.calls(chat_id=GROUP) if c.method in ("sendMessage", "sendPhoto")
        ]
        assert len(sends) == 2
        assert "PUSHED" in str(sends[0].params) and "LATER" in str(sends[1].params)
        assert "https://www.kcrush.com/" in str(sends[0].params)
        [left] = telegram.sent(GROUP)
        assert "LATER" in str(left)
        posts = discord.channel_posts(CHANNEL)
        assert len(posts) == 2
        assert "PUSHED" in str(posts[0].json) and "LATER" in str(posts[1].json)
        assert posts[0].message is not None and discord.deleted == [posts[0].message["id"]]
        assert SECRET not in text and "Traceback" not in text
