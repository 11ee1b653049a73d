"""End-to-end kit: a feed site on loopback whose RSS can change between polls, and the bot's
real objects (store, command service, Telegram and Discord platforms, publisher) wired through
the composition root against the fake platforms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from aiohttp import web

from fakes.discord_api import FAKE_TOKEN, FakeDiscord, start_fake_discord
from fakes.telegram_api import FakeTelegram, start_fake_telegram
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.ports import Platform
from kcrush_bot.publisher import Publisher
from kcrush_bot.settings import Settings
from kcrush_bot.storage import Store

BASE_DATE = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    n: int
    categories: tuple[str, ...] = ("Interviews", "K-Pop Interviews")

    @property
    def title(self) -> str:
        return f"KCRUSH Interview number {self.n} with Artist{self.n}"

    @property
    def url(self) -> str:
        return f"https://www.kcrush.com/kcrush-interview-number-{self.n}/"


def rss(items: list[Item]) -> bytes:
    """A WordPress-like RSS 2.0 document, newest item first."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>',
        "<title>KCrush America Magazine</title><link>https://www.kcrush.com</link>",
        "<description>K-Pop interviews</description>",
    ]
    for item in sorted(items, key=lambda i: -i.n):
        when = format_datetime(BASE_DATE + timedelta(hours=item.n))
        cats = "".join(f"<category><![CDATA[{c}]]></category>" for c in item.categories)
        parts.append(
            f"<item><title>{escape(item.title)}</title><link>{item.url}</link>"
            f"<pubDate>{when}</pubDate>{cats}"
            f'<guid isPermaLink="false">https://www.kcrush.com/?p={item.n}</guid>'
            f"<description><![CDATA[<p>Artist{item.n} talks about the new album.</p>]]>"
            "</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


@dataclass
class FeedSite:
    """Serves ``/feed/`` from ``items``; change the list and the next poll sees it."""

    items: list[Item] = field(default_factory=list)
    base: str = ""
    hits: int = 0

    @property
    def url(self) -> str:
        return f"{self.base}/feed/"

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=rss(self.items), content_type="application/rss+xml")


@asynccontextmanager
async def feed_site(items: list[Item]) -> AsyncIterator[FeedSite]:
    site = FeedSite(list(items))
    web_app = web.Application()
    web_app.router.add_get("/feed/", site.handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    site.base = f"http://127.0.0.1:{tcp._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield site
    finally:
        await runner.cleanup()


def write_config(
    directory: Path,
    *,
    telegram: FakeTelegram | None = None,
    discord: FakeDiscord | None = None,
    source_kind: str = "file",
    source_url: str | Path | None = None,
    interval: float = 1.0,
    http_listen: str = "127.0.0.1:0",
    delivery: dict[str, float] | None = None,
) -> Path:
    """A configuration file for ``kcrush-bot run`` as a process, pointing at the fakes.

    The HTTP server listens on a port of its own choosing (logged at start), so processes
    of tests running side by side never compete for one.
    """
    parts = ["[bot]\nsample_archive = false\n", f'[http]\nlisten = "{http_listen}"\n']
    if delivery:
        parts.append("[delivery]\n" + "".join(f"{k} = {v}\n" for k, v in delivery.items()))
    if telegram is not None:
        parts.append(
            f'[telegram]\nbase_url = "{telegram.base_url}"\n'
            f'base_file_url = "{telegram.base_file_url}"\n'
        )
    if discord is not None:
        parts.append(
            f'[discord]\napi_base = "{discord.api_base}"\ngateway_url = "{discord.gateway_url}"\n'
        )
    if source_url is not None:
        parts.append(
            f'[[sources]]\nname = "kcrush"\nkind = "{source_kind}"\nurl = "{source_url}"\n'
            f"interval = {interval}\n"
        )
    path = directory / "kcrush-bot.toml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def bot_settings(
    *,
    telegram: FakeTelegram | None,
    discord: FakeDiscord | None,
    database: Path,
    feed_url: str | None = None,
    interval: float = 1.0,
    delivery: dict[str, Any] | None = None,
) -> Settings:
    data: dict[str, Any] = {
        "bot": {"sample_archive": False, "database": str(database)},
        "delivery": delivery or {},
    }
    env = {}
    if telegram is not None:
        data["telegram"] = {"base_url": telegram.base_url, "base_file_url": telegram.base_file_url}
        env["KCRUSH_TELEGRAM_TOKEN"] = telegram.token
    if discord is not None:
        data["discord"] = {"api_base": discord.api_base, "gateway_url": discord.gateway_url}
        env["KCRUSH_DISCORD_TOKEN"] = FAKE_TOKEN
    if feed_url is not None:
        data["sources"] = [
            {"name": "kcrush", "kind": "feed", "url": feed_url, "interval": interval}
        ]
    return settings_mod.from_dict(data, environ=env)


@dataclass
class Bot:
    app: app.App
    publisher: Publisher


@asynccontextmanager
async def running_bot(
    settings: Settings, *, telegram_timeout: float | None = None, **publisher_options: Any
) -> AsyncIterator[Bot]:
    """The bot as ``kcrush-bot run`` builds it: one ``app.build``, the platforms connected, then
    the publisher running.

    ``telegram_timeout`` shortens the Telegram adapter's request timeout (for timeout tests).
    """

    def platforms(service: CommandService) -> dict[str, Platform]:
        made = app.platforms_for(settings, service)
        if telegram_timeout is not None:
            from kcrush_bot.platforms.telegram import TelegramPlatform

            made["telegram"] = TelegramPlatform(
                settings.telegram, service, request_timeout=telegram_timeout
            )
        return made

    async with (
        app.build(settings, platforms=platforms, publisher_options=publisher_options) as built,
        AsyncExitStack() as stack,
    ):
        for platform in built.platforms.values():
            await stack.enter_async_context(platform)
        publisher = await stack.enter_async_context(built.publisher)
        yield Bot(built, publisher)


@asynccontextmanager
async def fake_platforms(
    **telegram_options: Any,
) -> AsyncIterator[tuple[FakeTelegram, FakeDiscord]]:
    telegram = await start_fake_telegram(**telegram_options)
    discord = await start_fake_discord()
    try:
        yield telegram, discord
    finally:
        await telegram.close()
        await discord.close()


async def outbox_statuses(store: Store) -> dict[str, int]:
    async with store.db.connection.execute(
        "SELECT status, count(*) FROM outbox GROUP BY 1"
    ) as cursor:
        return {r[0]: r[1] for r in await cursor.fetchall()}


async def wait_for_outbox(store: Store, expected: dict[str, int], within: float = 10.0) -> None:
    """Wait until the outbox's counts by status are ``expected`` (a send is recorded just
    after the platform accepted it, so the fake sees it first)."""
    async with asyncio.timeout(within):
        while await outbox_statuses(store) != expected:  # noqa: ASYNC110 - polling the table
            await asyncio.sleep(0.02)
