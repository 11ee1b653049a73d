"""A post's whole life, from a real WordPress to the chats: ``kcrush-bot run`` as a process
reads the site's REST API and delivers to the fake Telegram and Discord; then editing, trashing
and restoring posts in WordPress reaches every message already sent.

Publish → sent to every subscribed chat; an edited title → every copy edited once, after the
debounce; three quick edits → one more edit each; trash → every copy deleted (a message Telegram
will no longer delete becomes a tombstone) and the post gone from latest and search; published
again → delivered again where its card was deleted, the tombstone edited back; a K-Pop post
tagged "interview" never reaches an interview subscriber; a password-protected post is never
stored; an edit to post #51 of 200 is seen by a normal poll. The same K-Pop post read through
the site's feeds keeps to its category too.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e.e2ekit import fake_platforms
from fakes.discord_api import FAKE_TOKEN, FakeDiscord
from fakes.telegram_api import FakeTelegram
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.storage import Store
from publisher.publisherkit import wait_until
from wordpress.wpkit import WordPress

pytestmark = [pytest.mark.wordpress, pytest.mark.slow, pytest.mark.timeout(300)]

GROUP = "-1001500"  # a supergroup: Telegram deletes there whatever the message's age
FAN = "4600"  # a private chat: messages older than 48 hours cannot be deleted
CHANNEL = "1300000000000000001"
KPOP_FAN = "4700"
DEBOUNCE = 6.0  # longer than three edits take through the PHP helper


def categories(wp: WordPress) -> dict[str, int]:
    """The magazine's categories in this WordPress (made once per session)."""
    made = wp.eval(
        "$ids = [];"
        "foreach ([['Interviews','interviews',0],['K-Pop','kpop',0]] as $c) {"
        "  $t = term_exists($c[1], 'category');"
        "  $ids[$c[1]] = $t ? (int) $t['term_id'] : (int) wp_insert_term($c[0], 'category',"
        "    ['slug' => $c[1]])['term_id']; }"
        "$t = term_exists('k-pop-interviews', 'category');"
        "$ids['k-pop-interviews'] = $t ? (int) $t['term_id'] : (int) wp_insert_term("
        "  'K-Pop Interviews', 'category', ['slug' => 'k-pop-interviews',"
        "  'parent' => $ids['interviews']])['term_id'];"
        "return $ids;"
    )
    return {str(k): int(v) for k, v in made.items()}


def site_host(wp: WordPress) -> str:
    return urlsplit(wp.url).netloc


def write_config(
    tmp_path: Path, wp: WordPress, telegram: FakeTelegram, discord: FakeDiscord
) -> Path:
    path = tmp_path / "kcrush-bot.toml"
    path.write_text(
        f"""
[bot]
sample_archive = false
site_host = "{site_host(wp)}"

[http]
listen = ""

[ingest]
reconcile_interval = "2s"

[delivery]
edit_debounce = "{DEBOUNCE}s"
on_unpublish = "delete"
telegram_per_chat_seconds = "0.2s"
telegram_group_per_minute = 600
discord_per_channel_seconds = "0.2s"

[telegram]
base_url = "{telegram.base_url}"
base_file_url = "{telegram.base_file_url}"

[discord]
api_base = "{discord.api_base}"
gateway_url = "{discord.gateway_url}"

[[sources]]
name = "kcrush"
kind = "wordpress"
url = "{wp.posts_url}"
interval = "1s"
""",
        encoding="utf-8",
    )
    return path


