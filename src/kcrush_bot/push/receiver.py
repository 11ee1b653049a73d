"""``POST /push/wordpress``: the plugin's notices, answered at once, their work done after.

The answer, in the order the checks run:

* 503 when ``KCRUSH_PUSH_SECRET`` is not set (nothing can be verified);
* 413 for a body over 64 KB, by its ``Content-Length`` or, without one, as soon as reading
  passes the cap (the rest is never read);
* 401 for a missing or malformed ``X-KCrush-Timestamp`` / ``X-KCrush-Signature``, a wrong
  signature, a timestamp more than five minutes from the bot's clock, or a notice already taken
  (a replay);
* 400 for a body that is not a notice (not JSON, a missing or wrong field);
* 422 for a notice about a site the bot does not read: the settings page's test button then
  says so, where a silent 202 would hide the misconfiguration;
* 202 otherwise, before any work: the job goes into the bounded queue (``notices.JobQueue``)
  and a worker does it after answering. WordPress hangs up without reading the answer on some
  hosts, so nothing after the answer depends on the client still being there.

The work: a notice is a hint, never content. The bot reads that one post from the ``wordpress``
source's REST API (``/wp-json/wp/v2/posts/<id>?_embed``) and ingests it exactly as a poll would
(``Ingestor.ingest_document``: same parser, cleaning, silent first sight, fan-out, then the
delivery worker woken; an edit reaches the messages already sent). 401, 403, 404 or 410 there,
or a post that is not public, means WordPress no longer shows it: the publisher withdraws it.
Without a ``wordpress`` source for the site, a notice polls the site's feed sources at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from aiohttp import web

from kcrush_bot.core.errors import SourceError
from kcrush_bot.push.ledger import PushLedger
from kcrush_bot.push.notices import (
    BadNotice,
    Job,
    JobKind,
    JobQueue,
    Notice,
    Offer,
    parse_notice,
)
from kcrush_bot.push.signing import Refusal, ReplayGuard, check_notice
from kcrush_bot.settings import Settings, SourceSettings
from kcrush_bot.sources.fetch import FetchStatusError, fetch
from kcrush_bot.sources.wordpress import api_root, is_public

log = logging.getLogger(__name__)

MAX_NOTICE_BYTES = 64 * 1024
PATH = "/push/wordpress"
WORKERS = 2
LOG_EVERY = 60.0  # seconds between two warnings about refused notices of one kind
# WordPress's answers for a post it does not show: 401 rest_forbidden (a draft, a private or a
# trashed post), 404 rest_post_invalid_id (deleted), 403 and 410 from hardened setups.
GONE = (401, 403, 404, 410)


class ReportLike(Protocol):
    """What the publisher returns for an ingest (``sources.ingest.SourceReport``)."""

    @property
    def error(self) -> str | None: ...

    @property
    def new(self) -> list[int]: ...


class PushTarget(Protocol):
    """What push asks of the publisher: ingest a document or poll a source now, then fan out
    and wake delivery, exactly as after a scheduled poll."""

    async def ingest_document(self, source: SourceSettings, body: bytes) -> ReportLike: ...

    async def poll_source(self, source: SourceSettings, *, force: bool = False) -> ReportLike: ...

    async def withdraw(self, *wp_ids: int) -> int:
        """WordPress no longer shows these posts: out of the archive's answers, their messages
        deleted or tombstoned as configured. Returns how many stored posts it withdrew."""
        ...


def site_key(url: str) -> str:
    """The host (and a port other than the scheme's default) a URL names, without ``www.``:
    ``https://www.kcrush.com`` and ``https://kcrush.com/wp-json`` are one site."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return ""
    if port is not None and (parts.scheme, port) not in (("http", 80), ("https", 443)):
        return f"{host}:{port}"
    return host


def single_post_url(source_url: str, post_id: int) -> str:
    return f"{api_root(source_url)}/wp/v2/posts/{post_id}?_embed=1"


def _answer(status: int, **body: Any) -> web.Response:
    return web.json_response(body, status=status)


class WordPressReceiver:
    """The route and the workers behind it. ``start()`` the workers inside the bot's loop;
    ``stop()`` ends them (jobs still waiting are left to the next scheduled poll)."""

    def __init__(
        self,
        settings: Settings,
        target: PushTarget,
        ledger: PushLedger,
        client: httpx.AsyncClient,
        *,
        queue: JobQueue | None = None,
        clock: Callable[[], float] = time.time,
        workers: int = WORKERS,
    ) -> None:
        self.settings = settings
        self.secret = settings.push.secret
        self.target = target
        self.ledger = ledger
        self.client = client
        self.queue = queue if queue is not None else JobQueue()
        self.clock = clock
        self.replays = ReplayGuard()
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0
        self._warned: dict[Refusal, tuple[float, int]] = {}  # when last logged, how many since
        sources = [s for s in settings.sources if s.enabled]
        self._sources = {s.name: s for s in sources}
        self._wordpress = [s for s in sources if s.kind == "wordpress"]
        self._feeds = [s for s in sources if s.kind in ("feed", "listing")]
        ledger.receiver = "on" if self.secret else "off: KCRUSH_PUSH_SECRET is not set"

    # -- the route ---------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        if not self.secret:
            self.ledger.count("disabled")
            return _answer(503, error="push is off: the bot has no KCRUSH_PUSH_SECRET")
        body = await self._read_body(request)
        if body is None:
            self.ledger.count("too_large")
            return _answer(413, error=f"a notice is at most {MAX_NOTICE_BYTES} bytes")
        timestamp = request.headers.get("X-KCrush-Timestamp")
        signature = request.headers.get("X-KCrush-Signature")
        now = self.clock()
        refusal = check_notice(self.secret, timestamp, signature, body, now)
        if refusal is None and not self.replays.first_time(
            str(signature), int(str(timestamp)), now
        ):
            refusal = Refusal.REPLAY
        if refusal is not None:
            self.ledger.count(refusal.value)
            self._warn(refusal, request.remote)
            return _answer(401, error=_REFUSALS[refusal])
        try:
            notice = parse_notice(body)
        except BadNotice as exc:
            self.ledger.count("bad_request")
            return _answer(400, error=str(exc))
        self.ledger.noticed(notice.event, notice.post_id, notice.site)
        if notice.is_test:
            self.ledger.count("test")
            return _answer(202, accepted=True, test=True)
        jobs = self.jobs_for(notice)
        if not jobs:
            self.ledger.count("other_site")
            return _answer(422, error=f"this bot reads no source of {notice.site}")
        offers = [self.queue.offer(job) for job in jobs]
        outcome = min(offers, key=_OFFER_ORDER.index)  # queued beats coalesced beats dropped
        self.ledger.count("accepted" if outcome is Offer.QUEUED else outcome.value)
        log.debug(
            "push: %s of post %d from %s: %s", notice.event, notice.post_id, notice.site, outcome
        )
        return _answer(202, accepted=True)

    def _warn(self, refusal: Refusal, remote: str | None) -> None:
        """A refused notice is worth a warning (a wrong secret, a clock off), but a flood of
        forgeries must not flood the log: one line per reason a minute, with the count."""
        now = time.monotonic()
        last, since = self._warned.get(refusal, (-LOG_EVERY, 0))
        if now - last < LOG_EVERY:
            self._warned[refusal] = (last, since + 1)
            return
        self._warned[refusal] = (now, 0)
        more = f" ({since} more since the last line)" if since else ""
        log.warning("push: refused a notice from %s: %s%s", remote, refusal.value, more)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None when it is over the cap (by its declared length, or as read)."""
        declared = request.content_length
        if declared is not None and declared > MAX_NOTICE_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while chunk := await request.content.read(MAX_NOTICE_BYTES + 1):
                size += len(chunk)
                if size > MAX_NOTICE_BYTES:
                    return None
                chunks.append(chunk)
        return b"".join(chunks)

    def jobs_for(self, notice: Notice) -> list[Job]:
        """The work a notice asks for: re-read the post from the site's ``wordpress`` source,
        or without one poll the site's feeds; none for a site the bot does not read."""
        site = site_key(notice.site)
        wordpress = [s for s in self._wordpress if site_key(s.url) == site]
        if wordpress:
            return [Job(JobKind.POST, wordpress[0].name, notice.post_id, notice.event)]
        magazine = site == site_key(f"https://{self.settings.bot.site_host}")
        feeds = [s for s in self._feeds if magazine or site_key(s.url) == site]
        return [Job(JobKind.POLL, s.name, event=notice.event) for s in feeds]

    # -- the workers -------------------------------------------------------------------------

    def start(self) -> None:
        for number in range(self.workers):
            self._tasks.append(asyncio.create_task(self._work(), name=f"push-worker-{number}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if len(self.queue):
            log.info("push: %d jobs left to the scheduled polls at shutdown", len(self.queue))

    async def idle(self) -> None:
        """Until nothing is queued or being done (tests and the bench wait on this)."""
        while len(self.queue) or self._busy:
            self._idle.clear()
            await self._idle.wait()

    async def _work(self) -> None:
        while True:
            job = await self.queue.take()
            self._busy += 1
            try:
                await self.run(job)
            except Exception:
                self.ledger.count("failed")
                log.exception("push: %s of %s failed", job.kind, job.source)
            finally:
                self._busy -= 1
                if not self._busy and not len(self.queue):
                    self._idle.set()

    async def run(self, job: Job) -> None:
        source = self._sources.get(job.source)
        if source is None:  # only configured sources are queued; defensive
            return
        if job.kind is JobKind.POLL:
            report = await self.target.poll_source(source, force=True)
            self.ledger.count("failed" if report.error else "polled")
            return
        await self.read_post(source, job.post_id)

    async def read_post(self, source: SourceSettings, post_id: int) -> None:
        """Re-read one post from WordPress and store it as a poll would."""
        ingest = self.settings.ingest
        try:
            answer = await fetch(
                self.client,
                single_post_url(source.url, post_id),
                deadline=ingest.timeout,
                max_bytes=ingest.max_bytes,
            )
        except FetchStatusError as exc:
            if exc.status in GONE:
                await self.post_gone(source, post_id)
                return
            self._failed(source, post_id, str(exc))
            return
        except SourceError as exc:
            self._failed(source, post_id, str(exc))
            return
        try:
            item = json.loads(answer.body)
        except (UnicodeDecodeError, ValueError):
            item = None
        if not isinstance(item, dict) or item.get("id") != post_id:
            code = item.get("code") if isinstance(item, dict) else None
            self._failed(source, post_id, f"not the post's JSON ({code or 'unexpected answer'})")
            return
        if not is_public(item):
            await self.post_gone(source, post_id)
            return
        # The answer itself, unchanged, as the one item of a posts page: what a poll reads.
        report = await self.target.ingest_document(source, b"[" + answer.body + b"]")
        if report.error:
            self._failed(source, post_id, report.error)
        else:
            self.ledger.count("stored")

    async def post_gone(self, source: SourceSettings, post_id: int) -> None:
        """WordPress no longer shows the post (unpublished, trashed, deleted, a password set):
        the publisher withdraws it (a post the bot never stored is nothing to withdraw)."""
        withdrawn = await self.target.withdraw(post_id)
        self.ledger.count("gone")
        log.info(
            "push: %s post %d is no longer public at WordPress: %s",
            source.name,
            post_id,
            "withdrawn" if withdrawn else "not in the archive",
        )

    def _failed(self, source: SourceSettings, post_id: int, reason: str) -> None:
        self.ledger.count("failed")
        log.warning(
            "push: could not read post %d from %s (the next poll will): %s",
            post_id,
            source.name,
            reason,
        )


_OFFER_ORDER: Sequence[Offer] = (Offer.QUEUED, Offer.COALESCED, Offer.DROPPED)
_REFUSALS = {
    Refusal.UNSIGNED: "X-KCrush-Timestamp and X-KCrush-Signature (sha256=<hex>) are required",
    Refusal.BAD_SIGNATURE: "the signature does not match: check KCRUSH_PUSH_SECRET",
    Refusal.STALE: "the timestamp is more than 5 minutes from the bot's clock",
    Refusal.REPLAY: "this notice was already received",
}
