"""``kcrush-bot run`` as a process, seen as an operator and a supervisor see it: its HTTP
server answers ``/healthz`` and ``/metrics`` (the delivery counter moves when a post reaches
the fake Telegram), ``/healthz`` turns 503 naming Telegram while Telegram fails and 200 again
after; ``deliveries --json`` lists that delivery, and ``db backup`` of the running bot's store
passes ``PRAGMA integrity_check``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from e2e.e2ekit import Item, rss, write_config
from fakes.telegram_api import FakeError, start_fake_telegram
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.storage import Store
from publisher.publisherkit import wait_until

GROUP = "-1001234"
LISTENING = re.compile(r"http: listening on (http://\S+)")


async def prepare(config: Path, database: Path, feed: Path) -> None:
    """A subscribed group and the feed seen once (silently), so the next post is pushed."""
    settings = settings_mod.load(str(config), db=str(database))
    async with Store.open(database) as store:
        await app.prepare_store(store, settings)
        await store.chats.subscribe(ChatRef("telegram", GROUP), ["interviews"], Mode.INSTANT)
        async with Ingestor(store, settings) as ingestor:
            assert (await ingestor.poll(settings.sources[0])).silent


async def kcrush_bot(
    config: Path, database: Path, *args: str, token: str, log: Path
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
    env["KCRUSH_TELEGRAM_TOKEN"] = token
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
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
        )


async def cli(config: Path, database: Path, *args: str, token: str) -> tuple[int, str, str]:
    """A one-off ``kcrush-bot`` verb against the running bot's files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
    env["KCRUSH_TELEGRAM_TOKEN"] = token
    done = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kcrush_bot",
        "--config",
        str(config),
        "--db",
        str(database),
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode is not None
    return done.returncode, out.decode(), err.decode()


async def server_url(log: Path, bot: asyncio.subprocess.Process) -> str:
    """The address the bot logged (it listens on a port of its own choosing)."""
    found: list[str] = []

    def logged() -> bool:
        found[:] = LISTENING.findall(log.read_text(errors="replace"))
        return bool(found) or bot.returncode is not None

    await wait_until(logged, within=30)
    assert found, f"the bot exited ({bot.returncode}) before listening"
    return found[0]


async def answer_when(
    http: httpx.AsyncClient, path: str, done: Callable[[httpx.Response], bool], within: float
) -> httpx.Response:
    """GET ``path`` until ``done`` says the answer is the awaited one."""
    async with asyncio.timeout(within):
        while not done(answer := await http.get(path)):  # noqa: ASYNC110 - polling the endpoint
            await asyncio.sleep(0.05)
    return answer


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_a_running_bot_answers_health_metrics_deliveries_and_backup(tmp_path: Path) -> None:
    telegram = await start_fake_telegram()
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss([Item(1)]))
    database = tmp_path / "bot.db"
    config = write_config(tmp_path, telegram=telegram, source_url=feed, interval=1.0)
    log = tmp_path / "bot.log"
    bot = None
    try:
        await prepare(config, database, feed)
        bot = await kcrush_bot(config, database, "-v", "run", token=telegram.token, log=log)
        base = await server_url(log, bot)
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            health = await http.get("/healthz")
            assert health.status_code == 200, health.text
            body = health.json()
            assert body["status"] == "ok" and body["down"] == []
            assert body["store"] == "ok" and body["platforms"] == {"telegram": "connected"}

            before = (await http.get("/metrics")).text
            assert sample(before, "kcrush_deliveries_total", platform="telegram") == 0
            assert sample(before, "kcrush_outbox_pending", platform="telegram") == 0

            # A new post in the feed reaches the group, and the counters say so.
            feed.write_bytes(rss([Item(1), Item(2)]))
            await wait_until(lambda: telegram.sent(GROUP), within=15)
            scraped = await answer_when(
                http,
                "/metrics",
                # The counter moves as Telegram accepts; the row leaves the backlog once
                # its outcome is committed, a moment later.
                lambda a: (
                    sample(a.text, "kcrush_deliveries_total", outcome="sent") == 1
                    and sample(a.text, "kcrush_outbox_pending", platform="telegram") == 0
                ),
                within=10,
            )
            text = scraped.text
            assert sample(text, "kcrush_source_polls_total", source="kcrush") >= 1
            assert sample(text, "kcrush_source_poll_failures_total", source="kcrush") == 0
            assert "# TYPE kcrush_command_seconds histogram" in text

            # deliveries --json lists that delivery, read while the bot runs.
            code, out, err = await cli(
                config, database, "deliveries", "--json", token=telegram.token
            )
            assert code == 0, err
            [delivery] = json.loads(out)
            assert delivery["chat"] == f"telegram:{GROUP}" and delivery["status"] == "sent"
            assert delivery["post_url"] == Item(2).url and delivery["sent_at"]
            assert delivery["message_ids"] == [str(telegram.sent(GROUP)[0]["message_id"])]

            # db backup of the running bot's store: a sound, private copy with that delivery.
            copy = tmp_path / "backup" / "kcrush-bot.db"
            copy.parent.mkdir()
            code, out, err = await cli(config, database, "db", "backup", str(copy), token="")
            assert code == 0, err
            assert stat.S_IMODE(copy.stat().st_mode) == 0o600
            with sqlite3.connect(copy) as db:
                assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                assert db.execute("SELECT status FROM outbox").fetchall() == [("sent",)]
            assert sorted(p.name for p in copy.parent.iterdir()) == ["kcrush-bot.db"]
            code, out, err = await cli(config, database, "db", "backup", str(copy), token="")
            assert code == 2 and "already exists" in err

            # Telegram fails: /healthz is 503 and names it; it recovers: 200 again.
            outage = FakeError(502, "Bad Gateway")
            telegram.script("getUpdates", error=outage, times=None)
            # A message ends the long poll in flight, so the next one meets the outage now.
            telegram.message_update(4242, "hello")

            async def health_is(status: int) -> httpx.Response:
                return await answer_when(
                    http, "/healthz", lambda a: a.status_code == status, within=30
                )

            down = (await health_is(503)).json()
            assert down["status"] == "down" and down["down"] == ["telegram"]
            assert "502" in down["platforms"]["telegram"] and down["store"] == "ok"
            telegram.rules[-1].times = 0
            # A long poll that reached Telegram counts once it answers: one answers at once.
            telegram.message_update(4242, "hello again")
            assert (await health_is(200)).json()["platforms"] == {"telegram": "connected"}
            assert "Traceback" not in log.read_text(errors="replace")

            # Telegram gone altogether: still 503 naming it, and the bot still stops cleanly.
            await telegram.close()
            gone = (await health_is(503)).json()
            assert gone["down"] == ["telegram"]
            assert gone["platforms"]["telegram"].startswith("getUpdates failed")

        bot.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bot.wait(), 15) == 0
    except BaseException:
        if bot is not None and bot.returncode is None:
            bot.kill()
            await bot.wait()
        print(log.read_text(errors="replace")[-5000:])
        raise
    finally:
        await telegram.close()
