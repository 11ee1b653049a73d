"""Pacing: aiolimiter buckets per platform and per chat, pauses, and a bounded limiter dict."""

from __future__ import annotations

import asyncio
import time

from kcrush_bot.publisher.limits import Limits, Pacer
from kcrush_bot.settings import DeliverySettings


def test_telegram_groups_get_three_seconds_and_private_chats_one():
    pacer = Pacer(Limits.for_platform("telegram", DeliverySettings()), headroom=1.0)
    assert pacer.period_for("telegram:42") == 1.0
    assert pacer.period_for("telegram:-100123") == 3.0
    assert pacer.period_for("telegram:-100123/7") == 3.0
    discord = Pacer(Limits.for_platform("discord", DeliverySettings()), headroom=1.0)
    assert discord.period_for("discord:-5") == 1.0  # no group rule on Discord


async def test_overall_rate_is_spaced_not_bursty():
    pacer = Pacer(Limits(per_second=50, per_chat_seconds=0), headroom=1.0)
    started = time.monotonic()
    for n in range(26):
        await pacer.acquire(f"telegram:{n}")
    # 26 sends at 50/s, evenly spaced: 25 gaps of 20 ms. A burst-capable bucket would
    # have let all 26 through at once.
    assert time.monotonic() - started >= 0.49


async def test_a_paused_chat_cools_and_others_do_not():
    pacer = Pacer(Limits(per_second=1000, per_chat_seconds=0.05))
    await pacer.acquire("telegram:1")
    pacer.pause_chat("telegram:2", 0.3)
    cooling = pacer.cooling()
    assert set(cooling) == {"telegram:1", "telegram:2"}
    started = time.monotonic()
    await pacer.acquire("telegram:2")
    assert time.monotonic() - started >= 0.29


async def test_a_global_pause_holds_every_chat():
    pacer = Pacer(Limits(per_second=1000, per_chat_seconds=0))
    pacer.pause_all(0.2)
    assert pacer.paused
    started = time.monotonic()
    await pacer.acquire("telegram:1")
    assert time.monotonic() - started >= 0.19


async def test_idle_chat_limiters_are_evicted():
    pacer = Pacer(Limits(per_second=100000, per_chat_seconds=0.01), max_chats=10)
    for n in range(30):
        await pacer.acquire(f"telegram:{n}")
    # All of them are still cooling, so all are kept: forgetting one would lose its spacing.
    assert pacer.tracked == 30
    await asyncio.sleep(0.02)
    await pacer.acquire("telegram:new")
    assert pacer.tracked == 10
