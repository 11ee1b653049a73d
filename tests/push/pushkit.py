"""Push test kit: signed notices, a small WordPress REST API on loopback, and the bot running
in-process with its HTTP server (``app.serve_http``), the fake Telegram and a subscribed group.

``RestSite`` serves ``/wp-json/wp/v2/posts`` (the newest public posts), ``/wp-json/wp/v2/posts/<id>``
(one post, or WordPress's own 401 / 404 answers for a post it does not show) and
``/wp-json/wp/v2/categories``, and counts the requests it was sent, so a test can tell that a
refused notice made the bot read nothing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from fakes.telegram_api import FakeTelegram, start_fake_telegram
from kcrush_bot import app
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.push.endpoints import PushEndpoints
from kcrush_bot.push.signing import sign_notice
from kcrush_bot.settings import Settings
from kcrush_bot.sources.ingest import Ingestor
from kcrush_bot.web import HttpServer, PrometheusMetrics
from publisher.publisherkit import wait_until

SECRET = "push secret for the tests, long enough"
GROUP = "-1001234"
BASE_DATE = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
CATEGORIES = [
    {"id": 5, "slug": "interviews", "name": "Interviews", "parent": 0},
    {"id": 6, "slug": "k-pop-interviews", "name": "K-Pop Interviews", "parent": 5},
]


def notice_body(post_id: int, event: str = "publish", site: str = "") -> bytes:
    """A notice as the plugin sends it: compact JSON."""
    fields = {
        "event": event,
        "post_id": post_id,
        "modified_gmt": "2025-03-01T10:00:00",
        "site": site,
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """The headers the plugin sends with ``body``, stamped ``at`` (now by default)."""
    timestamp = str(int(time.time() if at is None else at))
    return {
        "Content-Type": "application/json",
        "X-KCrush-Timestamp": timestamp,
        "X-KCrush-Signature": sign_notice(secret, timestamp, body),
    }


def wp_post(wp_id: int, *, status: str = "publish", protected: bool = False) -> dict[str, Any]:
    when = (BASE_DATE + timedelta(hours=wp_id)).strftime("%Y-%m-%dT%H:%M:%S")
    slug = f"kcrush-interview-number-{wp_id}"
    return {
        "id": wp_id,
        "date_gmt": when,
        "modified_gmt": when,
        "guid": {"rendered": f"https://www.kcrush.com/?p={wp_id}"},
        "slug": slug,
        "status": status,
        "type": "post",
        "link": f"https://www.kcrush.com/{slug}/",
        "title": {"rendered": f"KCRUSH Interview number {wp_id} with Artist{wp_id}"},
        "content": {"rendered": f"<p>Artist{wp_id} talks.</p>", "protected": protected},
        "excerpt": {"rendered": f"<p>Artist{wp_id} talks.</p>", "protected": protected},
        "categories": [5, 6],
        "tags": [],
        "_embedded": {"wp:term": [[{"id": 6, "slug": "k-pop-interviews", "taxonomy": "category"}]]},
    }


@dataclass
class RestSite:
    """A WordPress REST API whose posts a test changes between reads."""

    posts: dict[int, dict[str, Any]] = field(default_factory=dict)
    base: str = ""
    requests: list[str] = field(default_factory=list)
    # Closed, single-post reads wait: a test can hold the bot's push workers busy.
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def api(self) -> str:
        return f"{self.base}/wp-json"

    def publish(self, wp_id: int, **fields: Any) -> None:
        self.posts[wp_id] = wp_post(wp_id, **fields)

    def single_reads(self) -> list[str]:
        return [r for r in self.requests if r.startswith("/wp-json/wp/v2/posts/")]

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        path = request.path
        if path == "/wp-json/wp/v2/categories":
            return web.json_response(CATEGORIES, headers={"X-WP-TotalPages": "1"})
        if path == "/wp-json/wp/v2/posts":
            public = [p for p in self.posts.values() if p["status"] == "publish"]
            public.sort(key=lambda p: p["date_gmt"], reverse=True)
            return web.json_response(public[:20], headers={"X-WP-TotalPages": "1"})
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        wp_id = path.removeprefix("/wp-json/wp/v2/posts/")
        post = self.posts.get(int(wp_id)) if wp_id.isdigit() else None
        if post is None:
            error = {"code": "rest_post_invalid_id", "message": "Invalid post ID."}
            return web.json_response(error | {"data": {"status": 404}}, status=404)
        if post["status"] != "publish":
            error = {"code": "rest_forbidden", "message": "Sorry, you are not allowed to do that."}
            return web.json_response(error | {"data": {"status": 401}}, status=401)
        return web.json_response(post)


@asynccontextmanager
async def rest_site() -> AsyncIterator[RestSite]:
    site = RestSite()
    web_app = web.Application()
    web_app.router.add_route("GET", "/{tail:.*}", site.handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    site.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield site
    finally:
        await runner.cleanup()


def free_port() -> int:
    """A loopback port nobody holds now: WebSub's callback address must be known in advance."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wordpress_source(site: RestSite) -> list[dict[str, Any]]:
    """The ``[[sources]]`` of a bot reading ``site`` through its REST API, hourly."""
    return [{"name": "magazine", "kind": "wordpress", "url": site.api, "interval": 3600}]


