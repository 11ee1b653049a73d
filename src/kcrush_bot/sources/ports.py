"""What ingest needs from the store, and nothing more: a source's poll state, storing a poll's
posts and the site's categories, and recording the poll's outcome. ``storage.Store`` is the
implementation; every store call of ``ingest.py`` goes through this port.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from kcrush_bot.core.models import Post
from kcrush_bot.sources.kinds import CategoryRow


class StoredPosts(Protocol):
    """What storing a batch of posts did: the ids of new and updated posts."""

    @property
    def new(self) -> list[int]: ...

    @property
    def updated(self) -> list[int]: ...

    @property
    def unchanged(self) -> int: ...


class PollStates(Protocol):
    """``store.sources``: each source's poll state."""

    async def state(self, name: str) -> dict[str, Any] | None:
        """The source's row: ``etag``, ``last_modified``, ``first_seen_at``, ``failures``,
        ``next_poll_at`` (a database time) …; None for a source never polled."""
        ...

    async def record_poll(
        self,
        name: str,
        kind: str,
        url: str,
        *,
        ok: bool,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        next_poll_at: datetime | None = None,
        cursor: str | None = None,
    ) -> None: ...


class PostIntake(Protocol):
    """``store.posts``: where a reading's posts and categories go, each call one transaction."""

    async def upsert_wordpress_categories(self, rows: Iterable[CategoryRow]) -> None: ...

    async def upsert(
        self,
        posts: Iterable[Post],
        *,
        source: str | None,
        pushable: bool,
        authoritative: bool = False,
        silent_before: datetime | None = None,
    ) -> StoredPosts:
        """Store posts in one transaction; ``pushable=False`` archives them silently, and so
        is a new post published before ``silent_before``. ``authoritative``: the reading is
        the site's own record of its posts (see ``SourceKind.authoritative``)."""
        ...


class SourceStore(Protocol):
    @property
    def sources(self) -> PollStates: ...

    @property
    def posts(self) -> PostIntake: ...
