"""Digest content: what a chat's subscriptions matched since its last digest, as list pages.

``assemble_digest`` is the one way a digest is put together: the publisher sends what it
returns, and ``/digest preview`` and ``kcrush-bot digest preview`` show what it returns, so a
preview is what the chat would be sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kcrush_bot.core.categories import CategoryIndex
from kcrush_bot.core.matching import digest_posts
from kcrush_bot.core.models import DigestSchedule, Mode, Post
from kcrush_bot.core.ports import DigestStore
from kcrush_bot.core.replies import ListItem, ListPage, Reply, Text

DIGEST_PAGE_SIZE = 10


def digest_window_start(schedule: DigestSchedule, now: datetime) -> datetime:
    """Since the last digest; a chat's first digest covers one period back."""
    if schedule.last_sent_at is not None:
        return schedule.last_sent_at
    return now - (timedelta(days=7) if schedule.frequency is Mode.WEEKLY else timedelta(days=1))


def build_digest(
    posts: Sequence[Post],
    *,
    frequency: Mode,
    category_names: dict[str, str],
    max_items: int = 50,
    send_empty: bool = False,
) -> list[Reply]:
    """The digest as pages of at most ten posts each; every post listed, none dropped silently."""
    label = "Weekly" if frequency is Mode.WEEKLY else "Daily"
    if not posts:
        return [Text(f"{label} digest: nothing new this time.")] if send_empty else []
    shown = list(posts[:max_items])
    pages = math.ceil(len(shown) / DIGEST_PAGE_SIZE)
    replies: list[Reply] = []
    for number in range(1, pages + 1):
        chunk = shown[(number - 1) * DIGEST_PAGE_SIZE : number * DIGEST_PAGE_SIZE]
        items = tuple(
            ListItem(
                title=p.title,
                url=p.url,
                detail=" · ".join(category_names.get(c, c) for c in p.categories) or None,
            )
            for p in chunk
        )
        footer = None
        if number == pages and len(posts) > len(shown):
            footer = f"…and {len(posts) - len(shown)} more: /latest shows the newest."
        replies.append(
            ListPage(
                title=f"{label} digest: {len(posts)} new post{'s' if len(posts) != 1 else ''}",
                items=items,
                page=number,
                pages=pages,
                total=len(posts),
                footer=footer,
            )
        )
    return replies


@dataclass(frozen=True, slots=True)
class Digest:
    """A chat's digest: the posts it covers and the pages that list them (none when empty and
    empty digests are not sent)."""

    posts: list[Post]
    replies: list[Reply]


async def assemble_digest(
    store: DigestStore,
    categories: CategoryIndex,
    schedule: DigestSchedule,
    now: datetime,
    *,
    max_items: int,
    send_empty: bool,
) -> Digest:
    """The digest ``schedule``'s chat gets at ``now``: the pushable posts since its last digest
    (a source's silent first sight is archive, not news) that its daily or weekly
    subscriptions match, keywords included."""
    chat = schedule.chat
    since = digest_window_start(schedule, now)
    found = await store.posts.for_chat_since(chat, since, pushable_only=True)
    posts = digest_posts(found, await store.chats.subscriptions(chat), categories)
    replies = build_digest(
        posts,
        frequency=schedule.frequency,
        category_names=categories.names(),
        max_items=max_items,
        send_empty=send_empty,
    )
    return Digest(posts, replies)
