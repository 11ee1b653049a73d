"""A WebSub hub on loopback, as the W3C recommendation describes one, for the bot's subscriber.

It takes ``hub.mode=subscribe|unsubscribe`` requests (form-encoded POSTs), answers 202, and then
verifies the subscriber's intent as a real hub does: a GET of ``hub.callback`` with
``hub.mode``, ``hub.topic``, a random ``hub.challenge`` and ``hub.lease_seconds``; only an echo
of the challenge with a 2xx makes the subscription active. ``publish`` delivers a body to every
active subscriber of a topic, signed with its ``hub.secret`` (``X-Hub-Signature:
<algorithm>=<hex>``). A test can also play a rogue hub: ``verify`` sends any verification it
likes, ``deliver`` any delivery with any signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import httpx
from aiohttp import web


@dataclass
class HubSubscription:
    callback: str
    topic: str
    secret: str
    lease_seconds: int
    active: bool = False


@dataclass
class Verification:
    mode: str
    callback: str
    topic: str
    status: int
    echoed: bool


@dataclass
class FakeHub:
    # The lease the hub grants (a hub may grant less than asked); None grants what was asked.
    grant_lease: int | None = None
    answer_status: int = 202
    requests: list[dict[str, str]] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    subscriptions: dict[tuple[str, str], HubSubscription] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> FakeHub:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/"
        return self

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeHub:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def active(self, topic: str | None = None) -> list[HubSubscription]:
        return [s for s in self.subscriptions.values() if s.active and topic in (None, s.topic)]

    async def wait_for(self, predicate: object, within: float = 10.0) -> None:
        """Until ``predicate()`` holds (checked after every change the hub sees)."""
        assert callable(predicate)
        async with asyncio.timeout(within):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def _handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        self._changed.set()
        mode = form.get("hub.mode")
        callback, topic = form.get("hub.callback", ""), form.get("hub.topic", "")
        if mode not in ("subscribe", "unsubscribe") or not callback or not topic:
            return web.Response(status=400, text="hub.mode, hub.callback and hub.topic")
        if self.answer_status != 202:
            return web.Response(status=self.answer_status, text="the hub is unwell")
        lease = int(form.get("hub.lease_seconds") or 864000)
        if self.grant_lease is not None:
            lease = self.grant_lease
        task = asyncio.create_task(
            self._verify_intent(mode, callback, topic, form.get("hub.secret", ""), lease)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def _verify_intent(
        self, mode: str, callback: str, topic: str, secret: str, lease: int
    ) -> None:
        status, echoed = await self.verify(callback, mode, topic, lease_seconds=lease)
        key = (callback, topic)
        if status // 100 == 2 and echoed:
            if mode == "subscribe":
                self.subscriptions[key] = HubSubscription(callback, topic, secret, lease, True)
            else:
                self.subscriptions.pop(key, None)
        self._changed.set()

    async def verify(
        self,
        callback: str,
        mode: str,
        topic: str,
        *,
        lease_seconds: int | None = None,
        challenge: str | None = None,
    ) -> tuple[int, bool]:
        """A verification request as a hub sends it; (the status, whether the challenge came
        back exactly)."""
        challenge = challenge or secrets.token_urlsafe(24)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if lease_seconds is not None:
            params["hub.lease_seconds"] = str(lease_seconds)
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(callback, params=params)
        echoed = answer.status_code // 100 == 2 and answer.text == challenge
        self.verifications.append(Verification(mode, callback, topic, answer.status_code, echoed))
        self._changed.set()
        return answer.status_code, echoed

    async def publish(
        self,
        topic: str,
        body: bytes,
        *,
        algorithm: str = "sha256",
        content_type: str = "application/rss+xml",
    ) -> list[int]:
        """Deliver ``body`` to every active subscriber of ``topic``, signed as WebSub says."""
        statuses = []
        for sub in self.active(topic):
            signature = None
            if sub.secret:
                digest = hmac.new(sub.secret.encode(), body, getattr(hashlib, algorithm))
                signature = f"{algorithm}={digest.hexdigest()}"
            statuses.append(await self.deliver(sub.callback, body, signature, content_type))
        return statuses

    async def deliver(
        self,
        callback: str,
        body: bytes,
        signature: str | None,
        content_type: str = "application/rss+xml",
    ) -> int:
        headers = {"Content-Type": content_type}
        if signature is not None:
            headers["X-Hub-Signature"] = signature
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(callback, content=body, headers=headers)
        return answer.status_code
