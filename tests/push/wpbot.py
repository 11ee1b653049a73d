"""``kcrush-bot run`` as a real process reading the test WordPress, with the plugin pushing to it:
shared by the end-to-end test and ``bench/bench_push.py``.

``plug_in`` activates the plugin in the running WordPress and points it at the bot (the
constants), with post links on the magazine's public host (the site runs on a loopback port,
whose links the bot would skip as another host's). ``prepare`` subscribes the chats and reads
the site once, silently, as a bot that has run before has; ``start`` launches the bot and
returns once its HTTP server listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.storage import Store
from wordpress.wpkit import WordPress

SECRET = "the push secret shared by WordPress and the bot"
PUBLIC_URL = "https://www.kcrush.com"
SOURCE = "kcrush"
LISTENING = re.compile(r"http: listening on (http://\S+)")


@contextlib.contextmanager
def plug_in(wordpress: WordPress, *, push: bool = True) -> Iterator[None]:
    """The plugin active with the push secret, and post links on the public host. The push URL
    is set by ``point_at`` once the bot listens; with ``push=False`` the plugin stays off."""
    wordpress.define("KCRUSH_TEST_PUBLIC_URL", PUBLIC_URL)
    if push:
        wordpress.define("KCRUSH_BOT_PUSH_SECRET", SECRET)
        wordpress.activate_plugin()
    try:
        yield
    finally:
        if push:
            wordpress.deactivate_plugin()
        for name in ("KCRUSH_BOT_PUSH_URL", "KCRUSH_BOT_PUSH_SECRET", "KCRUSH_TEST_PUBLIC_URL"):
            wordpress.undefine(name)


def point_at(wordpress: WordPress, bot_url: str) -> None:
    wordpress.define("KCRUSH_BOT_PUSH_URL", f"{bot_url}/push/wordpress")


async def prepare(config: Path, database: Path, chats: Iterable[ChatRef]) -> None:
    """The chats subscribed to interviews and the site read once, silently: what exists now is
    archive, what is published from now on is news."""
    settings = settings_mod.load(str(config), db=str(database))
    async with Store.open(database) as store:
        await app.prepare_store(store, settings)
        for chat in chats:
            await store.chats.subscribe(chat, ["interviews"], Mode.INSTANT)
        async with Ingestor(store, settings) as ingestor:
            report = await ingestor.poll(settings.sources[0])
            assert report.ok and report.silent, report.line()


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    url: str
    log: Path

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 30)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()

    async def push_state(self) -> dict[str, Any]:
        """``/healthz``'s ``push``: the receiver, its last notice, counts by outcome."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            state: dict[str, Any] = (await http.get("/healthz")).json()["push"]
            return state

    async def counts_become(self, expected: dict[str, int], within: float = 30) -> None:
        """Until push's counts by outcome are ``expected`` (each notice's work is done after
        its answer)."""
        async with asyncio.timeout(within):
            while (await self.push_state())["counts"] != expected:  # noqa: ASYNC110 - an endpoint
                await asyncio.sleep(0.1)


async def start(
    config: Path, database: Path, log: Path, *, env: dict[str, str], verbosity: str = "-v"
) -> BotProcess:
    """``kcrush-bot run`` with ``env`` (tokens, the push secret) added to a clean environment;
    returns once it logs the address it listens on."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KCRUSH_")}
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kcrush_bot",
            "--config",
            str(config),
            "--db",
            str(database),
            verbosity,
            "run",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=clean | env,
        )
    async with asyncio.timeout(60):
        while not (found := LISTENING.findall(log.read_text(errors="replace"))):  # noqa: ASYNC240
            if process.returncode is not None:
                raise AssertionError(f"the bot exited ({process.returncode}); see {log}")
            await asyncio.sleep(0.05)
    return BotProcess(process, found[0], log)


async def last_polled(database: Path) -> str:
    """When the source was last polled, as stored."""
    async with Store.open(database, upgrade=False) as store:
        state = await store.sources.state(SOURCE)
    return str((state or {}).get("last_polled_at") or "")


async def polled_after(database: Path, before: str) -> None:
    """Until the source has been polled since ``before`` (the bot's own poll at start): from
    then on, within the hour, only a notice can bring a post."""
    async with asyncio.timeout(60):
        while await last_polled(database) <= before:  # noqa: ASYNC110 - the bot's database
            await asyncio.sleep(0.05)
