"""Fan-out: which chats get a post or an announcement, as outbox rows.

A post goes to every chat with an active INSTANT subscription that matches it: the
subscription's category is one of the post's categories or an ancestor of one (subscribing to
``interviews`` covers ``k-pop-interviews``), and, when the subscription has keywords, every
keyword appears in the title or teaser (case-insensitive). DAILY and WEEKLY subscriptions get
the post in their chat's digest instead. One row per chat, however many subscriptions match.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from kcrush_bot.core.categories import CategoryIndex
from kcrush_bot.core.commands.announce import ancestors
from kcrush_bot.core.models import Mode, Post, Subscription
from kcrush_bot.core.replies import Cards, TeaserCard, Text
from kcrush_bot.publisher.payloads import payload_of
from kcrush_bot.storage.outbox import NewRow, stamp

INSTANT = frozenset({Mode.INSTANT})
DIGEST_MODES = frozenset({Mode.DAILY, Mode.WEEKLY})


def sort_key(when: datetime, kind: str, number: int) -> str:
    """Publication order within a chat: the time, then the kind and a zero-padded id, so that
    two rows of the same second still sort the way they were published."""
    return f"{stamp(when)} {kind}:{number:012d}"


class SubscriptionIndex:
    """Active subscriptions grouped by category, for matching many posts against many chats."""

    def __init__(self, subscriptions: Iterable[Subscription], modes: Collection[Mode]) -> None:
        self.by_category: dict[str, list[Subscription]] = defaultdict(list)
        for sub in subscriptions:
            if sub.active and sub.mode in modes:
                self.by_category[sub.category].append(sub)

    def chats_for(self, post: Post, categories: CategoryIndex) -> list[str]:
        """Chat keys whose subscriptions match ``post``, sorted, each once."""
        covered: set[str] = set()
        for slug in post.categories:
            covered |= ancestors(categories, slug)
        text = f"{post.title} {post.teaser}".casefold()
        chats: set[str] = set()
        for slug in covered:
            for sub in self.by_category.get(slug, ()):
                if sub.chat.key in chats:
                    continue
                if all(word.casefold() in text for word in sub.keywords):
                    chats.add(sub.chat.key)
        return sorted(chats)


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
