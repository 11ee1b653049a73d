"""The neutral reply model: what command handlers return and renderers turn into payloads.

A handler never knows which platform it serves. It returns one or more of these; each
platform's renderer (``core/render``) turns them into Telegram method calls, Discord message
JSON or console text, within that platform's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kcrush_bot.core.models import Post


@dataclass(frozen=True, slots=True)
class TeaserCard:
    """One post as fans see it: title, teaser, link, categories, date, image."""

    title: str
    teaser: str
    url: str
    categories: tuple[str, ...] = ()  # display names, not slugs
    published_at: datetime | None = None
    image_url: str | None = None

    @classmethod
    def from_post(cls, post: Post, category_names: dict[str, str] | None = None) -> TeaserCard:
        names = category_names or {}
        return cls(
            title=post.title,
            teaser=post.teaser,
            url=post.url,
            categories=tuple(names.get(slug, slug) for slug in post.categories),
            published_at=post.published_at,
            image_url=post.image_url,
        )


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a message. ``action`` comes back to the core when pressed (≤ 64 bytes)."""

    label: str
    action: str


@dataclass(frozen=True, slots=True)
class Text:
    """Plain text (renderers escape it). ``ephemeral``: only the caller sees it, where possible."""

    text: str
    title: str | None = None
    ephemeral: bool = False
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class Cards:
    """Teaser cards, one message each where the platform allows; ``intro`` goes first."""

    cards: tuple[TeaserCard, ...]
    intro: str | None = None


@dataclass(frozen=True, slots=True)
class ListItem:
    """One line of a list: a title with an optional link and detail (a snippet, a count)."""

    title: str
    url: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ListPage:
    """A page of a longer list (search results, categories, a digest).

    ``page`` counts from 1 and ``first`` is the number of the page's first item, so numbering
    continues across pages. ``buttons`` carry previous/next actions; a renderer that must split
    the page to respect a size limit sends several messages rather than dropping items.
    """

    title: str
    items: tuple[ListItem, ...]
    page: int = 1
    pages: int = 1
    total: int | None = None
    footer: str | None = None
    buttons: tuple[Button, ...] = ()
    first: int = 1


@dataclass(frozen=True, slots=True)
class Confirm:
    """Show ``preview`` and ask the caller to confirm or cancel (announcements)."""

    prompt: str
    preview: Text | Cards
    confirm: Button
    cancel: Button


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A short, friendly error: what went wrong and what would work. Always ephemeral."""

    message: str
    suggestions: tuple[str, ...] = field(default=())


Reply = Text | Cards | ListPage | Confirm | ErrorReply
