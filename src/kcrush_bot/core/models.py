"""The bot's vocabulary: posts, categories, chats, subscriptions. Frozen, slotted, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from kcrush_bot.core.errors import BadInput


@dataclass(frozen=True, slots=True)
class Post:
    """One magazine post as stored: ``url`` is canonical and unique."""

    url: str
    title: str
    teaser: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    published_at: datetime | None = None
    modified_at: datetime | None = None
    image_url: str | None = None
    guid: str | None = None
    id: int | None = None
    wp_id: int | None = None  # WordPress's own id of the post, when the source says it

    def to_json(self) -> dict[str, Any]:
        """The JSON shape DESIGN.md §2 promises for ``--json`` output."""
        return {
            "id": self.id,
            "url": self.url,
            "title": self.title,
            "teaser": self.teaser,
            "categories": list(self.categories),
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "image_url": self.image_url,
        }


@dataclass(frozen=True, slots=True)
class Category:
    """A magazine category; ``parent`` makes ``interviews`` cover ``interviews/k-pop-interviews``."""

    slug: str
    name: str
    parent: str | None = None
    aliases: tuple[str, ...] = ()  # other names a fan may type
    site_names: tuple[str, ...] = ()  # names the site's feeds give it, where not ``name``


@dataclass(frozen=True, slots=True)
class CategoryCount:
    category: Category
    posts: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A search result. ``snippet`` marks matched words with HIGHLIGHT_START/END."""

    post: Post
    snippet: str
    score: float

    def to_json(self) -> dict[str, Any]:
        data = self.post.to_json()
        data["snippet"] = self.snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")
        data["score"] = round(self.score, 4)
        return data


# Snippet highlight markers: control characters that cleaning removes from stored text, so
# they can only come from the search engine. Renderers turn them into bold.
# The source name the bundled sample archive's posts are stored under. They exist only so a
# fresh install can answer: every real post outranks them, and the first real read replaces them.
SAMPLE_SOURCE = "sample"

HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"


class ChatKind(Enum):
    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


# Telegram chat ids are signed integers (groups and channels are negative) and forum topics
# positive ones; Discord channel and thread ids are snowflakes, unsigned 64-bit integers; the
# console's one chat has a name.
_CHAT_RE = re.compile(
    r"^(?:(telegram):(-?\d{1,19})(?:/(\d{1,19}))?"
    r"|(discord):(\d{1,20})"
    r"|(console):([a-z0-9_-]{1,64}))$"
)
_SNOWFLAKE_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True, order=True)
class ChatRef:
    """Where messages go: a platform's chat (or channel, or thread) and, on Telegram, a topic."""

    platform: str
    chat_id: str
    thread_id: str | None = None

    @property
    def key(self) -> str:
        base = f"{self.platform}:{self.chat_id}"
        return f"{base}/{self.thread_id}" if self.thread_id else base

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, text: str) -> ChatRef:
        """``telegram:ID``, ``telegram:ID/TOPIC`` or ``discord:ID``; anything else is BadInput."""
        match = _CHAT_RE.match(text.strip())
        if match and match.group(4) and int(match.group(5)) > _SNOWFLAKE_MAX:
            match = None
        if not match:
            raise BadInput(
                f"{text[:40]!r} is not a chat: write telegram:ID (a number such as "
                "-1001234567890), telegram:ID/TOPIC, or discord:ID (a channel or thread id "
                "such as 1200000000000000009)"
            )
        parts = [g for g in match.groups() if g is not None]
        platform, chat_id = parts[0], parts[1]
        thread_id = parts[2] if len(parts) > 2 else None
        return cls(platform, chat_id, thread_id)


class Mode(Enum):
    """How a subscription delivers: each post as it comes, in the chat's digest, or both.

    A digest's own frequency is DAILY or WEEKLY; BOTH is only ever a subscription's mode.
    """

    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Subscription:
    chat: ChatRef
    category: str
    mode: Mode = Mode.INSTANT
    keywords: tuple[str, ...] = ()
    active: bool = True
    inactive_reason: str | None = None


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """A chat's digest: ``frequency`` daily or weekly at ``time`` (HH:MM) in ``timezone``."""

    chat: ChatRef
    frequency: Mode
    time: str = "09:00"
    timezone: str = "Asia/Seoul"
    weekday: str = "mon"
    last_sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    id: int
    text: str
    category: str | None
    author: str
    status: str
    created_at: datetime
    confirmed_at: datetime | None = None
    scheduled_for: datetime | None = None


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    kind: str
    url: str
    state: str  # "new", "ok", "failing"
    last_polled_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    posts: int
    categories: int
    chats: int
    subscriptions: int
    active_subscriptions: int
    newest_post_at: datetime | None
    last_poll_at: datetime | None
    outbox: dict[str, int] = field(default_factory=dict)
    withdrawn_posts: int = 0  # posts that stopped being public, out of every list
    edits: int = 0  # sent messages edited because their post changed
    withdrawals: int = 0  # sent messages deleted or made tombstones for a withdrawn post
