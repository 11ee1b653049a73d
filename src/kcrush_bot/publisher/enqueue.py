"""Fan-out: which chats get a post or an announcement, as outbox rows.

A post goes to every chat with an active INSTANT subscription that matches it: the
subscription's category is one of the post's categories or an ancestor of one (subscribing to
``interviews`` covers ``k-pop-interviews``), and, when the subscription has keywords, every
keyword appears in the title or teaser (case-insensitive). DAILY and WEEKLY subscriptions get
the post in their chat's digest instead. One row per chat, however many subscriptions match.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kcrush_bot.core.models import Post
from kcrush_bot.core.replies import Cards, TeaserCard, Text
from kcrush_bot.publisher.payloads import payload_of
from kcrush_bot.storage.db import to_db_time
from kcrush_bot.storage.outbox import NewRow


def sort_key(when: datetime, kind: str, number: int) -> str:
    """Publication order within a chat: the time, then the kind and a zero-padded id, so that
    two rows of the same second still sort the way they were published."""
    return f"{to_db_time(when)} {kind}:{number:012d}"


def post_rows(
    post: Post, published: datetime, chats: Sequence[str], category_names: dict[str, str]
) -> list[NewRow]:
    """One row per chat carrying the post's teaser card."""
    assert post.id is not None
    payload = payload_of(Cards((TeaserCard.from_post(post, category_names),)))
    key = sort_key(published, "post", post.id)
    return [NewRow(f"post:{post.id}", chat, payload, key) for chat in chats]


def announcement_rows(
    announcement_id: int, text: str, at: datetime, chats: Sequence[str]
) -> list[NewRow]:
    payload = payload_of(Text(text, title="Announcement"))
    key = sort_key(at, "announcement", announcement_id)
    return [NewRow(f"announcement:{announcement_id}", chat, payload, key) for chat in chats]
