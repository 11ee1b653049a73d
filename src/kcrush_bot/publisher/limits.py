"""Pacing under each platform's limits, with aiolimiter's leaky buckets.

One global limiter per platform, and one per chat created on demand (an LRU dict that evicts
only idle limiters, so a broadcast to 100,000 chats does not keep 100,000 limiters). A 429's
``retry_after`` pauses the chat, or the whole platform when the platform says the limit was
global: no request goes there before it passes.

Every bucket holds one token. A leaky bucket of capacity N lets N requests burst and then
refills, which puts up to 2N requests into some windows of the period: a platform that counts
requests in a sliding window (Telegram's 20 per minute in a group, its 30 per second overall)
answers that with 429s. Capacity one spaces requests evenly instead, and ``headroom`` keeps
every rate a little under its limit so network jitter cannot bunch 31 requests into one second
(or two messages to a chat into one) at the receiving end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from kcrush_bot.settings import DeliverySettings

log = logging.getLogger(__name__)

DEFAULT_HEADROOM = 0.98
MAX_CHAT_LIMITERS = 4096


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


@dataclass(slots=True)
class _Chat:
    limiter: AsyncLimiter | None  # None when the platform has no per-chat spacing
    period: float
    ready_at: float = 0.0  # monotonic: when the next message may go
    paused_until: float = 0.0


class Pacer:
    """The limits of one platform, as limiters the delivery worker awaits before each send."""

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
        self._global = AsyncLimiter(1, 1.0 / self.rate)
        self._chats: OrderedDict[str, _Chat] = OrderedDict()
        self.paused_until = 0.0

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
            period = self.period_for(chat_key)
            chat = _Chat(AsyncLimiter(1, period) if period > 0 else None, period)
            self._chats[chat_key] = chat
            self._evict_idle()
        else:
            self._chats.move_to_end(chat_key)
        return chat

    def _evict_idle(self) -> None:
        # The front is the least recently used; once it is still cooling, so is all behind it.
        now = self._now()
        while len(self._chats) > self._max_chats:
            key, oldest = next(iter(self._chats.items()))
            if oldest.ready_at > now or oldest.paused_until > now:
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

    def forget(self, chat_key: str) -> None:
        self._chats.pop(chat_key, None)

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

    @property
    def paused(self) -> bool:
        return self.paused_until > self._now()

    # -- the wait before a send ----------------------------------------------------------------

    async def acquire(self, chat_key: str) -> None:
        """Wait until a message may go to ``chat_key`` now.

        Chat first (its pause, then its spacing), the platform's overall rate last, so that
        the send follows the overall token at once and overall spacing holds at the wire.
        ``ready_at`` is counted from that moment, the real send time: the chat limiter alone
        counts from its own acquisition, which may precede the send by the overall wait.
        The worker does not claim a chat's row before its ``ready_at``, so these chat waits
        are rare and short.
        """
        chat = self._chat(chat_key)
        delay = max(chat.paused_until, chat.ready_at) - self._now()
        if delay > 0:
            await asyncio.sleep(delay)
        if chat.limiter is not None:
            await chat.limiter.acquire()
        delay = self.paused_until - self._now()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._global.acquire()
        chat.ready_at = self._now() + chat.period
