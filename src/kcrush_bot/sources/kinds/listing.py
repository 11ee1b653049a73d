"""``listing``: a site's HTML listing pages (a category page, the front page), for sites whose
feeds are off. A backfill pages with ``/page/N/``.

An empty first page is an error, not a quiet site: a listing always shows posts, so finding none
means the theme's markup is not what the parser expects.
"""

from __future__ import annotations

from kcrush_bot.core.errors import SourceError
from kcrush_bot.settings import SourceSettings
from kcrush_bot.sources import listing
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds.base import Document, HttpKind


class ListingKind(HttpKind):
    name = "listing"
    categories_from_url = True

    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        return listing.parse_listing_html(body, ctx)

    def check_first_page(self, source: SourceSettings, first: Document, parsed: Parsed) -> None:
        if not parsed.posts and not parsed.skipped:
            raise SourceError(
                "no posts found on the page (expected <article> items with an <h2><a> title link)"
            )

    def page_url(self, url: str, page: int) -> str | None:
        return listing.page_url(url, page)
