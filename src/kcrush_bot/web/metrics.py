"""Prometheus metrics: the core's ``Metrics`` port on a registry of the app's own.

Every ``PrometheusMetrics`` has its own ``CollectorRegistry``, never the library's global
one, so tests and several apps in one process do not collide. Names are prefixed
``kcrush_``:

* ``kcrush_deliveries_total{platform, outcome}``: each send's outcome (sent, retry, failed,
  unreachable, moved);
* ``kcrush_rate_limited_total{platform}``: 429 answers;
* ``kcrush_outbox_pending{platform}`` and ``kcrush_outbox_oldest_pending_seconds{platform}``:
  read from the store at each scrape;
* ``kcrush_source_polls_total{source}`` and ``kcrush_source_poll_failures_total{source}``;
* ``kcrush_push_notices_total{outcome}``;
* ``kcrush_command_seconds{command}``: a histogram of command latency;
* ``kcrush_build_info{version}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kcrush_bot import __version__
from kcrush_bot.storage.outbox import Backlog

# Commands answer from the local store: most in milliseconds, a slow one in a second or two.
COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

log = logging.getLogger(__name__)

BacklogReader = Callable[[], Awaitable[Mapping[str, Backlog]]]


class OutboxCollector(Collector):
    """The outbox's backlog per platform, as read by the last ``refresh`` (each scrape).

    prometheus-client collects synchronously and the store is asynchronous, so the
    ``/metrics`` handler awaits ``refresh`` and then renders.
    """

    def __init__(self, platforms: Sequence[str] = ()) -> None:
        self.platforms = list(platforms)
        self._backlog: Mapping[str, Backlog] | None = {}
        self._read_at = datetime.now(UTC)

    async def refresh(self, read: BacklogReader, now: datetime | None = None) -> None:
        try:
            self._backlog = await read()
        except Exception as exc:
            # Counters are still worth a scrape; the backlog gauges are left out, not faked.
            log.warning("metrics: could not read the outbox backlog: %s", exc)
            self._backlog = None
        self._read_at = now or datetime.now(UTC)

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        return self._families(with_samples=True)

    def _families(self, with_samples: bool = False) -> list[Metric]:
        pending = GaugeMetricFamily(
            "kcrush_outbox_pending",
            "Messages still to send (pending or in flight), by platform.",
            labels=["platform"],
        )
        oldest = GaugeMetricFamily(
            "kcrush_outbox_oldest_pending_seconds",
            "Age of the oldest message still to send, by platform (0 when none).",
            labels=["platform"],
        )
        if with_samples and self._backlog is not None:
            # Every platform the bot runs is listed, at 0 when nothing waits, so an alert on
            # the age never sees a series vanish just as the backlog clears.
            for platform in sorted({*self.platforms, *self._backlog}):
                backlog = self._backlog.get(platform, Backlog(0, None))
                pending.add_metric([platform], backlog.pending)
                age = 0.0
                if backlog.oldest_created_at is not None:
                    age = max((self._read_at - backlog.oldest_created_at).total_seconds(), 0.0)
                oldest.add_metric([platform], age)
        return [pending, oldest]


class PrometheusMetrics:
    """Implements ``core.ports.Metrics``; ``render`` is the ``/metrics`` body."""

    def __init__(self, platforms: Sequence[str] = ()) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.deliveries = Counter(
            "kcrush_deliveries",
            "Sends to chats by platform and outcome (sent, retry, failed, unreachable, moved).",
            ["platform", "outcome"],
            registry=registry,
        )
        self.rate_limits = Counter(
            "kcrush_rate_limited",
            "Sends the platform answered with 429 (too many requests).",
            ["platform"],
            registry=registry,
        )
        self.polls = Counter(
            "kcrush_source_polls",
            "Polls of a source, good or failed.",
            ["source"],
            registry=registry,
        )
        self.poll_failures = Counter(
            "kcrush_source_poll_failures",
            "Polls of a source that failed.",
            ["source"],
            registry=registry,
        )
        self.push_notices = Counter(
            "kcrush_push_notices",
            "Push notices received, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.commands = Histogram(
            "kcrush_command_seconds",
            "Time to answer a chat command, by command.",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=registry,
        )
        Info("kcrush_build", "The running version.", registry=registry).info(
            {"version": __version__}
        )
        self.outbox = OutboxCollector(platforms)
        registry.register(self.outbox)

    # -- the Metrics port ----------------------------------------------------------------------

    def delivered(self, platform: str, outcome: str) -> None:
        self.deliveries.labels(platform, outcome).inc()

    def rate_limited(self, platform: str) -> None:
        self.rate_limits.labels(platform).inc()

    def polled(self, source: str, ok: bool) -> None:
        self.polls.labels(source).inc()
        if not ok:
            self.poll_failures.labels(source).inc()

    def push_notice(self, outcome: str) -> None:
        self.push_notices.labels(outcome).inc()

    def command_seconds(self, name: str, seconds: float) -> None:
        self.commands.labels(name).observe(seconds)

    # -- exposition ----------------------------------------------------------------------------

    async def render(self, read_backlog: BacklogReader) -> bytes:
        """The text exposition format, the outbox read afresh."""
        await self.outbox.refresh(read_backlog)
        return generate_latest(self.registry)
