"""The HTTP server in-process: ``/healthz`` says what is down, ``/metrics`` is Prometheus text
from a registry of the app's own, routes can be added (the push receiver will be), and a port
that cannot be had is a configuration error, not a silently missing endpoint."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from kcrush_bot.core.errors import ConfigError
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage import Store
from kcrush_bot.storage.outbox import Backlog, NewRow
from kcrush_bot.web import HttpServer, PrometheusMetrics, bot_server
from kcrush_bot.web.health import Health

LOOPBACK = ("127.0.0.1", 0)


class Platform:
    """A platform that can be told it lost its connection (the ``HealthCheck`` port)."""

    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem

    def connection_problem(self) -> str | None:
        return self.problem


class NoHealthCheck:
    """A platform without the optional port: connected while it runs."""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def get(server: HttpServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        return await http.get(path)


async def test_healthz_is_200_while_the_store_answers_and_every_platform_is_connected(
    store: Store,
) -> None:
    telegram, discord = Platform(), Platform()
    platforms = {"telegram": telegram, "discord": discord, "console": NoHealthCheck()}
    async with bot_server(LOOPBACK, store, platforms, PrometheusMetrics()) as server:
        answer = await get(server, "/healthz")
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == "ok" and body["down"] == [] and body["store"] == "ok"
        assert body["platforms"] == {
            "telegram": "connected",
            "discord": "connected",
            "console": "connected",
        }

        discord.problem = "gateway disconnected"
        answer = await get(server, "/healthz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["status"] == "down" and body["down"] == ["discord"]
        assert body["platforms"]["discord"] == "gateway disconnected"
        assert body["platforms"]["telegram"] == "connected"


async def test_healthz_names_the_store_when_it_does_not_answer() -> None:
    async def broken() -> dict[str, Backlog]:
        raise OSError("disk I/O error")

    async def stuck() -> dict[str, Backlog]:
        await asyncio.Event().wait()
        return {}

    for read, why in ((broken, "disk I/O error"), (stuck, "no answer within")):
        healthy, body = await Health(read, {"telegram": Platform()}, timeout=0.05).check()
        assert not healthy and body["down"] == ["store"] and why in body["store"]


async def test_metrics_are_prometheus_text_with_the_outbox_read_at_each_scrape(
    store: Store,
) -> None:
    metrics = PrometheusMetrics()
    metrics.delivered("telegram", "sent")
    metrics.delivered("telegram", "sent")
    metrics.delivered("discord", "retry")
    metrics.rate_limited("telegram")
    metrics.polled("kcrush", True)
    metrics.polled("kcrush", False)
    metrics.push_notice("accepted")
    metrics.command_seconds("latest", 0.003)
    outbox = store.outbox
    await store.chats.subscribe(ChatRef.parse("telegram:1"), ["interviews"], Mode.INSTANT)
    queued = datetime.now(UTC) - timedelta(minutes=2)
    async with outbox.transaction() as db:
        await outbox.insert(db, [NewRow("post:1", "telegram:1", {}, "a")], queued)

    async with bot_server(
        LOOPBACK, store, {"telegram": Platform(), "discord": Platform()}, metrics
    ) as server:
        answer = await get(server, "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert found[("kcrush_deliveries_total", (("outcome", "sent"), ("platform", "telegram")))] == 2
    assert found[("kcrush_deliveries_total", (("outcome", "retry"), ("platform", "discord")))] == 1
    assert found[("kcrush_rate_limited_total", (("platform", "telegram"),))] == 1
    assert found[("kcrush_source_polls_total", (("source", "kcrush"),))] == 2
    assert found[("kcrush_source_poll_failures_total", (("source", "kcrush"),))] == 1
    assert found[("kcrush_push_notices_total", (("outcome", "accepted"),))] == 1
    assert found[("kcrush_command_seconds_count", (("command", "latest"),))] == 1
    assert found[("kcrush_outbox_pending", (("platform", "telegram"),))] == 1
    assert found[("kcrush_outbox_pending", (("platform", "discord"),))] == 0
    age = found[("kcrush_outbox_oldest_pending_seconds", (("platform", "telegram"),))]
    assert 110 <= age <= 3600
    assert found[("kcrush_outbox_oldest_pending_seconds", (("platform", "discord"),))] == 0
    assert all(name.startswith("kcrush_") for name, _ in found)


def test_two_apps_in_one_process_keep_their_own_counts() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.delivered("telegram", "sent")
    labels = {"platform": "telegram", "outcome": "sent"}
    assert first.registry.get_sample_value("kcrush_deliveries_total", labels) == 1
    assert second.registry.get_sample_value("kcrush_deliveries_total", labels) is None


async def test_routes_can_be_added_before_the_server_starts_and_not_after(store: Store) -> None:
    server = bot_server(LOOPBACK, store, {}, PrometheusMetrics())

    async def notice(request: web.Request) -> web.Response:
        return web.json_response({"accepted": request.match_info["source"]}, status=202)

    server.add_routes([web.post("/push/websub/{source}", notice)])
    async with server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post("/push/websub/kcrush")
        assert (answer.status_code, answer.json()) == (202, {"accepted": "kcrush"})
        assert (await get(server, "/healthz")).status_code == 200
        with pytest.raises(RuntimeError):
            server.add_routes([web.get("/late", notice)])


async def test_a_port_in_use_is_a_configuration_error_naming_the_setting() -> None:
    async with HttpServer(*LOOPBACK) as taken:
        with pytest.raises(ConfigError, match=r"http\.listen: cannot listen on 127\.0\.0\.1"):
            async with HttpServer("127.0.0.1", taken.port):
                pass