def push_settings(
    database: Path,
    telegram: FakeTelegram,
    sources: list[dict[str, Any]],
    *,
    secret: str = SECRET,
    push: dict[str, Any] | None = None,
) -> Settings:
    data: dict[str, Any] = {
        "bot": {"sample_archive": False, "database": str(database)},
        "telegram": {"base_url": telegram.base_url, "base_file_url": telegram.base_file_url},
        "http": {"listen": "127.0.0.1:0"},
        "sources": sources,
        "push": push or {},
    }
    env = {"KCRUSH_TELEGRAM_TOKEN": telegram.token, "KCRUSH_PUSH_SECRET": secret}
    return settings_mod.from_dict(data, environ=env)


@dataclass
class PushBot:
    app: app.App
    server: HttpServer
    push: PushEndpoints
    http: httpx.AsyncClient
    telegram: FakeTelegram
    metrics: PrometheusMetrics

    async def notify(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post("/push/wordpress", content=body, headers=headers)

    async def settle(self) -> None:
        """Until push has done every job it took (and delivery had its chance to start)."""
        await self.push.receiver.idle()

    async def post_count(self) -> int:
        return await self.app.store.posts.count()


async def seen_once(settings: Settings) -> None:
    """Every source polled once, before the bot runs: its first sight is silent, so what a
    test publishes after this is news."""
    async with app.build(settings, platforms={}) as built:
        await built.store.chats.subscribe(ChatRef("telegram", GROUP), ["interviews"], Mode.INSTANT)
        async with Ingestor(built.store, settings) as ingestor:
            for report in await ingestor.poll_all():
                assert report.ok, report.error


@asynccontextmanager
async def push_bot(
    settings: Settings,
    telegram: FakeTelegram,
    *,
    port: int = 0,
    **publisher_options: Any,
) -> AsyncIterator[PushBot]:
    """The bot with its HTTP server and push, wired as ``kcrush-bot run`` wires them, in-process:
    the platforms connected, the publisher running, then ``app.serve_http``."""
    metrics = PrometheusMetrics()
    async with (
        app.build(settings, metrics=metrics, publisher_options=publisher_options) as built,
        AsyncExitStack() as stack,
    ):
        for platform in built.platforms.values():
            await stack.enter_async_context(platform)
        await stack.enter_async_context(built.publisher)
        server, push = await stack.enter_async_context(
            app.serve_http(built, ("127.0.0.1", port), metrics)
        )
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=30))
        yield PushBot(built, server, push, http, telegram, metrics)


async def started(bot: PushBot, site: RestSite) -> None:
    """The bot's own poll at start has read the site (it was polled once before, so only posts
    published after this are news, which within the hour only a notice can bring)."""
    await wait_until(
        lambda: sum(r.startswith("/wp-json/wp/v2/posts?") for r in site.requests) >= 2, within=10
    )
    await bot.app.publisher.deliver_due()


@asynccontextmanager
async def bot_after_first_sight(tmp_path: Path, site: RestSite) -> AsyncIterator[PushBot]:
    """The bot with push, reading ``site`` as one that has run before: the site as it is now
    read once, silently (``seen_once``), then the bot started and its own first poll done."""
    async with fake_telegram() as telegram:
        settings = push_settings(tmp_path / "bot.db", telegram, wordpress_source(site))
        await seen_once(settings)
        async with push_bot(settings, telegram) as bot:
            await started(bot, site)
            yield bot


@asynccontextmanager
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    telegram = await start_fake_telegram()
    try:
        yield telegram
    finally:
        await telegram.close()
