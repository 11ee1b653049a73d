"""Source kinds, one module each, and the registry that names them.

``builtin_kinds`` is the one place a kind is registered: a new kind is a module here (usually an
``HttpKind`` subclass with a ``parse``) and one entry in its list. The ingest engine looks kinds
up by name and never asks which one it has. ``settings.SOURCE_KINDS`` names the same kinds for
the configuration check, which runs long before this package is imported (a test keeps the two
lists equal).
"""

from __future__ import annotations

from collections.abc import Iterable

from kcrush_bot.core.errors import SourceError
from kcrush_bot.sources.kinds.base import (
    CategoryRow,
    Document,
    HttpKind,
    PageParser,
    Reader,
    SourceKind,
    Validators,
)
from kcrush_bot.sources.kinds.feed import FeedKind
from kcrush_bot.sources.kinds.file import LocalFileKind
from kcrush_bot.sources.kinds.listing import ListingKind
from kcrush_bot.sources.kinds.sniffed import SniffedKind
from kcrush_bot.sources.kinds.wordpress import WordPressKind

__all__ = [
    "CategoryRow",
    "Document",
    "HttpKind",
    "KindRegistry",
    "PageParser",
    "Reader",
    "SourceKind",
    "Validators",
    "builtin_kinds",
]


class KindRegistry:
    """Source kinds by name, in the order an ad-hoc target is offered to them; ``fallback``
    takes a target none of them claims."""

    def __init__(self, kinds: Iterable[SourceKind], *, fallback: SourceKind) -> None:
        self._kinds = {kind.name: kind for kind in kinds}
        self._fallback = fallback
        self._by_name = {**self._kinds, fallback.name: fallback}

    @property
    def names(self) -> tuple[str, ...]:
        """The kinds a ``[[sources]]`` entry may name."""
        return tuple(self._kinds)

    def named(self, name: str) -> SourceKind:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._kinds)
            raise SourceError(f"unknown source kind {name!r} (known: {known})") from None

    def for_target(self, target: str) -> SourceKind:
        """The kind an ad-hoc URL or path is read as."""
        return next((k for k in self._kinds.values() if k.claims(target)), self._fallback)

    def with_kind(self, kind: SourceKind) -> KindRegistry:
        """This registry and one more kind (a kind of the same name is replaced)."""
        return KindRegistry([*self._kinds.values(), kind], fallback=self._fallback)


def builtin_kinds() -> KindRegistry:
    """Every kind the bot reads, in the order an ad-hoc target is matched against them."""
    wordpress, feed, listing = WordPressKind(), FeedKind(), ListingKind()
    return KindRegistry(
        [wordpress, feed, listing, LocalFileKind()],
        fallback=SniffedKind(feed=feed, html=listing, json=wordpress),
    )
