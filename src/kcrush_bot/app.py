"""The composition root: builds the store, the command service, the platforms and the publisher.

``build`` makes the whole graph from settings, wired once, in dependency order: the store;
the publisher's doorbell and digest calendar (what the command service may ask of the
publisher, made before either); the command service; the platforms, which take commands to
the service; the publisher, which sends through the platforms. Tests pass their own store,
platforms or clock into the same function. Nothing is built at import time, and nothing is
patched in after construction. ``run`` is the whole bot in one event loop: the graph from
``build``, every platform connected and the publisher running, until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kcrush_bot import __version__
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.models import SAMPLE_SOURCE
from kcrush_bot.core.permissions import Moderators
from kcrush_bot.core.ports import SOLE, Lease, LeasedIntake, Metrics, Platform, ShardedIntake
from kcrush_bot.publisher import Publisher
from kcrush_bot.publisher.digests import DigestCalendar
from kcrush_bot.publisher.doorbell import Doorbell
from kcrush_bot.push import PushLedger
from kcrush_bot.settings import Settings, parse_listen
from kcrush_bot.storage import Store
from kcrush_bot.storage.urls import is_postgres_url

if TYPE_CHECKING:
    from kcrush_bot.push.endpoints import PushEndpoints
    from kcrush_bot.replicas import Replica
    from kcrush_bot.replicas_shards import ShardLeases
    from kcrush_bot.web import HttpServer, PrometheusMetrics

log = logging.getLogger(__name__)

# The platforms ``build`` is given: ready adapters, or a function making them for the service.
Platforms = Mapping[str, Platform] | Callable[[CommandService], Mapping[str, Platform]]


@dataclass(frozen=True, slots=True)
class App:
    """The wired graph. Nothing in it is connected yet: ``run`` enters the platforms and the
    publisher; the command line uses the store and the service as they are."""

    settings: Settings
    store: Store
    service: CommandService
    platforms: Mapping[str, Platform]
    publisher: Publisher
    metrics: Metrics = NO_METRICS
    push: PushLedger = field(default_factory=PushLedger)
    # This process as one of several replicas on a PostgreSQL database (``run`` only).
    replica: Replica | None = None
    # This replica's Discord gateway shards, when replicas share them (``run`` only).
    shards: ShardLeases | None = None


def core_config(settings: Settings) -> CoreConfig:
    return CoreConfig(
        version=__version__,
        default_category=settings.bot.default_category,
        timezone=settings.bot.timezone,
        digest_time=settings.bot.digest_time,
        digest_max_items=settings.digest.max_items,
        moderators=Moderators(
            telegram_users=frozenset(settings.telegram.moderators),
            discord_users=frozenset(settings.discord.moderators),
            discord_roles=frozenset(settings.discord.moderator_roles),
        ),
        sources=frozenset(source.name for source in settings.sources),
    )


async def prepare_store(store: Store, settings: Settings) -> int:
    """Make the taxonomy known and, on an empty database, load the bundled sample archive.

    Returns how many sample posts were loaded. They are archived silently: never pushed; they
    sort after every real post and leave the archive when a real source is first read.
    """
    await store.posts.sync_categories(settings.categories)
    if not settings.bot.sample_archive or await store.posts.count():
        return 0
    from kcrush_bot.sample import load_sample_posts

    # The archive lists each page newest first and has no dates: store it in reverse so the
    # newest post gets the highest id, which is how undated posts sort.
    posts = load_sample_posts()[::-1]
    result = await store.posts.upsert(posts, source=SAMPLE_SOURCE, pushable=False)
    log.info("loaded %d posts from the bundled sample archive", len(result.new))
    return len(result.new)


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    store: Store | None = None,
    platforms: Platforms | None = None,
    clock: Callable[[], datetime] | None = None,
    metrics: Metrics = NO_METRICS,
    console: bool = False,
    publisher_options: Mapping[str, Any] | None = None,
    replicas: bool = False,
) -> AsyncIterator[App]:
    """The whole graph, wired: see the module docstring.

    ``store`` is opened from ``settings`` when not given (and prepared either way);
    ``platforms`` defaults to every platform whose token is set (``platforms_for``), ``{}``
    gives none (command-line verbs that send nothing); ``publisher_options`` are the
    publisher's tuning arguments (tests shorten its waits). ``replicas`` (``run``): on
    PostgreSQL this process is one replica of several, its singleton duties under the lease.
    """
    async with AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(Store.open(settings.database_path, clock=clock))
        await prepare_store(store, settings)
        doorbell = Doorbell()
        calendar = DigestCalendar(clock)
        push = PushLedger(metrics)
        service = CommandService(
            store,
            default_registry(),
            core_config(settings),
            clock=clock,
            notifier=doorbell,
            schedules=calendar,
            metrics=metrics,
            push=push,
        )
        if platforms is None:
            made = platforms_for(settings, service, console=console)
        elif callable(platforms):
            made = dict(platforms(service))
        else:
            made = dict(platforms)
        replica = _replica_of(store) if replicas else None
        shards = _shard_leases(store, replica, made) if replica is not None else None
        lease: Lease = replica if replica is not None else SOLE
        publisher = Publisher(
            store,
            settings,
            made,
            service=service,
            doorbell=doorbell,
            calendar=calendar,
            clock=clock,
            metrics=metrics,
            lease=lease,
            **(publisher_options or {}),
        )
        if replica is not None:
            for name, pacer in publisher.pacers.items():
                replica.pace(name, pacer)
            replica.deliver_with(publisher.worker)
            replica.follow(publisher)
            for platform in made.values():
                if isinstance(platform, LeasedIntake):
                    platform.follow_lease(replica)
                    replica.follow(platform)
        yield App(settings, store, service, made, publisher, metrics, push, replica, shards)


def _replica_of(store: Store) -> Replica | None:
    """A replica of several when the store is PostgreSQL (SQLite has one process: SOLE)."""
    repository = getattr(store, "replicas", None)
    if repository is None:
        return None
    from kcrush_bot.replicas import Replica

    return Replica(repository)


def _shard_leases(
    store: Store, replica: Replica, platforms: Mapping[str, Platform]
) -> ShardLeases | None:
    """The replicas share a sharded platform's gateway (Discord's) through shard leases."""
    repository = getattr(store, "shards", None)
    if repository is None:
        return None
    for platform in platforms.values():
        if isinstance(platform, ShardedIntake) and platform.shard_count > 0:
            from kcrush_bot.replicas_shards import ShardLeases

            platform.share_shards()
            return ShardLeases(repository, replica.id, platform)
    return None


def platforms_for(
    settings: Settings, service: CommandService, *, console: bool = False
) -> dict[str, Platform]:
    """Every platform whose token is set, and the console when asked or when none is."""
    platforms: dict[str, Platform] = {}
    if settings.telegram.token:
        from kcrush_bot.platforms.telegram import TelegramPlatform

        platforms["telegram"] = TelegramPlatform(settings.telegram, service)
    if settings.discord.token:
        from kcrush_bot.platforms.discord import DiscordPlatform

        platforms["discord"] = DiscordPlatform(settings.discord, service)
    if console or not platforms:
        from kcrush_bot.platforms.console import ConsolePlatform

        platforms["console"] = ConsolePlatform(
            service, shared_database=is_postgres_url(settings.database_path)
        )
    return platforms


async def run(
    settings: Settings,
    *,
    console: bool = False,
    platforms: Platforms | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """The bot: store, scheduler, platforms, until SIGINT or SIGTERM (or the console's exit).

    Shutdown goes: stop taking commands on every platform, let the publisher finish the sends
    in flight (a few seconds at most), then disconnect the platforms and close the store.
    ``platforms`` and ``stop`` let tests supply their own.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    listen = parse_listen(settings.http.listen)
    metrics = None
    if listen is not None:
        from kcrush_bot.web import PrometheusMetrics

        metrics = PrometheusMetrics()
    async with (
        build(
            settings,
            platforms=platforms,
            console=console,
            metrics=metrics or NO_METRICS,
            replicas=True,
        ) as app,
        AsyncExitStack() as stack,
    ):
        if app.replica is not None:
            # First: whether this replica holds the lease decides what the others start.
            await stack.enter_async_context(app.replica)
        for name, platform in app.platforms.items():
            await stack.enter_async_context(platform)
            log.info("%s connected", name)
        await stack.enter_async_context(app.publisher)
        if listen is not None and metrics is not None:
            await stack.enter_async_context(serve_http(app, listen, metrics))
        if app.shards is not None:
            # Entered last, so left first after intake stops: the shards move on at once,
            # while the publisher still drains.
            await stack.enter_async_context(app.shards)
        # Unwound first on the way out: intake stops before the publisher drains.
        stack.push_async_callback(_stop_receiving, app.platforms)
        log.info("kcrush-bot %s running: %s", __version__, ", ".join(app.platforms))
        waiters = [asyncio.create_task(stop.wait())]
        console_platform = app.platforms.get("console")
        if console_platform is not None:
            waiters.append(asyncio.create_task(console_platform.finished()))  # type: ignore[attr-defined]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        log.info("shutting down: finishing sends in flight")
    log.info("stopped")


@asynccontextmanager
async def serve_http(
    app: App, listen: tuple[str, int], metrics: PrometheusMetrics
) -> AsyncIterator[tuple[HttpServer, PushEndpoints]]:
    """The HTTP server of a running app (its publisher entered): ``/healthz``, ``/metrics`` and
    push's routes. On the way out the server stops taking requests before push's workers stop.
    """
    from kcrush_bot.push.endpoints import PushEndpoints
    from kcrush_bot.web import bot_server

    replica = app.replica
    server = bot_server(
        listen,
        app.store,
        app.platforms,
        metrics,
        push=app.push.snapshot,
        replica=_describe(replica, app.shards) if replica is not None else None,
    )
    if replica is not None:
        from kcrush_bot.replicas import replica_collector

        metrics.registry.register(replica_collector(replica))
    if app.shards is not None:
        from kcrush_bot.replicas_shards import shard_collector

        metrics.registry.register(shard_collector(app.shards))
    endpoints = PushEndpoints(
        app.settings, app.store.websub, app.publisher, app.push, lease=app.publisher.lease
    )
    async with endpoints as push:
        server.add_routes(push.routes())  # before the server starts: aiohttp freezes routes
        async with server:
            push.start_websub(app.publisher.scheduler)  # hubs call back: the server listens now
            yield server, push


def _describe(replica: Replica, shards: ShardLeases | None) -> Callable[[], dict[str, Any]]:
    """This replica as ``/healthz`` shows it: the lease, and the shards it holds."""
    if shards is None:
        return replica.describe
    return lambda: {**replica.describe(), **shards.describe()}


async def _stop_receiving(platforms: Mapping[str, Platform]) -> None:
    """Every platform at once: each waits (bounded) for the commands it has in hand."""

    async def stop(name: str, platform: Platform) -> None:
        try:
            await platform.stop_receiving()
        except Exception:
            log.exception("%s: stopping intake failed", name)

    await asyncio.gather(*(stop(name, platform) for name, platform in platforms.items()))
