"""WebSub against a hub on loopback (``fakes.websub_hub``): a feed naming a hub is subscribed
with a secret of the bot's own, intent verification is answered only for what the bot asked,
a delivery signed with the secret (sha1, sha256 or sha512) polls the feed at once and brings
its post to the chat, a badly signed one is dropped, and the lease is renewed before it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from e2e.e2ekit import Item, rss
from fakes.websub_hub import FakeHub
from kcrush_bot.push.websub import discover
from publisher.publisherkit import wait_until
from push.pushkit import (
    GROUP,
    PushBot,
    fake_telegram,
    free_port,
    push_bot,
    push_settings,
    seen_once,
)

SOURCE = "kcrush-feed"


@dataclass
class HubFeed:
    """A feed that names its hub (``<atom:link rel="hub">``) and its own address (``rel="self"``)."""

    hub: str
    items: list[Item]
    base: str = ""
    hits: int = 0
    names_hub: bool = True

    @property
    def url(self) -> str:
        return f"{self.base}/feed/"

    @property
    def topic(self) -> str:
        return f"{self.base}/feed/?canonical"

    def document(self) -> bytes:
        links = f'<atom:link rel="self" href="{self.topic}" type="application/rss+xml"/>'
        if self.names_hub:
            links += f'<atom:link rel="hub" href="{self.hub}"/>'
        body = rss(self.items).replace(b"<channel>", b"<channel>" + links.encode(), 1)
        return body.replace(
            b'<rss version="2.0">',
            b'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">',
            1,
        )

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=self.document(), content_type="application/rss+xml")


@asynccontextmanager
async def hub_feed(hub: FakeHub, items: list[Item]) -> AsyncIterator[HubFeed]:
    feed = HubFeed(hub.url, list(items))
    web_app = web.Application()
    web_app.router.add_get("/feed/", feed.handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    feed.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield feed
    finally:
        await runner.cleanup()


@dataclass
class World:
    bot: PushBot
    hub: FakeHub
    feed: HubFeed
    callback: str


@asynccontextmanager
async def websub_world(
    tmp_path: Path, *, lease: int = 86400, public: bool = True, **hub_options: Any
) -> AsyncIterator[World]:
    port = free_port()
    async with (
        fake_telegram() as telegram,
        FakeHub(**hub_options) as hub,
        hub_feed(hub, [Item(1)]) as feed,
    ):
        push = {"websub_lease": lease}
        if public:
            push["public_url"] = f"http://127.0.0.1:{port}/"  # the slash is dropped
        sources = [{"name": SOURCE, "kind": "feed", "url": feed.url, "interval": 3600}]
        settings = push_settings(tmp_path / "bot.db", telegram, sources, push=push)
        await seen_once(settings)
        async with push_bot(settings, telegram, port=port) as bot:
            callback = f"http://127.0.0.1:{port}/push/websub/{SOURCE}"
            yield World(bot, hub, feed, callback)


async def subscribed(world: World) -> None:
    await world.hub.wait_for(lambda: world.hub.active(world.feed.topic))


async def test_a_feed_naming_a_hub_is_subscribed_and_a_delivery_brings_its_post(
    tmp_path: Path,
) -> None:
    async with websub_world(tmp_path) as world:
        bot, hub, feed = world.bot, world.hub, world.feed
        await subscribed(world)
        [request] = hub.requests
        assert request["hub.mode"] == "subscribe"
        assert request["hub.topic"] == feed.topic  # the feed's rel="self"
        assert request["hub.callback"] == world.callback
        assert request["hub.lease_seconds"] == "86400"
        assert len(request["hub.secret"]) == 64
        [verification] = hub.verifications
        assert verification.echoed and verification.status == 200
        row = await bot.app.store.websub.get(SOURCE)
        assert row is not None and row.state == "verified" and row.expires_at is not None
        assert request["hub.secret"] not in repr(row)
        health = (await bot.http.get("/healthz")).json()["push"]["websub"]
        assert health[SOURCE]["state"] == "verified" and health[SOURCE]["expires_at"]

        feed.items.append(Item(2))
        hits = feed.hits
        assert await hub.publish(feed.topic, feed.document()) == [202]
        await wait_until(lambda: telegram_sent(bot), within=10)
        await bot.settle()
        assert feed.hits == hits + 1  # polled once, at once
        assert "number 2" in str(bot.telegram.sent(GROUP))
        assert bot.app.push.counts["websub_delivery"] == 1
        assert (await bot.app.store.websub.get(SOURCE)).deliveries == 1  # type: ignore[union-attr]

        # Each hash a hub may name: sha1 and sha512 pass too.
        for n, algorithm in ((3, "sha1"), (4, "sha512")):
            feed.items.append(Item(n))
            assert await hub.publish(feed.topic, feed.document(), algorithm=algorithm) == [202]
            await wait_until(lambda n=n: len(bot.telegram.sent(GROUP)) == n - 1, within=10)


def telegram_sent(bot: PushBot) -> bool:
    return bool(bot.telegram.sent(GROUP))


async def test_a_delivery_with_a_bad_signature_is_dropped(tmp_path: Path) -> None:
    async with websub_world(tmp_path) as world:
        bot, hub, feed = world.bot, world.hub, world.feed
        await subscribed(world)
        feed.items.append(Item(2))
        hits = feed.hits
        body = feed.document()
        for signature in (
            None,
            "sha256=" + "0" * 64,
            "md5=" + "0" * 32,
            "sha256=not-hex",
            "sha1=" + "a" * 40,
        ):
            assert await hub.deliver(world.callback, body, signature) == 202
        await bot.settle()
        await bot.app.publisher.deliver_due()
        assert feed.hits == hits and bot.telegram.sent(GROUP) == []
        assert bot.app.push.counts["websub_bad_signature"] == 5
        assert bot.app.push.counts["websub_delivery"] == 0
        # A delivery for a source the bot has no subscription for: not found.
        other = world.callback.replace(SOURCE, "nobody")
        assert await hub.deliver(other, body, "sha256=" + "0" * 64) == 404


async def test_verification_is_answered_only_for_what_the_bot_asked(tmp_path: Path) -> None:
    async with websub_world(tmp_path) as world:
        hub, feed = world.hub, world.feed
        await subscribed(world)
        elsewhere = world.callback.replace(SOURCE, "nobody")
        for callback, mode, topic in (
            (world.callback, "subscribe", "http://evil.example/feed"),
            (world.callback, "unsubscribe", feed.topic),  # never asked to leave
            (world.callback, "subscribe", feed.url),  # not the topic asked for
            (elsewhere, "subscribe", feed.topic),
            (world.callback, "explode", feed.topic),
        ):
            status, echoed = await hub.verify(callback, mode, topic, lease_seconds=60)
            assert (status, echoed) == (404, False), (callback, mode, topic)
        status, echoed = await hub.verify(world.callback, "subscribe", feed.topic, challenge="x")
        assert status == 200 and echoed  # the hub re-verifying what was asked: fine
        row = await world.bot.app.store.websub.get(SOURCE)
        assert row is not None and row.state == "verified"


async def test_the_lease_is_renewed_before_it_runs_out(tmp_path: Path) -> None:
    async with websub_world(tmp_path, grant_lease=1000) as world:
        bot, hub = world.bot, world.hub
        websub = bot.push.websub
        await subscribed(world)
        first = await bot.app.store.websub.get(SOURCE)
        assert first is not None and first.verified_at is not None
        assert first.lease_seconds == 1000  # what the hub granted, not what was asked
        assert await websub.renew_due(first.verified_at + timedelta(seconds=700)) == 0
        assert await websub.renew_due(first.verified_at + timedelta(seconds=850)) == 1
        await hub.wait_for(lambda: len(hub.verifications) == 2)
        again = await bot.app.store.websub.get(SOURCE)
        assert again is not None and again.state == "verified"
        assert again.expires_at is not None and first.expires_at is not None
        assert again.expires_at > first.expires_at
        renewal = hub.requests[-1]
        assert renewal["hub.mode"] == "subscribe" and renewal["hub.secret"] == first.secret
        assert bot.app.publisher.scheduler is not None
        assert bot.app.publisher.scheduler.get_job("websub:renew") is not None


async def test_a_hub_that_fails_is_shown_and_asked_again_later(tmp_path: Path) -> None:
    async with websub_world(tmp_path, answer_status=500) as world:
        bot, hub = world.bot, world.hub
        await hub.wait_for(lambda: hub.requests)
        await wait_until(lambda: bot.app.push.subscriptions[SOURCE].state == "failed", within=10)
        row = await bot.app.store.websub.get(SOURCE)
        assert row is not None and row.last_error and "500" in row.last_error
        lines = bot.app.push.status_lines(row.requested_at)
        assert any(line.startswith(f"WebSub {SOURCE}: failed") for line in lines)
        websub = bot.push.websub
        assert await websub.renew_due(row.requested_at + timedelta(minutes=30)) == 0
        hub.answer_status = 202
        assert await websub.renew_due(row.requested_at + timedelta(hours=2)) == 1
        await subscribed(world)


async def test_only_the_replica_holding_the_lease_asks_hubs(tmp_path: Path) -> None:
    class NotHeld:
        held = False
        shared = True

    async with websub_world(tmp_path) as world:
        await subscribed(world)
        row = await world.bot.app.store.websub.get(SOURCE)
        assert row is not None and row.verified_at is not None
        websub = world.bot.push.websub
        websub.lease = NotHeld()
        assert await websub.renew_due(row.verified_at + timedelta(days=2)) == 0
        assert len(world.hub.requests) == 1


async def test_without_a_public_url_nothing_is_subscribed(tmp_path: Path) -> None:
    async with websub_world(tmp_path, public=False) as world:
        assert await world.bot.push.websub.renew_due() == 0
        assert world.hub.requests == []
        assert await world.bot.app.store.websub.all() == []


def test_discovery_reads_link_headers_and_feed_links() -> None:
    import httpx

    headers = httpx.Headers(
        [("Link", '<https://hub.example/>; rel="hub", <https://site.example/feed>; rel="self"')]
    )
    found = discover("https://site.example/feed/", headers, b"<rss></rss>")
    assert found is not None
    assert (found.hub, found.topic) == ("https://hub.example/", "https://site.example/feed")
    atom = b'<feed><link rel="hub" href="/hub"/><link href="https://a.example/" rel="alternate"/>'
    found = discover("https://site.example/atom", None, atom)
    assert found is not None
    assert (found.hub, found.topic) == ("https://site.example/hub", "https://site.example/atom")
    assert discover("https://site.example/feed/", None, b"<rss><link>x</link></rss>") is None
    assert discover("https://s.example/", None, b'<link rel="hub" href="javascript:x"/>') is None
