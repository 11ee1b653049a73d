"""The archive's figures (``stats``), gathered alike from either backend's repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kcrush_bot.core.models import ArchiveStats


class _Posts(Protocol):
    async def count(self) -> int: ...
    async def count_categories(self) -> int: ...
    async def count_withdrawn(self) -> int: ...
    async def newest_at(self) -> datetime | None: ...


class _Chats(Protocol):
    async def counts(self) -> tuple[int, int, int]: ...


class _Sources(Protocol):
    async def last_poll_at(self) -> datetime | None: ...


class _Outbox(Protocol):
    async def counts(self) -> dict[str, int]: ...
    async def followed(self) -> dict[str, int]: ...


class Counted(Protocol):
    """What ``archive_stats`` reads of a store: ``Store`` and ``PgStore`` alike."""

    @property
    def posts(self) -> _Posts: ...
    @property
    def chats(self) -> _Chats: ...
    @property
    def sources(self) -> _Sources: ...
    @property
    def outbox(self) -> _Outbox: ...


async def archive_stats(store: Counted) -> ArchiveStats:
    """The archive's figures, gathered from every repository."""
    chats, subscriptions, active = await store.chats.counts()
    return ArchiveStats(
        posts=await store.posts.count(),
        categories=await store.posts.count_categories(),
        chats=chats,
        subscriptions=subscriptions,
        active_subscriptions=active,
        newest_post_at=await store.posts.newest_at(),
        last_poll_at=await store.sources.last_poll_at(),
        outbox=await store.outbox.counts(),
        withdrawn_posts=await store.posts.count_withdrawn(),
        **await store.outbox.followed(),
    )
