"""Ports: what the core needs from the outside, as Protocols. Adapters and the store implement them.

The core never imports aiosqlite or a platform SDK; it talks to these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from kcrush_bot.core.models import (
    Announcement,
    ArchiveStats,
    Category,
    CategoryCount,
    ChatKind,
    ChatRef,
    DigestSchedule,
    Mode,
    Post,
    SearchHit,
    SourceHealth,
    Subscription,
)
from kcrush_bot.core.replies import Reply


class PostStore(Protocol):
    """The store as the commands see it (implemented by ``storage.Store``)."""

    async def latest(self, limit: int = 5, category: str | None = None) -> list[Post]: ...

    async def search(
        self, query: str, *, limit: int = 10, offset: int = 0
    ) -> tuple[list[SearchHit], int]: ...

    async def categories(self) -> list[Category]: ...

    async def category_counts(self) -> list[CategoryCount]: ...

    async def subscribe(
        self,
        chat: ChatRef,
        categories: Sequence[str],
        mode: Mode,
        *,
        keywords: Sequence[str] = (),
        title: str | None = None,
        kind: ChatKind | None = None,
    ) -> None: ...

    async def unsubscribe(self, chat: ChatRef, categories: Sequence[str] | None) -> int: ...

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]: ...

    async def set_digest(self, schedule: DigestSchedule) -> None: ...

    async def clear_digest(self, chat: ChatRef) -> bool: ...

    async def digests(self, chat: ChatRef | None = None) -> list[DigestSchedule]: ...

    async def posts_for_chat_since(
        self,
        chat: ChatRef,
        since: datetime | None,
        *,
        limit: int = 200,
        pushable_only: bool = False,
    ) -> list[Post]: ...

    async def create_announcement(
        self,
        text: str,
        category: str | None,
        author: str,
        *,
        scheduled_for: datetime | None = None,
    ) -> int: ...

    async def announcement(self, announcement_id: int) -> Announcement | None: ...

    async def set_announcement_status(
        self, announcement_id: int, status: str, *, expect: str = "draft"
    ) -> bool: ...

    async def audit(
        self, actor: str, action: str, *, chat: ChatRef | None = None, detail: Any = ""
    ) -> None: ...

    async def stats(self) -> ArchiveStats: ...

    async def source_health(self) -> list[SourceHealth]: ...

    async def inactive_chats(self) -> list[tuple[ChatRef, str]]: ...


class ScheduleView(Protocol):
    """What the scheduler can tell the commands (implemented by the publisher)."""

    def next_digest_times(self) -> dict[str, datetime]: ...


class Notifier(Protocol):
    """Something to wake when work was enqueued (the delivery worker); optional."""

    def wake(self) -> None: ...


class Platform(Protocol):
    """A chat platform's adapter as the core and the publisher see it.

    ``async with platform:`` connects (and starts taking commands); leaving disconnects.
    ``send`` delivers one neutral reply to a chat and returns the platform's message ids. It
    raises only the core's delivery errors: ``RetryableDelivery`` (with ``retry_after`` when
    the platform gave one), ``PermanentDelivery`` (blocked, kicked, deleted: never retry) or
    ``ChatMoved`` (Telegram group → supergroup).
    """

    name: str

    async def __aenter__(self) -> Platform: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]: ...

    async def stop_receiving(self) -> None:
        """Shutdown's first step: take no more commands; ``send`` keeps working."""
        ...


@runtime_checkable
class HealthCheck(Protocol):
    """A platform that can tell whether it is connected right now (``/healthz`` asks).

    Optional for a ``Platform``: one without it counts as connected while it runs.
    """

    def connection_problem(self) -> str | None:
        """None while connected; otherwise what is wrong, in a few words."""
        ...


class Metrics(Protocol):
    """What the core and the publisher count; ``web.metrics`` exports it on ``/metrics``.

    ``outcome`` of a delivery: sent, retry, failed, unreachable (the chat is gone), moved.
    """

    def delivered(self, platform: str, outcome: str) -> None: ...

    def rate_limited(self, platform: str) -> None: ...

    def polled(self, source: str, ok: bool) -> None: ...

    def push_notice(self, outcome: str) -> None: ...

    def command_seconds(self, name: str, seconds: float) -> None: ...
