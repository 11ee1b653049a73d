"""Ports: what the core needs from the outside, as Protocols. Adapters and the store implement them.

The core never imports aiosqlite or a platform SDK; it talks to these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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

# -- the store, by role ------------------------------------------------------------------------
#
# The store is a set of repositories, one per aggregate (``store.posts``, ``store.chats``,
# ``store.sources``, ``store.announcements``). Each role below names only the methods it calls;
# the SQLite repositories in ``kcrush_bot.storage`` implement them, and so must any other backend.
# What ingest needs is ``kcrush_bot.sources.ports.SourceStore``.


@dataclass(slots=True)
class UpsertResult:
    """What storing a batch of posts did: ids of new and of edited posts, and how many were
    already stored as they are."""

    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


class PostReader(Protocol):
    """The archive as the commands read it."""

    async def latest(self, limit: int = 5, category: str | None = None) -> list[Post]: ...

    async def search(
        self, query: str, *, limit: int = 10, offset: int = 0
    ) -> tuple[list[SearchHit], int]: ...

    async def categories(self) -> list[Category]: ...

    async def category_counts(self) -> list[CategoryCount]: ...

    async def for_chat_since(
        self,
        chat: ChatRef,
        since: datetime | None,
        *,
        limit: int = 200,
        pushable_only: bool = False,
    ) -> list[Post]: ...


class ChatBook(Protocol):
    """Chats' subscriptions and digests as the commands change and read them."""

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

    async def set_delivery(self, chat: ChatRef, mode: Mode) -> list[str]:
        """Give every subscription of ``chat`` the mode ``mode``; their categories."""
        ...

    async def unsubscribe(self, chat: ChatRef, categories: Sequence[str] | None) -> int: ...

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]: ...

    async def set_digest(self, schedule: DigestSchedule) -> None: ...

    async def clear_digest(self, chat: ChatRef) -> bool: ...

    async def digests(self, chat: ChatRef | None = None) -> list[DigestSchedule]: ...

    async def inactive(self) -> list[tuple[ChatRef, str]]: ...


class AnnouncementBook(Protocol):
    """Announcement drafts and the audit log, as the moderators' commands use them."""

    async def create(
        self,
        text: str,
        category: str | None,
        author: str,
        *,
        scheduled_for: datetime | None = None,
    ) -> int: ...

    async def get(self, announcement_id: int) -> Announcement | None: ...

    async def set_status(
        self, announcement_id: int, status: str, *, expect: str = "draft"
    ) -> bool: ...

    async def waiting(self) -> list[Announcement]: ...

    async def cancel(self, announcement_id: int) -> bool: ...

    async def audit(
        self, actor: str, action: str, *, chat: ChatRef | None = None, detail: Any = ""
    ) -> None: ...


class SourceHealthView(Protocol):
    """How the sources' polls are going (the status command)."""

    async def health(self) -> list[SourceHealth]: ...


class CommandStore(Protocol):
    """The store as the commands see it (implemented by ``storage.Store``)."""

    @property
    def posts(self) -> PostReader: ...

    @property
    def chats(self) -> ChatBook: ...

    @property
    def announcements(self) -> AnnouncementBook: ...

    @property
    def sources(self) -> SourceHealthView: ...

    async def stats(self) -> ArchiveStats: ...


class PublisherPosts(Protocol):
    """What fan-out and digests read of the archive."""

    async def categories(self) -> list[Category]: ...

    async def by_ids(self, ids: Sequence[int]) -> list[Post]: ...

    async def for_chat_since(
        self,
        chat: ChatRef,
        since: datetime | None,
        *,
        limit: int = 200,
        pushable_only: bool = False,
    ) -> list[Post]: ...


class PublisherChats(Protocol):
    """Who gets what, and what delivery learns about chats (blocked, moved)."""

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]: ...

    async def digests(self, chat: ChatRef | None = None) -> list[DigestSchedule]: ...

    async def mark_digest_sent(self, chat: ChatRef, at: datetime) -> None: ...

    async def deactivate(self, chat: ChatRef, reason: str) -> None: ...

    async def move(self, old: ChatRef, new: ChatRef) -> None: ...


class PublisherStore(Protocol):
    """The store as the publisher sees it, beside the outbox (which is storage's own)."""

    @property
    def posts(self) -> PublisherPosts: ...

    @property
    def chats(self) -> PublisherChats: ...


class DigestPosts(Protocol):
    """What assembling a digest reads of the archive."""

    async def for_chat_since(
        self,
        chat: ChatRef,
        since: datetime | None,
        *,
        limit: int = 200,
        pushable_only: bool = False,
    ) -> list[Post]: ...


class DigestChats(Protocol):
    """What assembling a digest reads of the chat."""

    async def subscriptions(self, chat: ChatRef | None = None) -> list[Subscription]: ...


class DigestStore(Protocol):
    """The store as ``core.digests.assemble_digest`` sees it: the publisher's and the
    commands' stores are both one, so the digest sent and the digest previewed are read alike."""

    @property
    def posts(self) -> DigestPosts: ...

    @property
    def chats(self) -> DigestChats: ...


