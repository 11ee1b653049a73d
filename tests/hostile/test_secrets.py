"""Secrets: ``kcrush-bot -vvv run`` as a real process, with recognisable tokens, against fakes
that answer 401, 429 and 500 along the way: neither token shows in the debug log, in what the
bot sends to chats (``/status`` included), in error lines, or in ``stats --json``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from e2e.e2ekit import Item, rss, write_config
from fakes.discord_api import Failure, Where, start_fake_discord
from fakes.telegram_api import (
    SERVER_ERROR,
    FakeError,
    Limits,
    retry_after,
    start_fake_telegram,
    user_dict,
)
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.storage import Store
from publisher.publisherkit import wait_until

pytestmark = pytest.mark.timeout(60)

TELEGRAM_TOKEN = "123456789:SECRET-TOKEN-abcdefghijklmnopqrstuvwxyz"
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.SECRET.discord-token-abcdefghijklmnopqrstuvw"
# Any of these in any output is a leak: the tokens, their URL-quoted forms, their secret parts.
LEAKS = (
    TELEGRAM_TOKEN,
    quote(TELEGRAM_TOKEN, safe=""),
    TELEGRAM_TOKEN.split(":")[1],
    DISCORD_TOKEN,
    DISCORD_TOKEN.split(".", 1)[1],
)
CHANNEL = "500000000000000001"


def assert_no_token(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak[:12]}… leaked in {where}"


async def prepare(config: Path, database: Path, feed: Path) -> None:
    """Two subscribed chats and the feed seen once, so the next post is pushed to both."""
    settings = settings_mod.load(str(config), db=str(database))
    async with Store.open(database) as store:
        await app.prepare_store(store, settings)
        await store.chats.subscribe(ChatRef("telegram", "42"), ["interviews"], Mode.INSTANT)
        await store.chats.subscribe(ChatRef("discord", CHANNEL), ["interviews"], Mode.INSTANT)
        async with Ingestor(store, settings) as ingestor:
            await ingestor.poll(settings.sources[0])
    write_feed(feed, [Item(1), Item(2)])


def write_feed(path: Path, items: list[Item]) -> None:
    path.write_bytes(rss(items))


async def kcrush_bot(
    config: Path, database: Path, *args: str, log: Path
) -> asyncio.subprocess.Process:
    """``kcrush-bot`` as a process with both tokens in its environment. Its output goes to a
    file, not a pipe: at -vvv a pipe nobody reads fills up and stalls the bot's logging."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
    env.update(KCRUSH_TELEGRAM_TOKEN=TELEGRAM_TOKEN, KCRUSH_DISCORD_TOKEN=DISCORD_TOKEN)
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kcrush_bot",
            "--config",
            str(config),
            "--db",
            str(database),
            *args,
            stdout=out,
            stderr=out,
            env=env,
        )


def read_log(log: Path) -> str:
    return log.read_bytes().decode(errors="replace")


@pytest.mark.timeout(60)
async def test_tokens_never_show_in_logs_chats_errors_or_stats(tmp_path: Path) -> None:
    telegram = await start_fake_telegram(token=TELEGRAM_TOKEN, limits=Limits.off())
    discord = await start_fake_discord(token=DISCORD_TOKEN)
    feed = tmp_path / "feed.xml"
    write_feed(feed, [Item(1)])
    database = tmp_path / "bot.db"
    config = write_config(tmp_path, telegram=telegram, discord=discord, source_url=feed)
    try:
        await prepare(config, database, feed)
        # Trouble on the way: a failing menu, a failing poll, a 429 and a 500 on the first
        # sends, a 401 on Discord's first channel post.
        telegram.script("setMyCommands", error=SERVER_ERROR)
        telegram.script("getUpdates", error=FakeError(502, "Bad Gateway"))
        telegram.script("sendMessage", error=retry_after(1))
        telegram.script("sendMessage", error=SERVER_ERROR)
        discord.fail(Failure(401, 0, "401: Unauthorized"), channel=CHANNEL)
        discord.fail(Failure(500, 0, "Internal Server Error"), channel=CHANNEL)

        log = tmp_path / "run.log"
        bot = await kcrush_bot(config, database, "-vvv", "run", log=log)
        try:
            await discord.wait_identified(within=20)
            await telegram.wait_for_calls("getUpdates", 2, within=20)
            await wait_until(
                lambda: (
                    any(c.status == 200 for c in telegram.calls("sendMessage", 42))
                    and discord.channel_posts(CHANNEL)
                ),
                within=30,
            )
            # /status on both platforms, and a command that fails on Telegram's side.
            telegram.message_update(42, "/status", user=user_dict(42))
            telegram.message_update(42, "/help", user=user_dict(42))
            await discord.run_interaction(discord.slash("status", [], Where()), within=10)
            await telegram.wait_for(
                lambda: any(
                    "status" in str(c.params.get("text", "")).lower()
                    or "version" in str(c.params.get("text", "")).lower()
                    for c in telegram.calls("sendMessage", 42)
                ),
                within=10,
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 20)
        text = read_log(log)
        assert bot.returncode == 0, text[-3000:]
        assert "DEBUG" in text and "***" in text  # it did log, at debug, with redactions
        assert_no_token(text, "the -vvv log")

        stats_log = tmp_path / "stats.json"
        stats = await kcrush_bot(config, database, "stats", "--json", log=stats_log)
        assert await stats.wait() == 0
        text = read_log(stats_log)
        json.loads(text)
        assert_no_token(text, "stats --json")
    finally:
        await telegram.close()
        await discord.close()

    for call in telegram.calls_log:
        assert_no_token(json.dumps(call.params, ensure_ascii=False), f"Telegram {call.method}")
    for body in discord.outgoing_messages():
        assert_no_token(json.dumps(body, ensure_ascii=False), "a Discord message")


@pytest.mark.timeout(30)
async def test_rejected_tokens_fail_start_up_without_showing_them(tmp_path: Path) -> None:
    # The fakes expect other tokens: Telegram answers getMe with 401, Discord /users/@me too.
    telegram = await start_fake_telegram(token="987654321:another-token-entirely-xxxxxxxxxxxxx")
    discord = await start_fake_discord(token="another.discord.token")
    feed = tmp_path / "feed.xml"
    write_feed(feed, [Item(1)])
    database = tmp_path / "bot.db"
    config = write_config(tmp_path, telegram=telegram, discord=discord, source_url=feed)
    log = tmp_path / "run.log"
    try:
        bot = await kcrush_bot(config, database, "-vvv", "run", log=log)
        await asyncio.wait_for(bot.wait(), 25)
    finally:
        await telegram.close()
        await discord.close()
    text = read_log(log)
    assert bot.returncode == 2, text[-3000:]
    assert "error: " in text and "KCRUSH_" in text
    assert_no_token(text, "start-up errors")


def test_a_token_in_the_config_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "kcrush-bot.toml"
    config.write_text(f'[telegram]\ntoken = "{TELEGRAM_TOKEN}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "kcrush_bot", "--config", str(config), "stats"],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")},
    )
    assert done.returncode == 2
    assert "telegram.token" in done.stderr
    assert_no_token(done.stdout + done.stderr, "the config error")
