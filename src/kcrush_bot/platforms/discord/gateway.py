"""Discord's gateway, shard by shard: one discord.py ``Client(shard_id=n, shard_count=N)`` per
shard this process holds, and the pacing of their IDENTIFYs.

Discord splits a bot's servers among its gateway sessions: a server's events and interactions
go to shard ``(guild_id >> 22) % shard_count`` (direct messages to shard 0). Alone on SQLite the
bot holds every shard; replicas on one PostgreSQL database share them out
(``kcrush_bot.replicas_shards``), so the set a process holds changes while it runs: a shard is
taken over from a dead replica, or handed to one that just started.

Why a ``Client`` per shard rather than one ``AutoShardedClient(shard_ids=…)``: the sharded
client's set of shards is fixed when it is made. Its connection state waits for the READY of
every listed shard and it has no way to drop one, so a change of set means closing it, which
closes every session it holds, and its HTTP session too, and identifying all of them again (a
bot may identify once per 5 seconds per bucket, and 1,000 times a day). With a ``Client`` per
shard, taking shard 1 leaves shard 0's session as it was and dropping a shard closes that
session alone; each keeps discord.py's own reconnect and resume logic. Nothing is held twice:
with only the GUILDS intent a client's cache holds its own shard's servers, and deliveries go
through the platform's REST client, not through these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable

import aiohttp
import discord
from discord.backoff import ExponentialBackoff

log = logging.getLogger(__name__)

# Discord lets a bot IDENTIFY ``max_concurrency`` sessions per 5 seconds, one per bucket
# ``shard_id % max_concurrency``; it invalidates sessions identified faster.
IDENTIFY_SPACING = 5.0
CLOSE_TIMEOUT = 10.0


class IdentifyGate:
    """Spaces the IDENTIFYs of this process's sessions as Discord asks: within one bucket
    (``shard_id % max_concurrency``) at least ``spacing`` seconds apart. ``/gateway/bot`` says
    what ``max_concurrency`` is (``DiscordPlatform`` asks it at start)."""

    def __init__(
        self,
        max_concurrency: int = 1,
        *,
        spacing: float = IDENTIFY_SPACING,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self.spacing = spacing
        self._now = now
        self._sleep = sleep
        self._last: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def wait_turn(self, shard_id: int) -> None:
        """Return when ``shard_id`` may send its IDENTIFY (its bucket's turn is then taken)."""
        bucket = shard_id % self.max_concurrency
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            wait = self._last.get(bucket, -math.inf) + self.spacing - self._now()
            if wait > 0:
                log.debug(
                    "Discord shard %d identifies in %.1fs (bucket %d)", shard_id, wait, bucket
                )
                await self._sleep(wait)
            self._last[bucket] = self._now()


class ShardSession:
    """One shard's gateway session: its client logs in over REST, then connects (and
    reconnects, resumes) in a task of its own until ``stop``."""

    def __init__(
        self, shard: int, count: int, client: discord.Client, token: str, *, login_retry: float
    ) -> None:
        self.shard = shard
        self.count = count
        self.client = client
        self.token = token
        self.login_retry = login_retry
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.__aenter__()  # the client's loop-bound state, before anyone waits on it
        self._task = asyncio.create_task(self._run(), name=f"discord-shard-{self.shard}")

    async def _run(self) -> None:
        client = self.client
        backoff = ExponentialBackoff(base=1)
        while True:
            try:
                await client.login(self.token)
                break
            except asyncio.CancelledError:
                raise
            except discord.LoginFailure:
                log.error("Discord shard %d: the token was refused; not connecting", self.shard)
                return
            except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
                delay = min(backoff.delay(), self.login_retry)
                log.warning(
                    "Discord shard %d: logging in failed (%s); again in %.0fs",
                    self.shard,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
        try:
            # reconnect=True: discord.py resumes after network errors with its own back-off.
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A 4004 (token) or 4014 (intents) close ends it; sending over REST still works.
            log.exception(
                "Discord gateway (shard %d of %d) stopped; its servers' slash commands are not "
                "being received",
                self.shard,
                self.count,
            )

    async def stop(self) -> None:
        """Close the session; when this returns, no socket of this shard is open."""
        try:
            # The websocket closed with 1000 and the client's HTTP session with it.
            await asyncio.wait_for(self.client.close(), CLOSE_TIMEOUT)
        except Exception:
            log.warning("Discord shard %d did not close cleanly", self.shard, exc_info=True)
        task, self._task = self._task, None
        if task is not None:
            # Whatever it was doing (a login retry, waiting its turn to identify, reading the
            # closed socket) is over: the client is closed.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._stop_heartbeats()

    def _stop_heartbeats(self) -> None:
        """Stop the heartbeat threads of this client's websockets. discord.py stops one when
        it closes its socket, but not that of a socket stopped between HELLO and IDENTIFY
        (waiting its turn to identify): left running, it would beat into a loop long gone."""
        for thread in threading.enumerate():
            if (
                isinstance(thread, discord.gateway.KeepAliveHandler)
                and thread.ws._connection is self.client._connection
            ):
                thread.stop()

    def problem(self) -> str | None:
        """None while the session is up; otherwise why its servers' commands are not arriving."""
        if self._task is None or self._task.done():
            return "gateway stopped"
        ws = self.client.ws
        if ws is None or not ws.open or not self.client.is_ready():
            # discord.py reconnects on its own; until then its websocket is closed (or absent).
            return "gateway disconnected"
        return None

    async def wait_until_ready(self) -> None:
        await self.client.wait_until_ready()
