"""Commands handled concurrently: in order within a chat, bounded, and stoppable."""

from __future__ import annotations

import asyncio

import pytest

from kcrush_bot.platforms.handling import Handling

pytestmark = pytest.mark.timeout(20)


async def test_different_chats_run_together_and_one_chat_runs_in_order():
    handling = Handling(8)
    gate = asyncio.Event()
    done: list[str] = []

    async def work(name: str, *, wait: bool = False) -> None:
        if wait:
            await gate.wait()
        done.append(name)

    first = asyncio.create_task(handling.run("chat:1", work("1a", wait=True)))
    second = asyncio.create_task(handling.run("chat:1", work("1b")))
    other = asyncio.create_task(handling.run("chat:2", work("2")))
    await asyncio.wait_for(other, 5)
    # Chat 2 was answered while chat 1's first command was still running; chat 1's second
    # command waits for its first.
    assert done == ["2"]
    gate.set()
    await asyncio.gather(first, second)
    assert done == ["2", "1a", "1b"]


async def test_a_thousand_commands_at_once_run_within_the_bound():
    handling = Handling(16)
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1

    await asyncio.gather(*(handling.run(f"chat:{n % 300}", work()) for n in range(1000)))
    assert peak == handling.peak == 16
    assert handling.in_progress == 0


async def test_a_flooding_chat_does_not_hold_the_slots_of_the_others():
    handling = Handling(4)
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    flood = [asyncio.create_task(handling.run("chat:spam", blocked())) for _ in range(50)]
    await asyncio.sleep(0)

    async def answer() -> str:
        return "answered"

    # 49 of the flood wait for their chat's turn, holding no slot: another chat gets one.
    assert await asyncio.wait_for(handling.run("chat:fan", answer()), 5) == "answered"
    gate.set()
    await asyncio.gather(*flood)


async def test_finish_waits_for_work_in_hand_then_cuts_off_the_rest():
    handling = Handling(4)
    quick_done = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.05)
        quick_done.set()

    async def endless() -> None:
        await asyncio.Event().wait()

    quick_task = asyncio.create_task(handling.run("chat:1", quick()))
    endless_task = asyncio.create_task(handling.run("chat:2", endless()))
    await asyncio.sleep(0)
    assert await handling.finish(0.3) == 1
    assert quick_done.is_set() and quick_task.done()
    assert endless_task.cancelled()
    # Work handed over after the stop is dropped, and its coroutine closed, not leaked.
    late = quick()
    assert await handling.run("chat:3", late) is None
    assert late.cr_frame is None
