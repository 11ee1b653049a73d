"""Push as the bot runs it: the WordPress receiver and WebSub over one queue and its workers.

``async with PushEndpoints(...) as push`` opens the HTTP client push reads WordPress and the hubs
with, and starts the workers; add ``push.routes()`` to the HTTP server before it starts; once
the server listens, ``push.start_websub(scheduler)`` subscribes in the background (a hub may
call back before it answers) and registers the lease renewal job. Leaving stops it all: the
server has stopped taking notices by then, and what is still queued is the next poll's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web

from kcrush_bot.core.ports import SOLE, Lease
from kcrush_bot.push.ledger import PushLedger
from kcrush_bot.push.notices import JobQueue
from kcrush_bot.push.receiver import PushTarget, WordPressReceiver
from kcrush_bot.push.websub import RENEW_CHECK_SECONDS, WebSub
from kcrush_bot.settings import Settings
from kcrush_bot.storage.websub import WebSubRepo

log = logging.getLogger(__name__)


class PushEndpoints:
    def __init__(
        self,
        settings: Settings,
        websub_repo: WebSubRepo,
        target: PushTarget,
        ledger: PushLedger,
        *,
        clock: Callable[[], datetime] | None = None,
        workers: int | None = None,
        lease: Lease = SOLE,
    ) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.ingest.timeout),
            headers={"User-Agent": settings.ingest.user_agent},
        )
        self.queue = JobQueue()
        options: dict[str, Any] = {} if workers is None else {"workers": workers}
        self.receiver = WordPressReceiver(
            settings, target, ledger, self.client, queue=self.queue, **options
        )
        self.websub = WebSub(
            settings, websub_repo, self.queue, ledger, self.client, clock=clock, lease=lease
        )
        self._subscribing: asyncio.Task[None] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [*self.receiver.routes(), *self.websub.routes()]

    async def __aenter__(self) -> PushEndpoints:
        self.receiver.start()
        await self.websub.show_state()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._subscribing is not None:
            self._subscribing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._subscribing
        await self.receiver.stop()
        await self.client.aclose()

    def start_websub(self, scheduler: Any | None) -> None:
        """Subscribe now, in the background, and renew every minute on ``scheduler`` (the
        publisher's APScheduler) when there is one."""
        if not self.websub.enabled:
            return
        self._subscribing = asyncio.create_task(self._first_pass(), name="websub-subscribe")
        if scheduler is not None:
            from apscheduler.triggers.interval import IntervalTrigger

            scheduler.add_job(
                self.websub.renew_due,
                IntervalTrigger(seconds=RENEW_CHECK_SECONDS),
                id="websub:renew",
                name="renew WebSub leases",
                replace_existing=True,
                coalesce=True,
                max_instances=1,
            )

    async def _first_pass(self) -> None:
        try:
            await self.websub.renew_due()
        except Exception:
            log.exception("websub: subscribing failed")
