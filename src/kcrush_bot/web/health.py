"""``/healthz``: is the store answering, and is every platform the bot runs connected?

A platform says how its connection is through the core's ``HealthCheck`` port
(``connection_problem()``); one without it counts as connected while the bot runs it. The
store is asked for the outbox backlog (the same read ``/metrics`` makes) with a short
timeout, so a stuck database shows as down instead of hanging the probe. The body also shows
push's state (``push``: the receiver, its last notice, counts by outcome, WebSub leases).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kcrush_bot import __version__
from kcrush_bot.core.ports import HealthCheck
from kcrush_bot.web.metrics import BacklogReader

log = logging.getLogger(__name__)

STORE_TIMEOUT = 3.0  # seconds; well under a container health check's own timeout


class Health:
    """Answers ``check()`` with (healthy, the JSON body)."""

    def __init__(
        self,
        read_backlog: BacklogReader,
        platforms: Mapping[str, object],
        *,
        timeout: float = STORE_TIMEOUT,
        push: Callable[[], dict[str, Any]] | None = None,
        replica: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.read_backlog = read_backlog
        self.platforms = platforms
        self.timeout = timeout
        self.push = push
        self.replica = replica

    async def check(self) -> tuple[bool, dict[str, Any]]:
        down: list[str] = []
        body: dict[str, Any] = {"version": __version__}
        try:
            async with asyncio.timeout(self.timeout):
                backlog = await self.read_backlog()
        except TimeoutError:
            down.append("store")
            body["store"] = f"no answer within {self.timeout:g}s"
        except Exception as exc:
            log.warning("healthz: the store did not answer: %s", exc)
            down.append("store")
            body["store"] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            now = datetime.now(UTC)
            body["store"] = "ok"
            body["outbox"] = {
                name: {
                    "pending": b.pending,
                    "oldest_seconds": round((now - b.oldest_created_at).total_seconds(), 1)
                    if b.oldest_created_at
                    else None,
                }
                for name, b in sorted(backlog.items())
            }
        platforms: dict[str, str] = {}
        for name, platform in self.platforms.items():
            problem = platform.connection_problem() if isinstance(platform, HealthCheck) else None
            platforms[name] = problem or "connected"
            if problem:
                down.append(name)
        body["platforms"] = platforms
        if self.push is not None:
            # Informative: a quiet receiver or a lapsed WebSub lease leaves polling to do the
            # job, so neither makes the bot unhealthy.
            body["push"] = self.push()
        if self.replica is not None:
            # One of several replicas: which, whether it holds the lease, how many are alive.
            body["replica"] = self.replica()
        body["status"] = "down" if down else "ok"
        body["down"] = down
        return not down, body
