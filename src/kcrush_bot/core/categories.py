"""Category names as fans type them: slugs, display names, aliases and parent/child paths."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from kcrush_bot.core.models import Category, CategoryCount

_FOLD = re.compile(r"[\s_]+")


def fold(name: str) -> str:
    """``"K-Pop Interviews"``, ``"#k_pop_interviews"`` → ``"k-pop-interviews"``."""
    return _FOLD.sub("-", name.strip().lstrip("#").lower()).strip("-/")


class CategoryIndex:
    """Resolves what a fan typed to a category slug, and suggests close names when it can't."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self.by_slug: dict[str, Category] = {}
        self._names: dict[str, str] = {}
        for cat in categories:
            self.by_slug[cat.slug] = cat
        # Slugs win over names, names over aliases: "kpop" is the K-Pop category even if
        # another category lists "kpop interviews" among its aliases.
        cats = list(self.by_slug.values())
        ranked = [(c, [c.slug, f"{c.parent}/{c.slug}" if c.parent else c.slug]) for c in cats]
        ranked += [(c, [c.name]) for c in cats]
        ranked += [(c, list(c.aliases)) for c in cats]
        for cat, keys in ranked:
            for key in keys:
                self._names.setdefault(fold(key), cat.slug)

    def __contains__(self, slug: object) -> bool:
        return slug in self.by_slug

    def __len__(self) -> int:
        return len(self.by_slug)

    def resolve(self, name: str) -> str | None:
        return self._names.get(fold(name))

    def name_of(self, slug: str) -> str:
        cat = self.by_slug.get(slug)
        return cat.name if cat else slug

    def names(self) -> dict[str, str]:
        return {slug: cat.name for slug, cat in self.by_slug.items()}

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Slugs whose slug, name or alias is close to ``name``."""
        folded = fold(name)[:64]
        # Close means a typo away ("inteviews"), not a few shared letters ("nonsense" is not
        # "breaking"); a prefix counts when it is a real start of a word being typed.
        close = difflib.get_close_matches(folded, list(self._names), n=limit * 3, cutoff=0.75)
        prefixed = [key for key in self._names if len(folded) >= 3 and key.startswith(folded)]
        slugs: list[str] = []
        for key in [*close, *prefixed]:
            slug = self._names[key]
            if slug not in slugs:
                slugs.append(slug)
        return slugs[:limit]

    def complete(self, prefix: str, limit: int = 25) -> list[Category]:
        """Categories whose slug or name starts with (or contains) ``prefix``: autocomplete."""
        folded = fold(prefix)
        ranked = sorted(
            self.by_slug.values(),
            key=lambda c: (
                not (c.slug.startswith(folded) or fold(c.name).startswith(folded)),
                c.slug,
            ),
        )
        return [c for c in ranked if not folded or folded in c.slug or folded in fold(c.name)][
            :limit
        ]


def category_tree(counts: Iterable[CategoryCount]) -> list[tuple[int, CategoryCount]]:
    """The categories worth showing, each parent followed by its children, as (depth, count).

    Every list of categories (``/category``, ``kcrush-bot categories``, its ``--json``) shows
    this same set: the categories with at least one post, their children's included, so an
    empty "Uncategorized" is shown nowhere. Within a level, names sort alphabetically.
    """
    shown = {c.category.slug: c for c in counts if c.posts}
    children: dict[str | None, list[CategoryCount]] = {}
    for count in shown.values():
        parent = count.category.parent if count.category.parent in shown else None
        children.setdefault(parent, []).append(count)
    tree: list[tuple[int, CategoryCount]] = []

    def visit(parent: str | None, depth: int) -> None:
        for count in sorted(children.get(parent, []), key=lambda c: c.category.name.lower()):
            tree.append((depth, count))
            visit(count.category.slug, depth + 1)

    visit(None, 0)
    return tree


def ancestors(index: CategoryIndex, slug: str) -> set[str]:
    """``slug`` and every category above it (a chat subscribed to a parent gets its children)."""
    seen: set[str] = set()
    current: str | None = slug
    while current and current not in seen:
        seen.add(current)
        cat = index.by_slug.get(current)
        current = cat.parent if cat else None
    return seen