@asynccontextmanager
async def bot_process(
    config: Path, database: Path, telegram: FakeTelegram, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = dict(os.environ, KCRUSH_TELEGRAM_TOKEN=telegram.token, KCRUSH_DISCORD_TOKEN=FAKE_TOKEN)
    with log.open("wb") as out:
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kcrush_bot",
            "--config",
            str(config),
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
        yield bot
    except BaseException:
        print(log.read_text(errors="replace")[-6000:])  # noqa: ASYNC240 - the failure's log
        raise
    finally:
        if bot.returncode is None:
            bot.terminate()
            try:
                await asyncio.wait_for(bot.wait(), 15)
            except TimeoutError:
                bot.kill()
                await bot.wait()


def shown(telegram: FakeTelegram, chat: str) -> list[str]:
    """What a Telegram chat shows now: each message's text or caption."""
    return [m.get("text") or m.get("caption") or "" for m in telegram.sent(chat)]


def discord_shown(discord: FakeDiscord) -> list[str]:
    return [
        " ".join([m["content"], *(str(e) for e in m["embeds"])])
        for m in discord.messages.values()
        if m["channel_id"] == CHANNEL
    ]


async def posts_titled(database: Path, title: str) -> list[tuple[Any, ...]]:
    async with (
        Store.open(database, upgrade=False) as store,
        store.db.connection.execute(
            "SELECT id, withdrawn_at FROM posts WHERE title = ?", (title,)
        ) as cursor,
    ):
        return [tuple(r) for r in await cursor.fetchall()]


async def stored(database: Path, title: str, within: float = 30.0) -> None:
    """Wait until a post of that title is in the archive (the bot writes it from its process)."""
    async with asyncio.timeout(within):
        while not await posts_titled(database, title):  # noqa: ASYNC110 - another process writes
            await asyncio.sleep(0.5)


async def public_titles(database: Path, query: str) -> tuple[list[str], list[str]]:
    """Titles ``latest`` and ``search`` show, as the bot's commands read them."""
    async with Store.open(database, upgrade=False) as store:
        latest = [p.title for p in await store.posts.latest(10)]
        hits, _ = await store.posts.search(query)
        return latest, [h.post.title for h in hits]


async def test_a_post_s_whole_life_from_wordpress_to_the_chats(
    wordpress: WordPress, tmp_path: Path
) -> None:
    wp = wordpress
    ids = categories(wp)
    async with fake_platforms() as (telegram, discord):
        config = write_config(tmp_path, wp, telegram, discord)
        database = tmp_path / "bot.db"
        settings = settings_mod.load(str(config), db=str(database))
        # An archive of 200 older posts (nobody subscribes to their category), read by a
        # backfill, silently, with what the site held already; the 150th is the 51st newest.
        archive = int(
            wp.eval(
                "$mine = 0; for ($i = 1; $i <= 200; $i++) {"
                "  $id = wp_insert_post(['post_title' => \"Life archive $i\","
                "    'post_content' => 'Old.', 'post_status' => 'publish',"
                "    'post_date_gmt' => gmdate('Y-m-d H:i:s', time() - 3600 * (400 - $i))]);"
                "  if ($i === 150) { $mine = $id; } }"
                "return $mine;"
            )
        )
        async with Store.open(database) as store:
            await app.prepare_store(store, settings)
            async with Ingestor(store, settings) as ingestor:
                await ingestor.poll(settings.sources[0], backfill=True)
            assert await posts_titled(database, "Life archive 1")
            for key in (f"telegram:{GROUP}", f"telegram:{FAN}", f"discord:{CHANNEL}"):
                await store.chats.subscribe(ChatRef.parse(key), ["interviews"], Mode.INSTANT)
            await store.chats.subscribe(ChatRef("telegram", KPOP_FAN), ["kpop"], Mode.INSTANT)
            # After the backfill the first poll sets where the next ones start: nothing new.
            async with Ingestor(store, settings) as ingestor:
                assert (await ingestor.poll(settings.sources[0])).new == []

        async with bot_process(config, database, telegram, tmp_path / "bot.log"):
            # Publish: every subscribed chat gets the card once.
            post = wp.create_post(
                "Life Interview with ATEEZ",
                content="<p>ATEEZ on the tour.</p>",
                excerpt="ATEEZ talk about the tour.",
                categories=[ids["k-pop-interviews"]],
            )
            await wait_until(
                lambda: shown(telegram, GROUP) and shown(telegram, FAN) and discord_shown(discord),
                within=30,
            )
            assert [len(shown(telegram, c)) for c in (GROUP, FAN)] == [1, 1]
            assert len(discord_shown(discord)) == 1
            assert "ATEEZ" in shown(telegram, GROUP)[0]

            # An edited title: every copy edited once, after the debounce, never sent again.
            wp.update_post(post, title="Life Interview with ATEEZ, corrected")
            await wait_until(lambda: len(telegram.edits) >= 2 and len(discord.edited) >= 1, 30)
            await asyncio.sleep(DEBOUNCE + 2)
            assert len(telegram.edits) == 2 and len(discord.edited) == 1
            assert all(
                "corrected" in text for text in shown(telegram, GROUP) + shown(telegram, FAN)
            )
            assert "corrected" in discord_shown(discord)[0]

            # Three quick edits: one more edit per copy, showing the last.
            for n in (1, 2, 3):
                wp.update_post(post, title=f"Life Interview with ATEEZ, take {n}")
            await wait_until(lambda: len(telegram.edits) >= 4 and len(discord.edited) >= 2, 30)
            await asyncio.sleep(DEBOUNCE + 2)
            assert len(telegram.edits) == 4 and len(discord.edited) == 2
            assert shown(telegram, GROUP)[0].startswith("Life Interview with ATEEZ, take 3")

            # A K-Pop post tagged "interview" reaches the K-Pop fan only.
            kpop = wp.create_post(
                "Life: NewJeans at the festival",
                content="<p>NewJeans.</p>",
                categories=[ids["kpop"]],
                tags=["interview", "Video"],
            )
            await wait_until(lambda: shown(telegram, KPOP_FAN), within=30)
            # A password-protected post is never stored (nor sent).
            wp.create_post("Life: a secret interview", content="<p>x</p>", password="letmein")
            await asyncio.sleep(3)
            assert len(shown(telegram, GROUP)) == 1 and len(shown(telegram, FAN)) == 1
            assert await posts_titled(database, "Life: a secret interview") == []
            assert await posts_titled(database, "Protected: Life: a secret interview") == []

            # Trashed: deleted everywhere (the fan's two-day-old card becomes a tombstone), and
            # gone from latest and search at once.
            telegram.age_messages(FAN, 49)
            wp.trash(post)
            await wait_until(lambda: not shown(telegram, GROUP) and not discord_shown(discord), 30)
            await wait_until(lambda: "withdrawn" in (shown(telegram, FAN) or [""])[0], 30)
            latest, found = await public_titles(database, "ATEEZ")
            assert not any("ATEEZ" in t for t in latest) and found == []

            # Published again: delivered again where the card was deleted; the tombstone is
            # edited back to the card.
            wp.untrash(post)
            wp.publish(post)
            await wait_until(lambda: shown(telegram, GROUP) and discord_shown(discord), 30)
            await wait_until(lambda: "take 3" in shown(telegram, FAN)[0], 30)
            await asyncio.sleep(3)
            assert len(shown(telegram, GROUP)) == 1 and len(shown(telegram, FAN)) == 1
            assert len(discord_shown(discord)) == 1
            assert len(telegram.sent(KPOP_FAN)) == 1

            # Post #51 of 200, far past the newest page: its edit is seen by a normal poll.
            wp.update_post(archive, title="Life archive 150, corrected")
            await stored(database, "Life archive 150, corrected")
            assert wp.get_post(kpop) is not None

        # The K-Pop post tagged "interview" never reached an interview subscriber, and the
        # archive's 200 old posts reached nobody.
        for text in shown(telegram, GROUP) + shown(telegram, FAN) + discord_shown(discord):
            assert "NewJeans" not in text and "Life archive" not in text
        assert len(telegram.sent(KPOP_FAN)) == 1


async def test_through_the_feeds_a_tag_never_makes_a_category(
    wordpress: WordPress, tmp_path: Path
) -> None:
    wp = wordpress
    ids = categories(wp)
    wp.create_post(
        "Feed life: Stray Kids backstage",
        content="<p>Stray Kids.</p>",
        categories=[ids["kpop"]],
        tags=["interview", "Video"],
    )
    wp.create_post("Feed life: a secret", content="<p>x</p>", password="letmein")
    settings = settings_mod.from_dict(
        {
            "bot": {"sample_archive": False, "site_host": site_host(wp)},
            "sources": [{"name": "feed", "kind": "feed", "url": f"{wp.url}/feed/", "interval": 60}],
        },
        environ={},
    )
    async with Store.open(tmp_path / "feed.db") as store:
        await app.prepare_store(store, settings)
        async with Ingestor(store, settings) as ingestor:
            report = await ingestor.poll(settings.sources[0])
        assert report.error is None
        async with store.db.connection.execute(
            "SELECT title FROM posts WHERE title LIKE '%secret%'"
        ) as cursor:
            assert await cursor.fetchall() == []
        [post] = [p for p in await store.posts.latest(20) if "Stray Kids" in p.title]
        assert post.categories == ("kpop",)
        assert set(post.tags) == {"interview", "Video"}
        assert not [p for p in await store.posts.latest(20, "interviews") if p.id == post.id]
