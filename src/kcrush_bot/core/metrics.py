"""Metrics that go nowhere: the default wherever nothing scrapes (CLI verbs, tests).

The ``Metrics`` port lives in ``core.ports``; the Prometheus implementation in ``web.metrics``.
"""

from __future__ import annotations

from kcrush_bot.core.ports import Metrics


class NoMetrics:
    """Implements ``Metrics`` and counts nothing."""

    def delivered(self, platform: str, outcome: str) -> None:
        pass

    def rate_limited(self, platform: str) -> None:
        pass

    def polled(self, source: str, ok: bool) -> None:
        pass

    def push_notice(self, outcome: str) -> None:
        pass

    def command_seconds(self, name: str, seconds: float) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
