"""The bot's HTTP server (``[http] listen``), in the bot's own event loop.

``server.HttpServer`` is the aiohttp application and its lifecycle; ``health`` answers
``/healthz``; ``metrics`` is the Prometheus side of the core's ``Metrics`` port and answers
``/metrics``. More routes (the push receiver) join through ``HttpServer.add_routes`` before
the server starts.
"""

from __future__ import annotations

from kcrush_bot.web.health import Health
from kcrush_bot.web.metrics import PrometheusMetrics
from kcrush_bot.web.server import HttpServer, bot_server

__all__ = ["Health", "HttpServer", "PrometheusMetrics", "bot_server"]
