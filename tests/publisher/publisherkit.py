"""Test kit for the publisher: an in-process Platform that records sends and fails on cue."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import make_post

from kcrush_bot import settings as settings_mod
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.replies import Reply
from kcrush_bot.settings import Settings

__all__ = ["FakeClock", "FakePlatform", "make_post", "make_settings"]


@dataclass
class Send:
    at: float
    chat: str
    reply: Reply
    ok: bool


@dataclass
class Change:
    at: float
    chat: str
    what: str  # edit, delete
    message_ids: tuple[str, ...]
    reply: Reply | None


class FakePlatform:
    """Implements the ``Platform`` port. ``script(chat, *outcomes)`` queues what the next sends
    to that chat do: an exception to raise, a float to sleep first, or None to succeed."""

    def __init__(self, name: str = "telegram", *, latency: float = 0.0) -> None:
        self.name = name
        self.latency = latency
        self.attempts: list[Send] = []
        self._scripts: dict[str, list[Any]] = defaultdict(list)
        self.failing: Callable[[str], BaseException | None] | None = None
        self._ids = itertools.count(1)
        self.in_flight = 0
        self.max_in_flight = 0
        self.changes: list[Change] = []

    async def __aenter__(self) -> FakePlatform:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def script(self, chat: str, *outcomes: Any) -> None:
        self._scripts[chat].extend(outcomes)

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            outcome = self._scripts[chat.key].pop(0) if self._scripts[chat.key] else None
            if self.latency:
                await asyncio.sleep(self.latency)
            if isinstance(outcome, int | float):
                await asyncio.sleep(outcome)
                outcome = None
            if outcome is None and self.failing is not None:
                outcome = self.failing(chat.key)
            self.attempts.append(Send(time.monotonic(), chat.key, reply, outcome is None))
            if outcome is not None:
                raise outcome
            return [f"{self.name}-{next(self._ids)}"]
        finally:
            self.in_flight -= 1

    async def edit(self, chat: ChatRef, message_ids: Sequence[str], reply: Reply) -> None:
        """Edits and deletions follow ``script`` like sends; the message must exist."""
        await self._change(chat, "edit", message_ids, reply)

    async def delete(self, chat: ChatRef, message_ids: Sequence[str]) -> None:
        await self._change(chat, "delete", message_ids, None)

    async def _change(
        self, chat: ChatRef, what: str, message_ids: Sequence[str], reply: Reply | None
    ) -> None:
        outcome = self._scripts[chat.key].pop(0) if self._scripts[chat.key] else None
        if isinstance(outcome, int | float):
            await asyncio.sleep(outcome)
            outcome = None
        if outcome is None and self.failing is not None:
            outcome = self.failing(chat.key)
        self.changes.append(Change(time.monotonic(), chat.key, what, tuple(message_ids), reply))
        if outcome is not None:
            raise outcome

    def edits(self, chat: str | None = None) -> list[Change]:
        return [c for c in self.changes if c.what == "edit" and (chat is None or c.chat == chat)]

    def deletions(self, chat: str | None = None) -> list[Change]:
        return [c for c in self.changes if c.what == "delete" and (chat is None or c.chat == chat)]

    def delivered(self, chat: str | None = None) -> list[Send]:
        return [s for s in self.attempts if s.ok and (chat is None or s.chat == chat)]

    def tries(self, chat: str) -> list[Send]:
        return [s for s in self.attempts if s.chat == chat]


class FakeClock:
    """A settable clock for the publisher's timestamps (delivery waits still use real time)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_settings(**delivery: Any) -> Settings:
    """Settings with fast delivery knobs for tests (overridable): short back-offs, and chats
    spaced 0.1 s apart instead of 1 s (3 s in groups) unless a test is about that spacing."""
    values: dict[str, Any] = {
        "backoff_base": 0.05,
        "backoff_max": 0.2,
        "max_attempts": 4,
        "telegram_per_chat_seconds": 0.1,
        "telegram_group_per_minute": 600.0,
        "discord_per_channel_seconds": 0.1,
    }
    values.update(delivery)
    return settings_mod.from_dict({"delivery": values, "bot": {"sample_archive": False}})


def card_title(reply: Reply) -> str:
    cards = getattr(reply, "cards", None)
    if cards:
        return cards[0].title
    return getattr(reply, "title", None) or getattr(reply, "text", "")


async def wait_until(predicate: Callable[[], object], within: float = 5.0) -> None:
    """Wait until ``predicate()`` is true: the fakes' state has no event to wait on."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling a fake's state is the point
            await asyncio.sleep(0.01)
