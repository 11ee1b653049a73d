"""Handling commands concurrently: in order within a chat, a bounded number at once, stoppable.

Both adapters take commands through this. One fan's slow command must not hold up another
chat's (python-telegram-bot hands over updates one at a time by default, and a broadcast at
the platform's limit makes every answer wait a little), yet two commands typed in one chat are
answered in the order they were typed, and a thousand commands arriving at once are not a
thousand tasks hammering the store together.

* ``run(key, work)``: ``work`` runs once every earlier work with the same key has finished
  (``asyncio.Lock`` is first come, first served) and a slot of ``limit`` is free. Work waiting
  for its chat holds no slot, so one chat flooding the bot cannot take every slot from the rest.
* ``finish(grace)``: shutdown's wait: work in progress gets ``grace`` seconds, then what is
  left is cancelled; work that had not started by then is dropped, and said so in the log.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Turn:
    lock: asyncio.Lock
    users: int = 0


class Handling:
    """Runs commands' work concurrently, ordered per key, at most ``limit`` at once."""

    def __init__(self, limit: int, *, name: str = "commands") -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.name = name
        self._slots = asyncio.Semaphore(limit)
        self._turns: dict[Hashable, _Turn] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = 0
        self.peak = 0  # the most work that ran at once: what the bound held
        self.closed = False

    @property
    def in_progress(self) -> int:
        """Work that has been handed over and has not finished (running or waiting its turn)."""
        return len(self._tasks)

    async def run(self, key: Hashable | None, work: Awaitable[T]) -> T | None:
        """Run ``work`` in its turn for ``key`` (None: no order to keep); None if dropped."""
        task = asyncio.current_task()
        if self.closed or task is None:
            _discard(work)
            return None
        self._tasks.add(task)
        turn = self._turn(key)
        try:
            if turn is not None:
                await turn.lock.acquire()
            try:
                async with self._slots:
                    if self.closed:
                        _discard(work)
                        return None
                    self._running += 1
                    self.peak = max(self.peak, self._running)
                    try:
                        return await work
                    finally:
                        self._running -= 1
            finally:
                if turn is not None:
                    turn.lock.release()
        except asyncio.CancelledError:
            _discard(work)
            raise
        finally:
            self._tasks.discard(task)
            if turn is not None:
                self._leave(key, turn)

    def _turn(self, key: Hashable | None) -> _Turn | None:
        if key is None:
            return None
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn(asyncio.Lock())
        turn.users += 1
        return turn

    def _leave(self, key: Hashable | None, turn: _Turn) -> None:
        turn.users -= 1
        if turn.users == 0 and self._turns.get(key) is turn:
            del self._turns[key]  # the dict holds only chats with work in hand

    async def finish(self, grace: float) -> int:
        """Wait up to ``grace`` seconds for the work in hand; cancel what is left.

        Returns how many were cut off. Work handed over after this is dropped.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # Looped: work handed over just before intake stopped may join while we wait.
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        late = set(self._tasks)
        self.closed = True
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
            log.warning(
                "%s: %d still being handled after %.0fs were cut off", self.name, len(late), grace
            )
        return len(late)


def _discard(work: Awaitable[object]) -> None:
    """Close a coroutine that will never run, so it does not warn "never awaited"."""
    if inspect.iscoroutine(work):
        work.close()
