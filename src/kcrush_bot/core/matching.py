"""Which chats a post reaches: categories with their children, modes and keyword filters.

One rule for instant delivery, digests and the digest preview, so what a chat is shown it
would also be sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

from kcrush_bot.core.categories import CategoryIndex, ancestors
from kcrush_bot.core.models import Mode, Post, Subscription

INSTANT = frozenset({Mode.INSTANT, Mode.BOTH})
DIGEST_MODES = frozenset({Mode.DAILY, Mode.WEEKLY, Mode.BOTH})


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
        # A keyword may be in the title, the teaser or one of the post's tags ("stray kids").
        text = " ".join([post.title, post.teaser, *post.tags]).casefold()
        chats: set[str] = set()
        for slug in covered:
            for sub in self.by_category.get(slug, ()):
                if sub.chat.key in chats:
                    continue
                if all(word.casefold() in text for word in sub.keywords):
                    chats.add(sub.chat.key)
        return sorted(chats)


def digest_posts(
    posts: Sequence[Post], subscriptions: Iterable[Subscription], categories: CategoryIndex
) -> list[Post]:
    """The posts a chat's daily or weekly subscriptions match (keywords included)."""
    index = SubscriptionIndex(subscriptions, DIGEST_MODES)
    return [p for p in posts if index.chats_for(p, categories)]
