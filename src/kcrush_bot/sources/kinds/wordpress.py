"""``wordpress``: the REST API's ``/wp/v2/posts?_embed``, with the site's categories.

A poll asks for the newest ``POLL_PER_PAGE`` posts, a backfill for pages of a hundred (the API's
maximum) up to the ``X-WP-TotalPages`` the first answer announces. Before parsing, the
categories endpoint is read in full, so posts carry their real category slugs and the store
learns each category's parent. WordPress explains its errors in JSON; those explanations are
kept in the one-line error.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from kcrush_bot.core.errors import SourceError
from kcrush_bot.settings import SourceSettings
from kcrush_bot.sources import wordpress
from kcrush_bot.sources.fetch import FetchStatusError
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds.base import (
    CategoryRow,
    Document,
    HttpKind,
    PageParser,
    Reader,
    is_web_url,
)

# The categories endpoint pages by a hundred; a site with more than 2,000 categories is not
# the kind of site this reads.
_MAX_CATEGORY_PAGES = 20


def _reason(exc: FetchStatusError, what: str) -> str:
    """An HTTP error from the REST API, with WordPress's own code and message when it sent one
    (``HTTP 404 Not Found: WordPress error rest_no_route: No route was found …``)."""
    try:
        wordpress.load_json(exc.body, what)
    except SourceError as reason:
        if str(reason).startswith("WordPress error"):
            return f"{exc}: {reason}"
    return str(exc)


class WordPressKind(HttpKind):
    name = "wordpress"

    def claims(self, target: str) -> bool:
        return is_web_url(target) and "/wp-json" in urlsplit(target).path.lower()

    def first_url(self, url: str, *, backfill: bool) -> str:
        per_page = wordpress.BACKFILL_PER_PAGE if backfill else wordpress.POLL_PER_PAGE
        return wordpress.posts_url(url, 1, per_page)

    def describe_failure(self, exc: FetchStatusError) -> str:
        return _reason(exc, "posts")

    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        return wordpress.parse_posts(body, ctx)

    async def parser(self, source: SourceSettings, first: Document, reader: Reader) -> PageParser:
        wordpress.load_json(first.body, "posts")  # a bad answer fails before more requests
        rows = await self._categories(source.url, reader)
        by_id = {wp_id: slug for wp_id, slug, _, _ in rows}

        def parse(body: bytes, ctx: ParseContext) -> Parsed:
            return wordpress.parse_posts(body, ctx, by_id)

        return PageParser(parse, tuple(rows))

    def page_url(self, url: str, page: int) -> str | None:
        return wordpress.posts_url(url, page, wordpress.BACKFILL_PER_PAGE)

    def page_count(self, first: Document) -> int | None:
        return wordpress.total_pages(first.headers)

    async def _categories(self, url: str, reader: Reader) -> list[CategoryRow]:
        rows: list[CategoryRow] = []
        page, last = 1, 1
        while page <= last:
            try:
                answer = await reader.get(wordpress.categories_url(url, page))
            except FetchStatusError as exc:
                raise SourceError(f"categories: {_reason(exc, 'categories')}") from None
            except SourceError as exc:
                raise SourceError(f"categories: {exc}") from None
            try:
                rows += await asyncio.to_thread(wordpress.parse_categories, answer.body)
            except SourceError as exc:
                raise SourceError(f"categories: {exc}") from None
            last = min(wordpress.total_pages(answer.headers) or 1, _MAX_CATEGORY_PAGES)
            page += 1
        return rows
