"""Each platform's one send budget: its overall rate, its per-chat spacing, replies first.

A ``Pacer`` is the whole budget of one platform. The delivery worker awaits it before every
outbox send, and the platform's adapter awaits the same object before every request a command
answer makes (a reply, a button's edit, an inline answer): together they stay under the
platform's limit, and no reply collides with the broadcast into a 429.

Replies go first. Every request takes one evenly spaced slot of the overall rate; while a reply
waits for a slot, the next one is its, and the broadcast has the slots replies leave. So a fan
who types during a broadcast waits one slot (a thirtieth of a second on Telegram), not behind
the dozens of deliveries already queued for the wire. Only a flood of replies is held to
``REPLY_RUN`` slots in a row while deliveries wait, so the broadcast never stops entirely.

Slots are spaced evenly, one at a time, never in bursts: a leaky bucket of capacity N lets N
requests out at once and then refills, which puts up to 2N requests into some windows of the
period, and a platform that counts requests in a sliding window (Telegram's 20 per minute in a
group, its 30 per second overall) answers that with 429s. ``headroom`` keeps every rate a
little under its limit, so network jitter cannot bunch 31 requests into one second (or two
messages to a chat into one) at the receiving end.

Per chat, messages are spaced by ``period_for`` (replies and deliveries alike), counted from the
moment a message got its overall slot, its real send time. Chats are kept in an LRU dict that
evicts only idle ones, so a broadcast to 100,000 chats does not keep 100,000 entries. A 429's
``retry_after`` pauses the chat, or the whole platform when the platform says the limit was
global: nothing goes there before it passes.

One process alone on its database owns the whole rate. Replicas of the bot on one PostgreSQL
database share it: each one's pacer is given ``SharedSlots`` (``share_with``), the slots it may
use, taken in small chunks from one budget for the bot (``kcrush_bot.shared_budget``). Then the
overall slots are those, instead of the pacer's own spacing; everything else (replies first,
pauses, per-chat spacing) is the same.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kcrush_bot.settings import DeliverySettings

log = logging.getLogger(__name__)

DEFAULT_HEADROOM = 0.98
MAX_CHAT_LIMITERS = 4096
# Replies go first, but a flood of commands must not stop a broadcast dead: after this many
# reply slots in a row, a waiting delivery gets one.
REPLY_RUN = 4


@dataclass(frozen=True, slots=True)
class Limits:
    """One platform's limits: requests per second overall, seconds between messages to one
    chat, and (Telegram) messages per minute in a group (a negative chat id)."""

    per_second: float
    per_chat_seconds: float
    group_per_minute: float | None = None

    @classmethod
    def for_platform(cls, name: str, delivery: DeliverySettings) -> Limits:
        if name == "telegram":
            return cls(
                delivery.telegram_per_second,
                delivery.telegram_per_chat_seconds,
                delivery.telegram_group_per_minute,
            )
        if name == "discord":
            return cls(delivery.discord_per_second, delivery.discord_per_channel_seconds)
        # The console (and any future platform without published limits): no real limit, but
        # a ceiling keeps a runaway loop from flooding a terminal.
        return cls(1000.0, 0.0)


class SharedSlots(Protocol):
    """The send slots a pacer may use when several processes share the platform's limit.

    ``first(now)``: when the next slot held is (``math.inf`` while none is); a slot whose time
    passed too long ago is given up rather than used late, where it would crowd the next
    process's. ``take()``: the pacer used that slot. ``want(waiting)``: this many sends wait,
    get slots for them (``Pacer.slots_came`` is called when some come). ``pause(seconds)``: a
    429 said the whole platform must wait: every process sharing it pauses.
    """

    def first(self, now: float) -> float: ...

    def take(self) -> None: ...

    def want(self, waiting: int) -> None: ...

    def pause(self, seconds: float) -> None: ...


@dataclass(slots=True)
class _Chat:
    period: float
    ready_at: float = 0.0  # monotonic: when the next message may go
    paused_until: float = 0.0
    waiting: int = 0  # sends waiting for their turn here: the chat is not evicted meanwhile
    heard: int = 0  # the last message sent here from elsewhere that the spacing counts from


@dataclass(slots=True)
class BudgetStats:
    """Slots granted, by whom: what a reply cost the broadcast, and what was waited."""

    replies: int = 0
    deliveries: int = 0
    reply_wait: float = 0.0  # seconds replies spent waiting for their overall slot, summed
    unused: int = 0  # slots a send could not use: a reply had taken its chat's turn meanwhile


class Pacer:
    """The send budget of one platform: the delivery worker and the adapter's replies await it.

    ``acquire(chat_key)`` returns when a message may go to that chat now; ``reply=True`` puts
    the caller ahead of every delivery waiting for the overall rate. ``chat_key`` None takes
    an overall slot only (an inline answer, a callback answer: requests that belong to no
    chat's spacing but still count against the platform's rate).
    """

    def __init__(
        self,
        limits: Limits,
        *,
        headroom: float = DEFAULT_HEADROOM,
        max_chats: int = MAX_CHAT_LIMITERS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.headroom = headroom
        self._now = now
        self._max_chats = max_chats
        self.rate = limits.per_second * headroom
        self.interval = 1.0 / self.rate
        # Replicas: the slots of the budget they share (``share_with``); None alone.
        self.shared: SharedSlots | None = None
        self._chats: OrderedDict[str, _Chat] = OrderedDict()
        self.paused_until = 0.0
        self.stats = BudgetStats()
        # The overall rate: when the next slot is free, and who waits for one, replies first.
        self._next_slot = 0.0
        self._replies: deque[asyncio.Future[None]] = deque()
        self._deliveries: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._reply_run = 0  # reply slots granted since the last delivery's

    # -- per chat ------------------------------------------------------------------------------

    def period_for(self, chat_key: str) -> float:
        """Seconds between two messages to this chat: 1 s, or 3 s in a Telegram group (with the
        same headroom as the overall rate: the platform measures arrival, not our send)."""
        period = self.limits.per_chat_seconds
        if self.limits.group_per_minute and chat_key.split(":", 1)[1].startswith("-"):
            period = max(period, 60.0 / self.limits.group_per_minute)
        return period / self.headroom

    def _chat(self, chat_key: str) -> _Chat:
        chat = self._chats.get(chat_key)
        if chat is None:
            chat = _Chat(self.period_for(chat_key))
            self._chats[chat_key] = chat
            self._evict_idle()
        else:
            self._chats.move_to_end(chat_key)
        return chat

    def _evict_idle(self) -> None:
        # The front is the least recently used: once it is still cooling, or a send waits on
        # it, the chats behind it are at least as fresh, so the scan stops there.
        now = self._now()
        while len(self._chats) > self._max_chats:
            key, oldest = next(iter(self._chats.items()))
            if oldest.ready_at > now or oldest.paused_until > now or oldest.waiting:
                break
            del self._chats[key]

    def ready_at(self, chat_key: str) -> float:
        """When a message may next go to ``chat_key`` (monotonic; in the past when it may now)."""
        chat = self._chats.get(chat_key)
        return max(chat.ready_at, chat.paused_until) if chat is not None else 0.0

    def is_cooling(self, chat_key: str) -> bool:
        return self.ready_at(chat_key) > self._now()

    def cooling(self) -> dict[str, float]:
        """Chats that may not be sent to yet, with the monotonic time they may."""
        now = self._now()
        return {
            key: max(c.ready_at, c.paused_until)
            for key, c in self._chats.items()
            if c.ready_at > now or c.paused_until > now
        }

    def sent_before(self, chat_key: str, message: int, seconds_ago: float) -> None:
        """``message`` went to ``chat_key`` that long ago, perhaps from another replica: the
        chat's spacing counts from then here too (once per message, whatever the clocks say)."""
        period = self.period_for(chat_key)
        if seconds_ago >= period:
            return
        chat = self._chat(chat_key)
        if chat.heard != message:
            chat.heard = message
            chat.ready_at = max(chat.ready_at, self._now() - max(seconds_ago, 0.0) + period)

    def forget(self, chat_key: str) -> None:
        chat = self._chats.get(chat_key)
        if chat is not None and not chat.waiting:
            del self._chats[chat_key]

    @property
    def tracked(self) -> int:
        return len(self._chats)

    # -- pauses --------------------------------------------------------------------------------

    def pause_chat(self, chat_key: str, seconds: float) -> None:
        chat = self._chat(chat_key)
        chat.paused_until = max(chat.paused_until, self._now() + seconds)

    def pause_all(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self._now() + seconds)
        log.warning("platform-wide rate limit: pausing all sends for %.1fs", seconds)
        if self.shared is not None:
            self.shared.pause(seconds)

    def pause_for(self, seconds: float) -> None:
        """Another replica was told to pause: do too, without telling anyone again."""
        self.paused_until = max(self.paused_until, self._now() + seconds)

    def share_with(self, shared: SharedSlots) -> None:
        """The platform's limit is the bot's, shared with other replicas: from now on a send
        also needs a slot from ``shared``."""
        self.shared = shared

    def slots_came(self) -> None:
        """The shared budget has slots again: hand them to whoever waits."""
        self._arm()

    @property
    def paused(self) -> bool:
        return self.paused_until > self._now()

    # -- the wait before a send ----------------------------------------------------------------

    async def acquire(self, chat_key: str | None = None, *, reply: bool = False) -> None:
        """Wait until a message may go to ``chat_key`` now; ``reply`` goes before deliveries.

        The chat's turn first (its pause, then its spacing), the overall slot last, so the
        send follows its slot at once and overall spacing holds at the wire. The chat's next
        turn is counted from that slot, the real send time. The worker does not claim a
        chat's row before its ``ready_at``, so deliveries rarely wait here for a chat.

        Nothing holds the chat while its send waits for an overall slot: a reply to a chat
        whose delivery is still queued behind others takes the chat's turn first (its slot
        comes sooner). The delivery, granted its slot later, finds the chat cooling, leaves
        that one slot unused and waits for the chat again.
        """
        if chat_key is None:
            await self._slot(reply)
            return
        chat = self._chat(chat_key)
        chat.waiting += 1
        try:
            while True:
                # Looped: a 429 may lengthen the chat's pause while we wait for it.
                while (delay := max(chat.paused_until, chat.ready_at) - self._now()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(delay)
                await self._slot(reply)
                now = self._now()
                if max(chat.paused_until, chat.ready_at) <= now:
                    chat.ready_at = now + chat.period
                    return
                self.stats.unused += 1
        finally:
            chat.waiting -= 1

    def _free_at(self, now: float) -> float:
        """When the next overall slot is free: the rate's spacing and a pause; with a shared
        budget, the next slot held from it instead of the spacing (``math.inf`` until it holds
        one). Those slots are evenly spaced for the bot as a whole: counting from our own last
        send, late by a loop turn each time, would carry every lateness on to the next slot."""
        if self.shared is not None:
            return max(self.shared.first(now), self.paused_until)
        return max(self._next_slot, self.paused_until)

    async def _slot(self, reply: bool) -> None:
        """One slot of the overall rate: now if it is free and nobody is ahead, else queued."""
        now = self._now()
        if now >= self._free_at(now) and self._turn_of() in (None, reply):
            self._grant(now, reply)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._replies if reply else self._deliveries).append(waiter)
        self._arm()
        queued = now
        # A cancelled waiter is skipped by _release: its slot goes to the next one.
        await waiter
        resumed = self._now()
        # The slot was handed over by the timer; the send follows when this task runs, a loop
        # turn or more later on a busy loop. Count the next slot from here, closer to the wire,
        # so a late turn cannot bring this send and the next one together.
        self._next_slot = max(self._next_slot, resumed + self.interval)
        if reply:
            self.stats.reply_wait += resumed - queued

    def _turn_of(self) -> bool | None:
        """Whose the next slot is: True a reply's, False a delivery's, None nobody waits."""
        for queue in (self._replies, self._deliveries):
            while queue and queue[0].done():
                queue.popleft()  # its task was cancelled while it waited
        if self._replies and (not self._deliveries or self._reply_run < REPLY_RUN):
            return True
        if self._deliveries:
            return False
        return None

    def _grant(self, now: float, reply: bool) -> None:
        self._next_slot = now + self.interval
        if self.shared is not None:
            self.shared.take()
        if reply:
            self.stats.replies += 1
            self._reply_run += 1
        else:
            self.stats.deliveries += 1
            self._reply_run = 0

    def _arm(self) -> None:
        if self._timer is not None or not (self._replies or self._deliveries):
            return
        now = self._now()
        if self.shared is not None:
            self.shared.want(len(self._replies) + len(self._deliveries))
        delay = self._free_at(now) - now
        if delay == math.inf:
            return  # no shared slot yet: ``slots_came`` arms the timer when some come
        self._timer = asyncio.get_running_loop().call_later(max(delay, 0.0), self._release)

    def _release(self) -> None:
        """The timer: hand the free slot to the first reply waiting, else the first delivery."""
        self._timer = None
        now = self._now()
        if now >= self._free_at(now):
            reply = self._turn_of()
            if reply is not None:
                (self._replies if reply else self._deliveries).popleft().set_result(None)
                self._grant(now, reply)
        self._arm()
