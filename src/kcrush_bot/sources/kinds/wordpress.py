"""``wordpress``: the REST API's ``/wp/v2/posts?_embed``, with the site's categories.

The first poll of a source reads the newest ``POLL_PER_PAGE`` posts. Every poll after it asks
only for what changed since the one before, in two small queries: posts modified since the
newest modification seen (``orderby=modified&modified_after=…``), so an edit to any post is
seen, not only to the newest page; and posts dated since the newest publication seen
(``orderby=date&after=…``), since a scheduled post goes live without a new ``modified``. Where
the last poll stopped is the source's cursor (``Validators.cursor``); when nothing changed both
answers are ``[]``. A backfill reads pages of a hundred (the API's maximum) up to the
``X-WP-TotalPages`` the first answer announces.

When an answer has posts, the categories endpoint is read in full before parsing, so posts
carry their real category slugs and the store learns each category's parent. WordPress
explains its errors in JSON; those explanations are kept in the one-line error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from kcrush_bot.core.errors import SourceError
from kcrush_bot.settings import SourceSettings
from kcrush_bot.sources import wordpress
from kcrush_bot.sources.fetch import Fetched, FetchStatusError
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds.base import (
    CategoryRow,
    Document,
    HttpKind,
    PageParser,
    Reader,
    Validators,
    is_web_url,
)
from kcrush_bot.sources.normalise import canonical_url

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
    authoritative = True

    def claims(self, target: str) -> bool:
        return is_web_url(target) and "/wp-json" in urlsplit(target).path.lower()

    def first_url(self, url: str, *, backfill: bool) -> str:
        per_page = wordpress.BACKFILL_PER_PAGE if backfill else wordpress.POLL_PER_PAGE
        return wordpress.posts_url(url, 1, per_page)

    def describe_failure(self, exc: FetchStatusError) -> str:
        return _reason(exc, "posts")

    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        return wordpress.parse_posts(body, ctx)

    async def read_first(
        self,
        source: SourceSettings,
        previous: Validators | None,
        *,
        backfill: bool,
        reader: Reader,
    ) -> Document:
        cursor = wordpress.Cursor.load(previous.cursor if previous else None)
        if backfill:
            return await super().read_first(source, previous, backfill=True, reader=reader)
        if cursor is None:
            return await self._first_sight(source, reader)
        changed, changed_items, more_changes = await self._since(
            wordpress.changed_url, source.url, cursor.modified, reader
        )
        _, published_items, more_published = await self._since(
            wordpress.published_url, source.url, cursor.published, reader
        )
        now = wordpress.server_time(changed.headers)
        modified = wordpress.advance(
            cursor.modified,
            wordpress.post_times(changed_items, "modified_gmt"),
            full_page=more_changes,
            server_now=now,
        )
        dated = wordpress.advance(
            cursor.published,
            wordpress.post_times(published_items, "date_gmt"),
            full_page=more_published,
            server_now=now,
        )
        merged: dict[object, object] = {}
        for item in [*changed_items, *published_items]:
            key = item.get("id") if isinstance(item, dict) else None
            merged[key if key is not None else len(merged)] = item
        body = json.dumps(list(merged.values())).encode() if merged else b"[]"
        after = wordpress.Cursor(modified or cursor.modified, dated or cursor.published)
        return Document(
            body,
            Validators(cursor=after.dump()),
            changed.headers,
            news_since=cursor.published - wordpress.NEWS_WINDOW,
        )

    async def _first_sight(self, source: SourceSettings, reader: Reader) -> Document:
        """The newest page, and a cursor from now on: edits made before the bot knew the site
        are not asked for."""
        answer = await self._get(
            wordpress.posts_url(source.url, 1, wordpress.POLL_PER_PAGE), reader
        )
        items = await asyncio.to_thread(wordpress.load_posts, answer.body)
        now = wordpress.server_time(answer.headers)
        modified = wordpress.advance(
            None,
            [] if now is not None else wordpress.post_times(items, "modified_gmt"),
            full_page=False,
            server_now=now,
        )
        dated = wordpress.advance(
            None, wordpress.post_times(items, "date_gmt"), full_page=False, server_now=now
        )
        if modified is None and now is not None:
            modified = now - wordpress.SAME_SECOND
        if dated is None:
            dated = modified
        validators = Validators()
        if modified is not None and dated is not None:
            validators = Validators(cursor=wordpress.Cursor(modified, dated).dump())
        return Document(answer.body, validators, answer.headers)

    async def _since(
        self,
        make_url: Callable[[str, datetime, int], str],
        url: str,
        since: datetime,
        reader: Reader,
    ) -> tuple[Fetched, list[Any], bool]:
        """Every post a "since" query finds, oldest first, page after page while pages come
        full (a bulk edit can change more posts in one second than a page holds), up to
        ``CHANGES_MAX_PAGES``. Returns the first answer, the posts, and whether more may remain.

        Should the total change while paging (a post edited meanwhile moves to the end and
        shifts the rest back one), only the first page is kept and reported as "more": the
        next poll asks again from there rather than step over a shifted post.
        """
        first = await self._get(make_url(url, since, 1), reader)
        items = list(await asyncio.to_thread(wordpress.load_posts, first.body))
        total = first.headers.get("x-wp-total")
        full = len(items) >= wordpress.CHANGES_PER_PAGE
        page = 1
        while full and page < wordpress.CHANGES_MAX_PAGES:
            page += 1
            try:
                answer = await reader.get(make_url(url, since, page))
            except FetchStatusError as exc:
                if exc.status in (400, 404):  # past the last page after all
                    return first, items, False
                raise SourceError(self.describe_failure(exc)) from None
            if answer.headers.get("x-wp-total") != total:
                return first, items[: wordpress.CHANGES_PER_PAGE], True
            more = await asyncio.to_thread(wordpress.load_posts, answer.body)
            items += more
            full = len(more) >= wordpress.CHANGES_PER_PAGE
        return first, items, full

    async def _get(self, url: str, reader: Reader) -> Fetched:
        try:
            return await reader.get(url)
        except FetchStatusError as exc:
            raise SourceError(self.describe_failure(exc)) from None

    async def parser(self, source: SourceSettings, first: Document, reader: Reader) -> PageParser:
        items = wordpress.load_posts(first.body)  # a bad answer fails before more requests
        if not items:
            return PageParser(self.parse)  # nothing changed: the categories are not read
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


# A post answered with one of these is not public (401 rest_forbidden for a draft, a private or
# a trashed post; 404 rest_post_invalid_id for a deleted one).
_NOT_PUBLIC = (401, 403, 404, 410)


async def visibility(url: str, wp_ids: Sequence[int], reader: Reader) -> tuple[set[int], set[int]]:
    """Which of these posts WordPress shows publicly, and which it no longer shows: each
    hundred asked for in one request (``include=``); one missing from that answer is asked
    for alone, and counts as gone only when WordPress answers it with 401 or 404 (any other
    failure leaves it in neither set). A failure of the list request raises ``SourceError``:
    nothing is taken for gone on a bad answer."""
    public: set[int] = set()
    gone: set[int] = set()
    ids = sorted(set(wp_ids))
    for start in range(0, len(ids), wordpress.BACKFILL_PER_PAGE):
        chunk = ids[start : start + wordpress.BACKFILL_PER_PAGE]
        try:
            answer = await reader.get(wordpress.listed_url(url, chunk))
        except FetchStatusError as exc:
            raise SourceError(_reason(exc, "posts")) from None
        listed = {
            item.get("id"): item
            for item in wordpress.load_posts(answer.body)
            if isinstance(item, dict)
        }
        for wp_id in chunk:
            item = listed.get(wp_id)
            if item is not None:
                (public if wordpress.is_public(item) else gone).add(wp_id)
                continue
            try:
                alone = await reader.get(wordpress.post_url(url, wp_id))
            except FetchStatusError as exc:
                if exc.status in _NOT_PUBLIC:
                    gone.add(wp_id)
                continue
            except SourceError:
                continue
            posts = wordpress.load_posts(alone.body)
            (public if posts and wordpress.is_public(posts[0]) else gone).add(wp_id)
    return public, gone


async def ids_by_link(
    url: str, links: Sequence[str], site_host: str, reader: Reader
) -> dict[str, int]:
    """WordPress's ids of posts known only by their canonical link (a feed's item whose guid is
    a permalink): asked for by slug (the link's last part), a hundred at a time, and kept only
    where WordPress's link for that id is the same post's link. A post not found is left
    unknown, never taken for gone: its slug may have changed."""
    by_slug: dict[str, list[str]] = {}
    for link in links:
        slug = unquote(urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1])
        if slug:
            by_slug.setdefault(slug, []).append(link)
    found: dict[str, int] = {}
    slugs = sorted(by_slug)
    for start in range(0, len(slugs), wordpress.BACKFILL_PER_PAGE):
        chunk = slugs[start : start + wordpress.BACKFILL_PER_PAGE]
        try:
            answer = await reader.get(wordpress.by_slug_url(url, chunk))
        except FetchStatusError as exc:
            raise SourceError(_reason(exc, "posts")) from None
        for item in wordpress.load_posts(answer.body):
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                continue
            theirs = canonical_url(item.get("link"), site_host)
            if theirs is not None and theirs in links:
                found[theirs] = item["id"]
    return found
