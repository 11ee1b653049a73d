"""The PostgreSQL store: the shared pool and the repositories over it, one per aggregate.

The same shape as ``storage.Store`` (``db``, ``posts``, ``chats``, ``sources``,
``announcements``, ``outbox``, ``websub``, ``stats()``), so everything that takes a store runs on either;
``Store.open`` picks this one for a ``postgresql://`` URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kcrush_bot.core.models import ArchiveStats
from kcrush_bot.storage.db import Clock
from kcrush_bot.storage.postgres.announcements import PgAnnouncementRepository
from kcrush_bot.storage.postgres.chats import PgChatRepository
from kcrush_bot.storage.postgres.db import PgDatabase
from kcrush_bot.storage.postgres.outbox import PgOutbox
from kcrush_bot.storage.postgres.posts import PgPostRepository
from kcrush_bot.storage.postgres.replicas import PgReplicaRepository
from kcrush_bot.storage.postgres.shards import PgShardRepository
from kcrush_bot.storage.postgres.sources import PgSourceRepository
from kcrush_bot.storage.postgres.websub import PgWebSubRepository
from kcrush_bot.storage.stats import archive_stats

if TYPE_CHECKING:
    from kcrush_bot.core.ports import CommandStore, PublisherStore
    from kcrush_bot.sources.ports import SourceStore
    from kcrush_bot.storage.websub import WebSubRepo


@dataclass(frozen=True, slots=True)
class PgStore:
    """The repositories of one PostgreSQL database. Use ``async with PgStore.open(url)``."""

    db: PgDatabase
    posts: PgPostRepository
    chats: PgChatRepository
    sources: PgSourceRepository
    announcements: PgAnnouncementRepository
    outbox: PgOutbox
    replicas: PgReplicaRepository
    websub: PgWebSubRepository
    shards: PgShardRepository  # Discord's gateway shards among the replicas

    @classmethod
    def over(cls, db: PgDatabase) -> PgStore:
        return cls(
            db=db,
            posts=PgPostRepository(db),
            chats=PgChatRepository(db),
            sources=PgSourceRepository(db),
            announcements=PgAnnouncementRepository(db),
            outbox=PgOutbox(db),
            replicas=PgReplicaRepository(db),
            websub=PgWebSubRepository(db),
            shards=PgShardRepository(db),
        )

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, *, upgrade: bool = True, clock: Clock | None = None
    ) -> AsyncIterator[PgStore]:
        async with PgDatabase.open(url, upgrade=upgrade, clock=clock) as db:
            yield cls.over(db)

    async def stats(self) -> ArchiveStats:
        return await archive_stats(self)


if TYPE_CHECKING:
    # mypy proves here that the PostgreSQL store fills every role the SQLite one does.
    def _fills_every_role(store: PgStore) -> tuple[CommandStore, PublisherStore, SourceStore]:
        return store, store, store

    def _keeps_websub(store: PgStore) -> WebSubRepo:
        return store.websub
