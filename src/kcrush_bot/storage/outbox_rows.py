"""The outbox's values: row states, error prefixes, and the rows going in and coming out.

Kept apart from the SQL in ``outbox.py`` so that module stays about the table's queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
DROPPED = "dropped"

# ``last_error`` prefixes: a row backing off after a timeout or a 5xx is released at once when
# its platform recovers; a row waiting out a 429's retry_after is not (that wait is owed).
TRANSIENT = "transient: "
RATE_LIMITED = "rate limited: "


def platform_range(platform: str) -> tuple[str, str]:
    """Chat keys of ``platform`` lie in [``platform:``, ``platform;``): an index-friendly range."""
    return f"{platform}:", f"{platform};"


@dataclass(frozen=True, slots=True)
class NewRow:
    """One message to enqueue for one chat."""

    item: str  # "post:ID", "announcement:ID", "digest:CHAT:WHEN#PAGE"
    chat_key: str
    payload: dict[str, Any]
    sort_key: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed row: what the worker sends."""

    id: int
    item: str
    chat_key: str
    payload: str
    sort_key: str
    attempts: int

    @property
    def platform(self) -> str:
        return self.chat_key.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class Shown:
    """What a post's sent message shows after an edit or a withdrawal reached it: recorded on
    that message's row (``target``) with the outcome. ``payload`` the card now shown (None:
    unchanged); ``shown`` None for the card, or 'deleted', 'tombstone', 'gone'."""

    target: int
    payload: str | None
    shown: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one send, committed in a group with others (see ``Outbox.record``)."""

    row_id: int
    status: str  # sent, pending (retry), failed
    at: str
    message_id: str | None = None
    due_at: str | None = None
    attempts: int | None = None
    error: str | None = None
    follow: Shown | None = None


@dataclass(frozen=True, slots=True)
class PostMessage:
    """A row about one post in one chat: its delivery (``post:ID``), or an edit (``edit:ID``)
    or a withdrawal (``withdraw:ID``) of the message that delivery made."""

    id: int
    post_id: int
    kind: str  # post, edit, withdraw
    chat_key: str
    status: str
    payload: str
    message_id: str | None
    sent_at: datetime | None
    shown: str | None
    last_error: str | None
    due_at: datetime


@dataclass(slots=True)
class PostPlan:
    """What the messages of changed posts need (see ``Outbox.follow_posts``)."""

    drop: list[tuple[int, str]] = field(default_factory=list)  # row id, reason
    refresh: list[tuple[int, str]] = field(default_factory=list)  # pending row id, payload
    resend: list[tuple[int, str]] = field(default_factory=list)  # row id, payload
    arm: list[tuple[NewRow, datetime]] = field(default_factory=list)  # edit/withdraw, due

    def __bool__(self) -> bool:
        return bool(self.drop or self.refresh or self.resend or self.arm)


@dataclass(frozen=True, slots=True)
class Backlog:
    """A platform's rows still to send, and when the oldest of them was queued."""

    pending: int
    oldest_created_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of delivery history: a message for one chat and what became of it."""

    id: int
    item: str  # "post:ID", "announcement:ID", "digest:CHAT:WHEN#PAGE"
    chat_key: str
    status: str  # pending, sending, sent, failed, dropped
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    message_ids: tuple[str, ...]
    error: str | None  # why it failed, or the last retry's reason
    post_url: str | None
    post_title: str | None
