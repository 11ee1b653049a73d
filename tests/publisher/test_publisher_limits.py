"""The send budget: evenly spaced slots, replies first, per-chat spacing, pauses, a bounded chat dict."""

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
    clock = [0.0]  # a clock the test moves: "still cooling" must not depend on machine speed
    pacer = Pacer(Limits(per_second=1000, per_chat_seconds=1.0), max_chats=10, now=lambda: clock[0])
    for n in range(30):
        clock[0] += 0.01  # past the overall spacing, so every slot is free at once
        await pacer.acquire(f"telegram:{n}")
    # All of them are still cooling, so all are kept: forgetting one would lose its spacing.
    assert pacer.tracked == 30
    clock[0] += 2.0
    await pacer.acquire("telegram:new")
    assert pacer.tracked == 10


async def test_a_reply_takes_the_next_slot_ahead_of_the_deliveries_waiting():
    pacer = Pacer(Limits(per_second=20, per_chat_seconds=0), headroom=1.0)
    order: list[str] = []

    async def take(name: str, chat: str, *, reply: bool = False) -> None:
        await pacer.acquire(chat, reply=reply)
        order.append(name)

    deliveries = [asyncio.create_task(take(f"d{n}", f"telegram:{n}")) for n in range(6)]
    await asyncio.sleep(0)  # d0 took the free slot; d1..d5 queue for the next ones
    await take("reply", "telegram:99", reply=True)
    await asyncio.gather(*deliveries)
    # The reply waited one slot, not behind the five deliveries queued before it.
    assert order == ["d0", "reply", "d1", "d2", "d3", "d4", "d5"]
    assert (pacer.stats.replies, pacer.stats.deliveries) == (1, 6)


async def test_replies_and_deliveries_draw_from_one_rate():
    pacer = Pacer(Limits(per_second=40, per_chat_seconds=0), headroom=1.0)
    started = time.monotonic()
    await asyncio.gather(
        *(pacer.acquire(f"telegram:{n}") for n in range(10)),
        *(pacer.acquire(f"telegram:{n}", reply=True) for n in range(10, 20)),
    )
    # 20 slots at 40/s: 19 gaps of 25 ms, whoever asked. Separate budgets would take half.
    assert time.monotonic() - started >= 0.47


async def test_a_reply_keeps_the_chat_spacing_after_a_delivery_there():
    pacer = Pacer(Limits(per_second=1000, per_chat_seconds=0.3), headroom=1.0)
    await pacer.acquire("telegram:7")
    started = time.monotonic()
    await pacer.acquire("telegram:7", reply=True)
    assert time.monotonic() - started >= 0.29
    assert pacer.is_cooling("telegram:7")  # and the worker leaves the chat alone meanwhile


async def test_a_cancelled_waiter_gives_its_slot_to_the_next():
    pacer = Pacer(Limits(per_second=20, per_chat_seconds=0), headroom=1.0)
    await pacer.acquire()
    doomed = asyncio.create_task(pacer.acquire(reply=True))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.wait_for(pacer.acquire(), 5)
    assert (pacer.stats.replies, pacer.stats.deliveries) == (0, 2)


async def test_a_flood_of_replies_still_lets_the_broadcast_through():
    pacer = Pacer(Limits(per_second=200, per_chat_seconds=0), headroom=1.0)
    order: list[str] = []

    async def take(name: str, *, reply: bool) -> None:
        await pacer.acquire(reply=reply)
        order.append(name)

    await pacer.acquire()  # the slot is taken: everyone below queues
    waiting = [asyncio.create_task(take("d", reply=False)) for _ in range(3)]
    waiting += [asyncio.create_task(take("r", reply=True)) for _ in range(12)]
    await asyncio.gather(*waiting)
    # Replies first, but never more than REPLY_RUN of them while deliveries wait.
    assert "".join(order) == "rrrrdrrrrdrrrrd"


async def test_a_reply_goes_before_its_chats_delivery_still_queued():
    pacer = Pacer(Limits(per_second=20, per_chat_seconds=0.5), headroom=1.0)
    order: list[str] = []

    async def take(name: str, chat: str, *, reply: bool = False) -> None:
        await pacer.acquire(chat, reply=reply)
        order.append(name)

    await pacer.acquire("telegram:1")  # the slot is taken: the deliveries below queue
    queued = [asyncio.create_task(take(f"d{n}", f"telegram:{n}")) for n in (2, 3, 4, 5)]
    await asyncio.sleep(0)
    # A fan in chat 5 types while its broadcast message is fourth in the queue: the answer
    # goes first, and the broadcast message follows once the chat's spacing allows.
    await take("reply", "telegram:5", reply=True)
    await asyncio.gather(*queued)
    assert order == ["reply", "d2", "d3", "d4", "d5"]
    assert pacer.stats.unused == 1
