"""End to end under faults: 429 storms, an outage of 5xx and timeouts, blocked and migrated
chats, with python-telegram-bot and discord.py against the limit-enforcing fakes."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from pathlib import Path

import pytest

from e2e.e2ekit import bot_settings, fake_platforms, running_bot, wait_for_outbox
from fakes.discord_api import Failure
from fakes.telegram_api import BLOCKED, SERVER_ERROR, migrated, retry_after
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.storage import Store
from publisher.publisherkit import make_post, wait_until


async def subscribe(store: Store, *keys: str) -> None:
    for key in keys:
        await store.chats.subscribe(ChatRef.parse(key), ["interviews"], Mode.INSTANT)


async def publish(bot, *numbers: int) -> None:  # type: ignore[no-untyped-def]
    await bot.app.store.posts.upsert([make_post(n) for n in numbers], source="feed", pushable=True)
    await bot.publisher.enqueue_new_posts()


async def test_429_storm_no_request_before_retry_after(tmp_path: Path):
    async with fake_platforms() as (telegram, _discord):
        settings = bot_settings(telegram=telegram, discord=None, database=tmp_path / "b.db")
        chats = [str(700 + n) for n in range(8)]
        async with running_bot(settings) as bot:
            await subscribe(bot.app.store, *(f"telegram:{c}" for c in chats))
            # One chat is told three times in a row to wait; then a storm hits everyone.
            telegram.script("sendMessage", chats[0], error=retry_after(1), times=3)
            telegram.script("sendMessage", error=retry_after(1), times=6)
            await publish(bot, 1, 2)
            await wait_for_outbox(bot.app.store, {"sent": 16}, within=15)

    by_chat = defaultdict(list)
    for call in telegram.calls("sendMessage"):
        by_chat[call.chat_id].append(call)
    storms = 0
    for calls in by_chat.values():
        for before, after in itertools.pairwise(calls):
            if before.status == 429:
                storms += 1
                # retry_after is 1 s: not one request to that chat before it passed.
                assert after.at - before.at >= 1.0
    assert storms == 9
    # Only the scripted 429s: the pacing itself never went over the fake's limits.
    assert telegram.too_many_requests == 0


@pytest.mark.parametrize(
    ("errors_for", "timeouts_for", "delivery", "probe_interval", "resumes_within"),
    [
        # Shortened: the same path with fast back-off and probes, as a quick check.
        (1.5, 1.5, {"backoff_base": 0.5, "backoff_max": 4}, 1.0, 2.5),
        # The full minute, with the shipped delivery settings (2 s doubling to 5 min) and the
        # default probe every 5 s: back-off has grown far past the outage by its end.
        pytest.param(30.0, 30.0, {}, None, 7.0, marks=pytest.mark.slow),
    ],
    ids=["3s-outage", "60s-outage"],
)
@pytest.mark.timeout(150)
async def test_outage_of_errors_and_timeouts_then_everything_arrives(
    tmp_path: Path,
    errors_for: float,
    timeouts_for: float,
    delivery: dict[str, float],
    probe_interval: float | None,
    resumes_within: float,
):
    """An outage: 5xx answers, then requests that time out, then recovery.

    Rows back off exponentially (capped at backoff_max), a probe tries one row every
    probe_interval, and the first success releases every backing-off row: delivery resumes
    within a probe interval of recovery, not after the longest back-off.
    """
    async with fake_platforms() as (telegram, _discord):
        settings = bot_settings(
            telegram=telegram, discord=None, database=tmp_path / "b.db", delivery=delivery
        )
        options = {} if probe_interval is None else {"probe_interval": probe_interval}
        chats = [str(800 + n) for n in range(10)]
        async with running_bot(settings, telegram_timeout=0.5, **options) as bot:
            await subscribe(bot.app.store, *(f"telegram:{c}" for c in chats))
            telegram.script("sendMessage", error=SERVER_ERROR, times=None)
            outage = telegram.rules[-1]
            await publish(bot, 1)
            await wait_until(lambda: len(telegram.calls("sendMessage")) >= 10)
            await asyncio.sleep(errors_for)
            outage.times = 0
            telegram.script("sendMessage", delay=1.0, times=None)  # answers after the timeout
            slow = telegram.rules[-1]
            slow_from = time.monotonic()
            await asyncio.sleep(timeouts_for)
            slow.times = 0
            recovered = time.monotonic()
            await wait_for_outbox(bot.app.store, {"sent": 10}, within=resumes_within + 5)
            resumed_after = time.monotonic() - recovered
            stats = bot.publisher.delivery_stats
    assert resumed_after < resumes_within  # a probe interval and a little, not the back-off
    assert stats.failed == 0 and stats.retried >= 10
    # A timed-out request may have been accepted all the same (the fake answers late): a
    # repeat per request that timed out at most, never a loss.
    for chat in chats:
        timed_out = [
            call
            for call in telegram.calls("sendMessage", chat)
            if slow_from <= call.at < recovered and call.status == 200
        ]
        assert 1 <= len(telegram.sent(chat)) <= 1 + len(timed_out)


async def test_blocked_bot_deactivates_after_one_try(tmp_path: Path):
    async with fake_platforms() as (telegram, discord):
        settings = bot_settings(telegram=telegram, discord=discord, database=tmp_path / "b.db")
        async with running_bot(settings) as bot:
            store = bot.app.store
            await subscribe(store, "telegram:901", "telegram:902", "discord:1200000000000000009")
            telegram.script("sendMessage", 901, error=BLOCKED, times=None)
            discord.fail(
                Failure(403, 50001, "Missing Access", times=None),
                channel="1200000000000000009",
            )
            await publish(bot, 1, 2)
            await wait_until(lambda: len(telegram.sent(902)) == 2, within=5)
            await asyncio.sleep(0.5)
            await publish(bot, 3)  # nothing more is queued for the dead chats
            await wait_until(lambda: len(telegram.sent(902)) == 3, within=5)
            await asyncio.sleep(0.3)
            subs = {s.chat.key: s for s in await store.chats.subscriptions()}
    assert len(telegram.calls("sendMessage", 901)) == 1
    assert not subs["telegram:901"].active
    assert "blocked" in subs["telegram:901"].inactive_reason
    posts = discord.find("POST", "/channels/1200000000000000009/messages")
    assert len(posts) == 1
    assert not subs["discord:1200000000000000009"].active
    assert subs["telegram:902"].active


async def test_migrated_group_follows_to_the_supergroup(tmp_path: Path):
    async with fake_platforms() as (telegram, _discord):
        settings = bot_settings(telegram=telegram, discord=None, database=tmp_path / "b.db")
        async with running_bot(settings) as bot:
            store = bot.app.store
            await subscribe(store, "telegram:-4242")
            telegram.script("sendMessage", -4242, error=migrated(-1004242), times=1)
            await publish(bot, 1)
            await wait_until(lambda: telegram.sent(-1004242), within=5)
            subs = [s.chat.key for s in await store.chats.subscriptions()]
    assert subs == ["telegram:-1004242"]
    assert len(telegram.calls("sendMessage", -4242)) == 1
    assert telegram.sent(-4242) == []
