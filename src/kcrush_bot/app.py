"""The composition root: builds the store, the command service, the platforms and the publisher.

``build`` makes everything from settings; tests pass their own store, platforms or clock in.
Nothing is built at import time. ``run`` is the whole bot in one event loop: the store, the
scheduler, every platform whose token is set (the console when none is), until SIGINT/SIGTERM.
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
from typing import TYPE_CHECKING

from kcrush_bot import __version__
from kcrush_bot.core.commands import CommandService, CoreConfig, default_registry
from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.permissions import Moderators
from kcrush_bot.core.ports import Metrics, Notifier, Platform
from kcrush_bot.settings import Settings, parse_listen
from kcrush_bot.storage import Store

if TYPE_CHECKING:
    from kcrush_bot.publisher import Publisher

log = logging.getLogger(__name__)


class _LateNotifier:
    """Lets the command service wake the publisher, which is built after the service."""

    def __init__(self) -> None:
        self.target: Notifier | None = None

    def wake(self) -> None:
        if self.target is not None:
            self.target.wake()


@dataclass
class App:
    settings: Settings
    store: Store
    service: CommandService
    platforms: dict[str, Platform] = field(default_factory=dict)
    notifier: _LateNotifier = field(default_factory=_LateNotifier)
    metrics: Metrics = NO_METRICS


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
    )


async def prepare_store(store: Store, settings: Settings) -> int:
    """Make the taxonomy known and, on an empty database, load the bundled sample archive.

    Returns how many sample posts were loaded. They are archived silently: never pushed.
    """
    await store.posts.sync_categories(settings.categories)
    if not settings.bot.sample_archive or await store.posts.count():
        return 0
    from kcrush_bot.sample import load_sample_posts

    # The archive lists each page newest first and has no dates: store it in reverse so the
    # newest post gets the highest id, which is how undated posts sort.
    posts = load_sample_posts()[::-1]
    result = await store.posts.upsert(posts, source="sample", pushable=False)
    log.info("loaded %d posts from the bundled sample archive", len(result.new))
    return len(result.new)


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Callable[[], datetime] | None = None,
    metrics: Metrics = NO_METRICS,
) -> AsyncIterator[App]:
    """The store (opened and prepared) and the command service; platforms are added by ``run``."""
    async with AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(Store.open(settings.database_path, clock=clock))
        await prepare_store(store, settings)
        notifier = _LateNotifier()
        service = CommandService(
            store,
            default_registry(),
            core_config(settings),
            clock=clock,
            notifier=notifier,
            metrics=metrics,
        )
        yield App(settings, store, service, notifier=notifier, metrics=metrics)


def platforms_for(app: App, *, console: bool) -> dict[str, Platform]:
    """Every platform whose token is set, and the console when asked or when none is."""
    settings = app.settings
    platforms: dict[str, Platform] = {}
    if settings.telegram.token:
        from kcrush_bot.platforms.telegram import TelegramPlatform

        platforms["telegram"] = TelegramPlatform(settings.telegram, app.service)
    if settings.discord.token:
        from kcrush_bot.platforms.discord import DiscordPlatform

        platforms["discord"] = DiscordPlatform(settings.discord, app.service)
    if console or not platforms:
        from kcrush_bot.platforms.console import ConsolePlatform

        platforms["console"] = ConsolePlatform(app.service)
    return platforms


def build_publisher(
    app: App, platforms: Mapping[str, Platform], clock: Callable[[], datetime] | None = None
) -> Publisher:
    from kcrush_bot.publisher import Publisher

    publisher = Publisher(
        app.store, app.settings, platforms, service=app.service, clock=clock, metrics=app.metrics
    )
    app.notifier.target = publisher
    app.service.schedules = publisher
    return publisher


async def run(
    settings: Settings,
    *,
    console: bool = False,
    platforms: dict[str, Platform] | None = None,
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
    async with build(settings, metrics=metrics or NO_METRICS) as app:
        platforms = platforms if platforms is not None else platforms_for(app, console=console)
        app.platforms = platforms
        publisher = build_publisher(app, platforms)
        async with AsyncExitStack() as stack:
            for name, platform in platforms.items():
                await stack.enter_async_context(platform)
                log.info("%s connected", name)
            await stack.enter_async_context(publisher)
            if listen is not None and metrics is not None:
                from kcrush_bot.web import bot_server

                await stack.enter_async_context(bot_server(listen, app.store, platforms, metrics))
            # Unwound first on the way out: intake stops before the publisher drains.
            stack.push_async_callback(_stop_receiving, platforms)
            log.info("kcrush-bot %s running: %s", __version__, ", ".join(platforms))
            waiters = [asyncio.create_task(stop.wait())]
            console_platform = platforms.get("console")
            if console_platform is not None:
                waiters.append(asyncio.create_task(console_platform.finished()))  # type: ignore[attr-defined]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            log.info("shutting down: finishing sends in flight")
    log.info("stopped")


async def _stop_receiving(platforms: Mapping[str, Platform]) -> None:
    for name, platform in platforms.items():
        try:
            await platform.stop_receiving()
        except Exception:
            log.exception("%s: stopping intake failed", name)
