"""What every parser shares: the context a document is read in and the collector that turns raw
items into clean, canonical, deduplicated ``Post`` objects (or counts them as skipped)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from kcrush_bot.core.models import Post
from kcrush_bot.core.times import as_utc
from kcrush_bot.sources.clean import clean_title, make_teaser
from kcrush_bot.sources.normalise import (
    DEFAULT_SITE_HOST,
    CategoryMap,
    canonical_guid,
    canonical_url,
)

log = logging.getLogger(__name__)

# What WordPress puts in place of a password-protected post's text, in every feed, listing and
# theme: the excerpt sentence of ``get_the_excerpt`` and the password form of
# ``get_the_password_form``. A post showing either is never stored.
_WP_GUID = re.compile(r"^https://([^/]+)/\?p=(\d{1,18})$")
_PROTECTED_MARKERS = (
    "there is no excerpt because this is a protected post",
    "post-password-form",
    "action=postpass",
    "this content is password protected",
)


def wordpress_id(guid: str | None, site_host: str) -> int | None:
    """The post id in a WordPress guid of this site (``https://<site>/?p=123`` → 123)."""
    if not guid:
        return None
    match = _WP_GUID.match(guid)
    if match is None or match.group(1).lower() != site_host.lower():
        return None
    return int(match.group(2))


def shows_protected(*texts: Any) -> bool:
    """Whether any of a post's texts (HTML or plain) is WordPress's stand-in for a protected
    post's excerpt or content."""
    for text in texts:
        if isinstance(text, str) and text:
            lowered = text.casefold()
            if any(marker in lowered for marker in _PROTECTED_MARKERS):
                return True
    return False


@dataclass(frozen=True, slots=True)
class ParseContext:
    """Where a document came from and how to read it."""

    cmap: CategoryMap
    site_host: str = DEFAULT_SITE_HOST
    base_url: str | None = None  # resolves relative links
    teaser_chars: int = 300
    extra_categories: tuple[str, ...] = ()  # the source's own categories, added to every item

    def at(self, base_url: str | None) -> ParseContext:
        return replace(self, base_url=base_url)


@dataclass(slots=True)
class Parsed:
    """A parsed document: its posts (canonical, deduplicated), what was skipped, and a warning."""

    posts: list[Post] = field(default_factory=list)
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    warning: str | None = None


def to_utc(value: datetime | None) -> datetime | None:
    """``value`` in UTC; a time without an offset is taken to be UTC already."""
    return None if value is None else as_utc(value)


def iso_utc(value: Any) -> datetime | None:
    """An ISO 8601 time from a document (JSON field, ``<time datetime>``) in UTC, or None.

    Anything that is not a non-empty string or does not parse as one gives None, not an error.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return to_utc(parsed)


def safe_image_url(url: Any, base: str | None) -> str | None:
    """An image link as given (CDN hosts are fine), but only http(s) and never absurdly long."""
    if not isinstance(url, str) or not url.strip():
        return None
    text = url.strip().split()[0]
    try:
        text = urljoin(base, text) if base else text
        if urlsplit(text).scheme not in ("http", "https"):
            return None
    except ValueError:
        return None
    return text if len(text) <= 2000 else None


class PostCollector:
    """Builds posts for one document: cleans, canonicalises, skips and merges duplicates.

    Duplicates within a document (the same post under two categories in a merged feed, or an
    http and an https link) become one post with the categories and tags of both.
    """

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self._posts: dict[str, Post] = {}
        self._by_guid: dict[str, str] = {}
        self.skip_reasons: Counter[str] = Counter()

    def skip(self, reason: str) -> None:
        self.skip_reasons[reason] += 1

    def add(
        self,
        *,
        link: Any,
        title: Any,
        teaser: Any = None,
        categories: Iterable[str] = (),
        tags: Iterable[str] = (),
        published_at: datetime | None = None,
        modified_at: datetime | None = None,
        image_url: str | None = None,
        guid: Any = None,
        protected: bool = False,
        wp_id: Any = None,
    ) -> Post | None:
        if protected or shows_protected(teaser):
            self.skip("password-protected")
            log.debug("skipped protected item %r", title)
            return None
        url = (
            canonical_url(link, self.ctx.site_host, base=self.ctx.base_url)
            if isinstance(link, str)
            else None
        )
        if url is None:
            self.skip("no usable link" if not link else "link not on the site or on staging")
            log.debug("skipped item %r: link %r", title, link)
            return None
        clean = clean_title(title) if isinstance(title, str) else ""
        if not clean:
            self.skip("no title")
            return None
        cats = list(dict.fromkeys([*categories, *self.ctx.extra_categories]))
        stable = canonical_guid(guid, self.ctx.site_host) if isinstance(guid, str) else None
        if not isinstance(wp_id, int) or isinstance(wp_id, bool) or wp_id <= 0:
            wp_id = wordpress_id(stable, self.ctx.site_host)
        post = Post(
            url=url,
            title=clean,
            teaser=make_teaser(teaser, self.ctx.teaser_chars) if isinstance(teaser, str) else "",
            categories=tuple(cats),
            tags=tuple(dict.fromkeys(tags)),
            published_at=to_utc(published_at),
            modified_at=to_utc(modified_at),
            image_url=image_url,
            guid=stable,
            wp_id=wp_id,
        )
        key = url
        if key not in self._posts and post.guid and post.guid in self._by_guid:
            key = self._by_guid[post.guid]
        existing = self._posts.get(key)
        if existing is not None:
            post = replace(
                existing,
                categories=tuple(dict.fromkeys([*existing.categories, *post.categories])),
                tags=tuple(dict.fromkeys([*existing.tags, *post.tags])),
                teaser=existing.teaser or post.teaser,
                image_url=existing.image_url or post.image_url,
            )
        self._posts[key] = post
        if post.guid:
            self._by_guid.setdefault(post.guid, key)
        return post

    def result(self, **extra: Any) -> Parsed:
        return Parsed(
            posts=list(self._posts.values()),
            skipped=sum(self.skip_reasons.values()),
            skip_reasons=self.skip_reasons,
            **extra,
        )