class ScheduleView(Protocol):
    """What the scheduler can tell the commands (implemented by the publisher)."""

    def next_digest_times(self) -> dict[str, datetime]: ...


class PushView(Protocol):
    """What push can tell the ``status`` command (implemented by ``push.PushLedger``)."""

    def status_lines(self, now: datetime) -> list[str]: ...


class Notifier(Protocol):
    """Something to wake when work was enqueued (the delivery worker); optional."""

    def wake(self) -> None: ...

    @property
    def listening(self) -> bool:
        """Whether a delivery worker in this process hears the wake-up (``run``)."""
        ...


class Platform(Protocol):
    """A chat platform's adapter as the core and the publisher see it.

    ``async with platform:`` connects (and starts taking commands); leaving disconnects.
    ``send`` delivers one neutral reply to a chat and returns the platform's message ids. It
    raises only the core's delivery errors: ``RetryableDelivery`` (with ``retry_after`` when
    the platform gave one), ``PermanentDelivery`` (blocked, kicked, deleted: never retry) or
    ``ChatMoved`` (Telegram group → supergroup). ``edit`` and ``delete`` change messages it
    sent earlier, for a post that was edited or withdrawn.
    """

    name: str

    async def __aenter__(self) -> Platform: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def send(self, chat: ChatRef, reply: Reply) -> list[str]: ...

    async def edit(self, chat: ChatRef, message_ids: Sequence[str], reply: Reply) -> None:
        """Show ``reply`` in messages ``send`` made. An edit that changes nothing succeeds.
        Raises the delivery errors ``send`` does, and ``MessageGone`` when the message was
        deleted meanwhile."""
        ...

    async def delete(self, chat: ChatRef, message_ids: Sequence[str]) -> None:
        """Delete messages ``send`` made. ``CannotDelete`` when the platform refuses (the
        caller edits them instead); ``MessageGone`` when they are gone already."""
        ...

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

    ``outcome`` of a delivery: sent, retry, failed, unreachable (the chat is gone), moved;
    edited and withdrawn for a sent message that followed its post.
    """

    def delivered(self, platform: str, outcome: str) -> None: ...

    def rate_limited(self, platform: str) -> None: ...

    def polled(self, source: str, ok: bool) -> None: ...

    def push_notice(self, outcome: str) -> None: ...

    def command_seconds(self, name: str, seconds: float) -> None: ...


class SendBudget(Protocol):
    """A platform's one send budget (implemented by ``publisher.limits.Pacer``).

    The delivery worker and the adapter's command answers await the same budget, so together
    they stay under the platform's limits; ``reply=True`` goes before every delivery waiting.
    ``chat_key`` None takes an overall slot only.
    """

    async def acquire(self, chat_key: str | None = None, *, reply: bool = False) -> None: ...

    def pause_chat(self, chat_key: str, seconds: float) -> None: ...

    def pause_all(self, seconds: float) -> None: ...


@runtime_checkable
class PacedPlatform(Protocol):
    """A platform whose command answers count against the send budget it is given."""

    def pace_with(self, budget: SendBudget) -> None: ...


class Lease(Protocol):
    """Whether this process runs the singleton duties now: source polls, digests, scheduled
    announcements, reconciles, Telegram long polling. Of several replicas on one database one
    holds it at a time; a process alone on its database always does (``SOLE``)."""

    @property
    def held(self) -> bool: ...

    @property
    def shared(self) -> bool:
        """Whether other replicas may share the database (their rows in flight are theirs)."""
        ...


@runtime_checkable
class LeaseFollower(Protocol):
    """Something that starts or stops a singleton duty when the lease changes hands here."""

    async def lease_changed(self, held: bool) -> None: ...


@runtime_checkable
class LeasedIntake(Protocol):
    """A platform part of whose intake is a singleton duty (Telegram's long polling): it asks
    the lease before starting it and follows the lease's changes."""

    def follow_lease(self, lease: Lease) -> None: ...

    async def lease_changed(self, held: bool) -> None: ...


@runtime_checkable
class ShardedIntake(Protocol):
    """A platform whose intake is split into shards (Discord's gateway sessions). Alone on its
    database it runs every shard; of several replicas, after ``share_shards``, it runs those it
    is told to hold, and each shard runs in exactly one replica."""

    @property
    def shard_count(self) -> int:
        """How many shards there are; 0 when this platform runs no gateway at all."""
        ...

    def share_shards(self) -> None:
        """Other replicas share the shards: hold none until ``hold_shards`` says which."""
        ...

    async def hold_shards(self, shards: frozenset[int]) -> None:
        """Run exactly these shards: connect the new ones, and close the dropped ones before
        returning (their leases are given up only once no session is behind them)."""
        ...


class SoleLease:
    """The lease of a process alone on its database: always held, never shared."""

    held = True
    shared = False


SOLE: Lease = SoleLease()
