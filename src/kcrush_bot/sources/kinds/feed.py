"""``feed``: an RSS or Atom feed (WordPress's ``/feed/``, ``/category/<slug>/feed/``).

A backfill pages with ``?paged=N``, as WordPress feeds do. A category feed's URL names its
category, and every post in it gets that category even when the item does not list it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kcrush_bot.sources.feed import parse_feed
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds.base import HttpKind, is_web_url

_FEED_ENDINGS = ("/feed", ".xml", ".rss", ".atom", "/rss", "/atom")


def feed_page_url(url: str, page: int) -> str:
    """WordPress feeds page with ``?paged=N``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "paged"]
    if page > 1:
        query.append(("paged", str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


class FeedKind(HttpKind):
    name = "feed"
    categories_from_url = True

    def claims(self, target: str) -> bool:
        parts = urlsplit(target)
        path = parts.path.rstrip("/").lower()
        return is_web_url(target) and (path.endswith(_FEED_ENDINGS) or "feed=" in parts.query)

    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        return parse_feed(body, ctx)

    def page_url(self, url: str, page: int) -> str | None:
        return feed_page_url(url, page)
