"""The store: the shared database and the repositories over it, one per aggregate.

``async with Store.open(path) as store`` opens the database (migrated) and hands out
``store.posts`` (the archive, categories, search), ``store.chats`` (chats, subscriptions,
digests), ``store.sources`` (poll state and health), ``store.announcements`` (announcements and
the audit log), ``store.outbox`` (delivery) and ``store.websub`` (WebSub subscriptions).
``store.db`` is the connection, its transaction lock and its clock, for the few callers that
need a transaction across repositories.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from kcrush_bot.core.models import ArchiveStats
from kcrush_bot.core.ports import CommandStore, PublisherStore
from kcrush_bot.storage.announcements import AnnouncementRepository
from kcrush_bot.storage.chats import ChatRepository
from kcrush_bot.storage.db import Clock, Database
from kcrush_bot.storage.outbox import Outbox
from kcrush_bot.storage.posts import PostRepository
from kcrush_bot.storage.sources import SourceRepository
from kcrush_bot.storage.stats import archive_stats
from kcrush_bot.storage.urls import is_postgres_url
from kcrush_bot.storage.websub import WebSubRepository


@dataclass(frozen=True, slots=True)
class Store:
    """The repositories of one database. Use ``async with Store.open(path) as store``."""

    db: Database
    posts: PostRepository
    chats: ChatRepository
    sources: SourceRepository
    announcements: AnnouncementRepository
    outbox: Outbox
    websub: WebSubRepository

    @classmethod
    def over(cls, db: Database) -> Store:
        return cls(
            db=db,
            posts=PostRepository(db),
            chats=ChatRepository(db),
            sources=SourceRepository(db),
            announcements=AnnouncementRepository(db),
            outbox=Outbox(db),
            websub=WebSubRepository(db),
        )

    @classmethod
    @asynccontextmanager
    async def open(
        cls, path: str | Path, *, upgrade: bool = True, clock: Clock | None = None
    ) -> AsyncIterator[Store]:
        """A path (or ``:memory:``) opens SQLite; a ``postgresql://`` URL opens PostgreSQL."""
        if is_postgres_url(str(path)):
            # Imported here: a SQLite install never loads the PostgreSQL driver.
            from kcrush_bot.storage.postgres.store import PgStore

            async with PgStore.open(str(path), upgrade=upgrade, clock=clock) as pg:
                # The same repositories' methods over PostgreSQL (checked against every role
                # in storage/postgres/store.py, and by the store tests run on both backends).
                yield cast(Store, pg)
            return
        async with Database.open(path, upgrade=upgrade, clock=clock) as db:
            yield cls.over(db)

    async def stats(self) -> ArchiveStats:
        return await archive_stats(self)


if TYPE_CHECKING:
    # mypy proves here that the SQLite store fills every role the core defines.
    # (Ingest's role, ``sources.ports.SourceStore``, is checked where the publisher hands the
    # store to ``Ingestor``.)
    def _fills_every_role(store: Store) -> tuple[CommandStore, PublisherStore]:
        return store, store
