"""``status`` shows push: whether the receiver is on, its last notice, counts by outcome, and
each WebSub subscription with its lease; ``/metrics`` counts the same outcomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from factories import caller
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.replies import Text
from kcrush_bot.push import PushLedger
from kcrush_bot.push.ledger import Subscription
from kcrush_bot.web import PrometheusMetrics


async def test_status_shows_the_receiver_its_counts_and_the_websub_leases(
    service: CommandService,
) -> None:
    metrics = PrometheusMetrics()
    ledger = PushLedger(metrics)
    ledger.receiver = "on"
    ledger.noticed("publish", 3101, "https://www.kcrush.com")
    for outcome in ("accepted", "accepted", "bad_signature", "stored"):
        ledger.count(outcome)
    expires = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    ledger.subscription(Subscription("kcrush-all", "https://hub.example/", "verified", expires))
    ledger.subscription(
        Subscription("kcrush-news", "https://hub.example/", "failed", error="HTTP 500")
    )
    service.push = ledger
    [reply] = await service.dispatch(caller("telegram", user_id="42"), "status")
    assert isinstance(reply, Text)
    assert re.search(r"Push: on; last notice \d+s ago \(publish of post 3101\)", reply.text)
    assert "Push notices: accepted 2, bad_signature 1, stored 1" in reply.text
    assert "WebSub kcrush-all: verified, lease until 2026-12-01 09:30 UTC" in reply.text
    assert "WebSub kcrush-news: failed (HTTP 500)" in reply.text
    text = (await metrics.render(_no_backlog)).decode()
    assert 'kcrush_push_notices_total{outcome="accepted"} 2.0' in text


async def test_status_says_nothing_of_push_when_it_is_off_and_quiet(
    service: CommandService,
) -> None:
    service.push = PushLedger()
    [reply] = await service.dispatch(caller("telegram", user_id="42"), "status")
    assert isinstance(reply, Text) and "Push" not in reply.text


async def _no_backlog() -> dict[str, object]:
    return {}
