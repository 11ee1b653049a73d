"""WebSub: feeds whose site names a hub are pushed to the bot instead of waiting for a poll.

With ``[push] public_url`` set, each enabled ``feed`` source is read once at start (and once a
day after, for sites that gain a hub) for a hub: an HTTP ``Link: <…>; rel="hub"`` header or a
``<link rel="hub">`` / ``<atom:link rel="hub">`` element. The topic is the feed's ``rel="self"``
address when it names one, else the source URL. The bot then asks the hub
(``hub.mode=subscribe``, ``hub.topic``, ``hub.callback=<public_url>/push/websub/<source>``, a
random ``hub.secret`` of its own, ``hub.lease_seconds``), the row written before asking, since a
hub may verify before it answers.

``GET /push/websub/<source>`` is the hub's intent verification: ``hub.challenge`` is echoed only
when the topic is the one asked for, for that source, in the mode asked for; anything else is
404. ``POST /push/websub/<source>`` is a delivery: its ``X-Hub-Signature`` (sha1, sha256,
sha384 or sha512, as the hub names it) must be the HMAC of the body under the subscription's
secret. A good one polls that source at once through push's queue; a bad or missing one is
dropped and counted, and still answered 202 (as WebSub allows), so a forger learns nothing.

Leases are renewed by a scheduler job (``renew_due``, every minute, in the replica holding the
singleton lease) once four fifths of the lease has passed; a request the hub never verified is asked again after ten minutes, and a hub
that failed after an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urljoin

import httpx
from aiohttp import web

from kcrush_bot.core.errors import SourceError
from kcrush_bot.core.ports import SOLE, Lease
from kcrush_bot.push.ledger import PushLedger, Subscription
from kcrush_bot.push.notices import Job, JobKind, JobQueue
from kcrush_bot.push.signing import check_hub_signature
from kcrush_bot.settings import Settings, SourceSettings
from kcrush_bot.sources.fetch import fetch
from kcrush_bot.storage.websub import WebSubRepo, WebSubRow

log = logging.getLogger(__name__)

PATH = "/push/websub/{source}"
RENEW_CHECK_SECONDS = 60.0
RENEW_AFTER = 0.8  # of the lease
RETRY_UNVERIFIED = timedelta(minutes=10)
RETRY_FAILED = timedelta(hours=1)
REDISCOVER = timedelta(days=1)
# Discovery needs the head of the document only; the hub and self links come first.
DISCOVERY_BYTES = 512 * 1024
MAX_CHALLENGE = 1000
HUB_TIMEOUT = 20.0

_LINK_TAG = re.compile(r"<(?:[a-zA-Z][\w-]*:)?link\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"([\w:-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")
_LINK_HEADER = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


@dataclass(frozen=True, slots=True)
class Discovered:
    hub: str
    topic: str


def discover(url: str, headers: httpx.Headers | None, body: bytes) -> Discovered | None:
    """The hub and topic a feed names, by its ``Link`` headers or its links; None without a
    hub."""
    hubs: list[str] = []
    selves: list[str] = []
    for value in headers.get_list("link") if headers is not None else ():
        for target, params in _LINK_HEADER.findall(value):
            rels = re.findall(r"rel\s*=\s*\"?([^\";]+)\"?", params, re.IGNORECASE)
            words = " ".join(rels).lower().split()
            if "hub" in words:
                hubs.append(target.strip())
            if "self" in words:
                selves.append(target.strip())
    text = body[:DISCOVERY_BYTES].decode("utf-8", errors="replace")
    for match in _LINK_TAG.finditer(text):
        attributes = {
            name.lower().split(":")[-1]: html.unescape(value[1:-1])
            for name, value in _ATTRIBUTE.findall(match.group(1))
        }
        rels = attributes.get("rel", "").lower().split()
        href = attributes.get("href", "").strip()
        if href and "hub" in rels:
            hubs.append(href)
        if href and "self" in rels:
            selves.append(href)
    hubs = [urljoin(url, h) for h in hubs if urljoin(url, h).startswith(("http://", "https://"))]
    if not hubs:
        return None
    selves = [urljoin(url, s) for s in selves]
    topic = next((s for s in selves if s.startswith(("http://", "https://"))), url)
    return Discovered(hubs[0], topic)


class WebSub:
    """The subscriber: discovery, (re)subscription, the callback routes."""

    def __init__(
        self,
        settings: Settings,
        repo: WebSubRepo,
        queue: JobQueue,
        ledger: PushLedger,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] | None = None,
        lease: Lease = SOLE,
    ) -> None:
        self.settings = settings
        # Subscribing is a singleton duty: of several replicas, only the lease holder asks hubs
        # (each asking with a secret of its own would overwrite the others'). Every replica
        # answers verifications and deliveries, from the shared table.
        self.lease = lease
        self.public_url = settings.push.public_url
        self.lease_seconds = max(int(settings.push.websub_lease), 60)
        self.repo = repo
        self.queue = queue
        self.ledger = ledger
        self.client = client
        self.clock = clock or (lambda: datetime.now(UTC))
        self.feeds = {s.name: s for s in settings.sources if s.enabled and s.kind == "feed"}
        self._discovered_at: dict[str, datetime] = {}
        self._lock = asyncio.Lock()  # one pass of subscribing at a time

    @property
    def enabled(self) -> bool:
        return bool(self.public_url)

    def callback(self, source: str) -> str:
        return f"{self.public_url}/push/websub/{quote(source, safe='')}"

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PATH, self.verify), web.post(PATH, self.deliver)]

    # -- subscribing -------------------------------------------------------------------------

    async def show_state(self) -> None:
        """The stored subscriptions into the ledger (``status`` shows them from the start)."""
        for row in await self.repo.all():
            self._show(row)

    async def renew_due(self, now: datetime | None = None) -> int:
        """The scheduler job: subscribe what has a hub but no live lease, renew leases four
        fifths through, retry requests the hub never verified; unsubscribe sources no longer
        configured. Returns how many requests were sent."""
        if not self.enabled or not self.lease.held:
            return 0
        now = now or self.clock()
        sent = 0
        async with self._lock:
            rows = {row.source: row for row in await self.repo.all()}
            for name, stale in rows.items():
                if name not in self.feeds and stale.state != "unsubscribing":
                    sent += await self._unsubscribe(stale)
            for name, source in self.feeds.items():
                row = rows.get(name)
                if row is not None and not self._due(row, now):
                    continue
                seen = self._discovered_at.get(name)
                if row is None and seen is not None and now - seen < REDISCOVER:
                    continue  # no hub the last time we looked
                sent += await self._subscribe(source, row, now)
        return sent

    def _due(self, row: WebSubRow, now: datetime) -> bool:
        if row.state == "verified" and row.expires_at is not None and row.verified_at is not None:
            return now >= row.verified_at + (row.expires_at - row.verified_at) * RENEW_AFTER
        if row.state == "requested":
            return now - row.requested_at >= RETRY_UNVERIFIED
        if row.state in ("failed", "denied"):
            return now - row.requested_at >= RETRY_FAILED
        return False

    async def _subscribe(self, source: SourceSettings, row: WebSubRow | None, now: datetime) -> int:
        found = await self._discover(source)
        self._discovered_at[source.name] = now
        if found is None:
            if row is not None:  # the feed no longer names a hub: polling alone, as before
                await self.repo.remove(source.name)
                self.ledger.subscriptions.pop(source.name, None)
            return 0
        keep = row is not None and (row.hub, row.topic) == (found.hub, found.topic)
        # The same secret on a renewal: deliveries signed before the hub re-verifies still pass.
        secret = row.secret if row is not None and keep else secrets.token_hex(32)
        await self.repo.requested(source.name, found.hub, found.topic, secret, self.lease_seconds)
        self._show(await self.repo.get(source.name))
        error = await self._ask_hub(
            found.hub,
            {
                "hub.mode": "subscribe",
                "hub.topic": found.topic,
                "hub.callback": self.callback(source.name),
                "hub.secret": secret,
                "hub.lease_seconds": str(self.lease_seconds),
            },
        )
        if error is not None:
            await self.repo.set_state(source.name, "failed", error)
            log.warning("websub: %s: subscribing at %s failed: %s", source.name, found.hub, error)
        else:
            log.info("websub: %s: asked %s for %s", source.name, found.hub, found.topic)
        self._show(await self.repo.get(source.name))
        return 1

    async def _unsubscribe(self, row: WebSubRow) -> int:
        await self.repo.set_state(row.source, "unsubscribing")
        error = await self._ask_hub(
            row.hub,
            {
                "hub.mode": "unsubscribe",
                "hub.topic": row.topic,
                "hub.callback": self.callback(row.source),
            },
        )
        if error is not None:  # the lease runs out on its own
            await self.repo.remove(row.source)
        self.ledger.subscriptions.pop(row.source, None)
        return 1

    async def _discover(self, source: SourceSettings) -> Discovered | None:
        ingest = self.settings.ingest
        try:
            answer = await fetch(
                self.client,
                source.url,
                deadline=ingest.timeout,
                max_bytes=max(ingest.max_bytes, DISCOVERY_BYTES),
            )
        except SourceError as exc:
            log.info("websub: %s: could not look for a hub: %s", source.name, exc)
            return None
        return discover(answer.url, answer.headers, answer.body)

    async def _ask_hub(self, hub: str, form: dict[str, str]) -> str | None:
        """POST the request to the hub; None when it took it (202 or 204), else why not."""
        try:
            answer = await self.client.post(hub, data=form, timeout=HUB_TIMEOUT)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if answer.status_code in (200, 202, 204):
            return None
        return f"HTTP {answer.status_code}: {answer.text[:200]}"

    def _show(self, row: WebSubRow | None) -> None:
        if row is not None:
            self.ledger.subscription(
                Subscription(row.source, row.hub, row.state, row.expires_at, row.last_error)
            )

    # -- the callback ------------------------------------------------------------------------

    async def verify(self, request: web.Request) -> web.Response:
        """The hub's intent verification (or its denial)."""
        name = request.match_info["source"]
        query = request.query
        mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
        challenge = query.get("hub.challenge", "")
        row = await self.repo.get(name) if name in self.feeds or mode == "unsubscribe" else None
        if row is None or topic != row.topic:
            log.warning("websub: refused a %s verification for %s (not asked for)", mode, name)
            return web.Response(status=404, text="no such subscription")
        if mode == "denied":
            await self.repo.set_state(name, "denied", query.get("hub.reason", "denied"))
            log.warning("websub: %s: the hub denied the subscription", name)
            self._show(await self.repo.get(name))
            return web.Response(status=200)
        wanted = {"subscribe": ("requested", "verified"), "unsubscribe": ("unsubscribing",)}
        if row.state not in wanted.get(mode, ()) or not 0 < len(challenge) <= MAX_CHALLENGE:
            log.warning("websub: refused a %s verification for %s (%s)", mode, name, row.state)
            return web.Response(status=404, text="not asked for")
        if mode == "unsubscribe":
            await self.repo.remove(name)
            log.info("websub: %s: unsubscribed", name)
        else:
            try:
                lease = int(query.get("hub.lease_seconds", ""))
            except ValueError:
                lease = row.lease_seconds
            expires = await self.repo.verified(name, max(lease, 1))
            log.info("websub: %s: subscribed, lease until %s", name, expires.isoformat())
            self._show(await self.repo.get(name))
        return web.Response(status=200, text=challenge, content_type="text/plain")

    async def deliver(self, request: web.Request) -> web.Response:
        """A delivery: signed by the subscription's secret, it polls the source now."""
        name = request.match_info["source"]
        row = await self.repo.get(name) if name in self.feeds else None
        if row is None or row.state not in ("verified", "requested"):
            return web.Response(status=404, text="no such subscription")
        limit = self.settings.ingest.max_bytes
        if request.content_length is not None and request.content_length > limit:
            return web.Response(status=413, text="too large")
        body = bytearray()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while chunk := await request.content.read(65536):
                body += chunk
                if len(body) > limit:
                    return web.Response(status=413, text="too large")
        signature = request.headers.get("X-Hub-Signature")
        if not check_hub_signature(row.secret, signature, bytes(body)):
            self.ledger.count("websub_bad_signature")
            log.warning("websub: %s: dropped a delivery with a bad X-Hub-Signature", name)
            return web.Response(status=202)
        self.ledger.count("websub_delivery")
        await self.repo.delivered(name)
        self.queue.offer(Job(JobKind.POLL, name, event="websub"))
        log.info("websub: %s: delivery received, polling now", name)
        return web.Response(status=202)
