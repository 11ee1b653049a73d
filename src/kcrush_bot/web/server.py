"""The HTTP server: an aiohttp application on the bot's event loop, entered with ``async with``.

Routes are added before it starts (aiohttp freezes the router then): ``bot_server`` adds
``/healthz`` and ``/metrics``; the push receiver adds its own through ``add_routes``. Binding
fails loudly (a ``ConfigError`` naming ``http.listen``): a bot whose health endpoint is
silently missing would look dead to its supervisor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from kcrush_bot.core.errors import ConfigError
from kcrush_bot.storage.store import Store
from kcrush_bot.web.health import Health
from kcrush_bot.web.metrics import BacklogReader, PrometheusMetrics

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 2.0  # a scraper's open keep-alive connection must not hold the bot's exit


class HttpServer:
    """``async with HttpServer(host, port)`` listens; leaving closes. Port 0 picks a free one
    (``port`` then says which)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.app = web.Application()
        self._runner: web.AppRunner | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """More routes (``web.get(...)``, ``web.post(...)``), before the server starts."""
        if self._runner is not None:
            raise RuntimeError("routes are added before the HTTP server starts")
        self.app.add_routes(list(routes))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> HttpServer:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"http.listen: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("http: listening on %s", self.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


def status_routes(
    health: Health, metrics: PrometheusMetrics, read_backlog: BacklogReader
) -> list[web.RouteDef]:
    """``/healthz`` (200 or 503, JSON) and ``/metrics`` (Prometheus text)."""

    async def healthz(request: web.Request) -> web.Response:
        healthy, body = await health.check()
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics_text(request: web.Request) -> web.Response:
        body = await metrics.render(read_backlog)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/healthz", healthz), web.get("/metrics", metrics_text)]


def bot_server(
    listen: tuple[str, int],
    store: Store,
    platforms: Mapping[str, object],
    metrics: PrometheusMetrics,
    *,
    push: Callable[[], dict[str, Any]] | None = None,
    replica: Callable[[], dict[str, Any]] | None = None,
) -> HttpServer:
    """The bot's server with its status routes; add more with ``add_routes`` before entering.
    ``push`` gives the push receiver's state for ``/healthz``."""
    read_backlog = store.outbox.backlog
    metrics.outbox.platforms = sorted(platforms)
    server = HttpServer(*listen)
    health = Health(read_backlog, platforms, push=push, replica=replica)
    server.add_routes(status_routes(health, metrics, read_backlog))
    return server
