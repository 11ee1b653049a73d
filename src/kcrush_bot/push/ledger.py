"""What push has done since the bot started: for ``status`` and ``/healthz``.

Counts by outcome, each also counted on ``/metrics`` (``kcrush_push_notices_total{outcome}``):
what a notice was answered (``accepted``, ``coalesced``, ``dropped``, ``test``, ``other_site``,
``bad_request``, ``too_large``, ``unsigned``, ``bad_signature``, ``stale``, ``replay``,
``disabled``) and what its work came to (``stored`` when the re-read post was stored, new or
not; ``gone`` when WordPress no longer shows it; ``failed`` when WordPress could not be read;
``polled`` for a poll made on a notice's or a hub's word). WebSub deliveries are counted as
``websub_delivery`` and ``websub_bad_signature``. The last notice and the WebSub subscriptions
with their lease expiry are kept too. It lives in memory: it says what this process did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.ports import Metrics


@dataclass(frozen=True, slots=True)
class LastNotice:
    at: datetime
    event: str
    post_id: int
    site: str


@dataclass(frozen=True, slots=True)
class Subscription:
    """One feed's WebSub subscription as the status shows it."""

    source: str
    hub: str
    state: str  # requested, verified, denied, failed
    expires_at: datetime | None = None
    error: str | None = None


class PushLedger:
    """Implements the core's ``PushView``; the receiver and WebSub write to it."""

    def __init__(self, metrics: Metrics = NO_METRICS) -> None:
        self.metrics = metrics
        self.counts: Counter[str] = Counter()
        self.last: LastNotice | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.receiver = "off"  # on, off, or why it is not taking notices

    def count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.metrics.push_notice(outcome)

    def noticed(self, event: str, post_id: int, site: str) -> None:
        self.last = LastNotice(datetime.now(UTC), event, post_id, site)

    def subscription(self, subscription: Subscription) -> None:
        self.subscriptions[subscription.source] = subscription

    def snapshot(self) -> dict[str, Any]:
        """The JSON ``/healthz`` shows under ``push``."""
        last = self.last
        return {
            "receiver": self.receiver,
            "last_notice": None
            if last is None
            else {
                "at": last.at.isoformat(timespec="seconds"),
                "event": last.event,
                "post_id": last.post_id,
                "site": last.site,
            },
            "counts": dict(sorted(self.counts.items())),
            "websub": {
                name: {
                    "hub": sub.hub,
                    "state": sub.state,
                    "expires_at": sub.expires_at.isoformat(timespec="seconds")
                    if sub.expires_at
                    else None,
                    **({"error": sub.error} if sub.error else {}),
                }
                for name, sub in sorted(self.subscriptions.items())
            },
        }

    def status_lines(self, now: datetime) -> list[str]:
        """Lines for the ``status`` command."""
        lines: list[str] = []
        if self.receiver != "off" or self.counts:
            last = self.last
            when = "never"
            if last is not None:
                when = (
                    f"{_ago((now - last.at).total_seconds())} ({last.event} of post {last.post_id})"
                )
            lines.append(f"Push: {self.receiver}; last notice {when}")
            if self.counts:
                lines.append(
                    "Push notices: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
                )
        for name, sub in sorted(self.subscriptions.items()):
            state = sub.state
            if sub.expires_at is not None and sub.state == "verified":
                state += f", lease until {sub.expires_at:%Y-%m-%d %H:%M} UTC"
            if sub.error:
                state += f" ({sub.error[:80]})"
            lines.append(f"WebSub {name}: {state}")
        return lines


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{max(int(seconds), 0)}s ago"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    return f"{int(seconds // 3600)} h ago"
