"""The WordPress REST API: ``/wp-json/wp/v2/posts?_embed`` and ``/wp-json/wp/v2/categories``.

Posts bring their real category ids, resolved to slugs through the categories endpoint (which
also gives each category's parent, stored so that subscribing to ``interviews`` covers
``k-pop-interviews``); tags and, as a fallback, category slugs come from
``_embedded["wp:term"]``; the featured image from ``_embedded["wp:featuredmedia"]``. Titles and
excerpts are HTML (``title.rendered``). Paging follows the ``X-WP-TotalPages`` header.

WordPress answers errors as JSON ``{"code": "rest_no_route", "message": …}``, often with a 200
behind caching plugins; those become a ``SourceError`` naming the code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kcrush_bot.core.errors import SourceError
from kcrush_bot.sources.clean import clean_title
from kcrush_bot.sources.items import ParseContext, Parsed, PostCollector, iso_utc, safe_image_url

log = logging.getLogger(__name__)

POLL_PER_PAGE = 20
BACKFILL_PER_PAGE = 100  # WordPress's maximum
CHANGES_PER_PAGE = 100
# How many pages of changes one poll takes; the rest wait for the next poll.
CHANGES_MAX_PAGES = 10
# WordPress keeps times to the second. A cursor never moves past "two seconds before the
# server's clock", so a post saved in the same second as the newest one seen, but after the
# answer was made, is still after the cursor next time.
SAME_SECOND = timedelta(seconds=2)
# A post the archive has never had, dated this long before the newest post seen, is an old
# post that changed (the change query found it), not news: it is archived silently.
NEWS_WINDOW = timedelta(days=2)


def api_root(url: str) -> str:
    """``https://host/wp-json`` from a site URL, an API URL or a posts endpoint URL."""
    parts = urlsplit(url)
    path = parts.path
    if "/wp-json" in path:
        path = path[: path.index("/wp-json")]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/") + "/wp-json", "", ""))


_OURS = ("_embed", "page", "per_page", "orderby", "order", "after", "modified_after")


def posts_url(
    url: str,
    page: int = 1,
    per_page: int = POLL_PER_PAGE,
    query: Sequence[tuple[str, str]] = (),
) -> str:
    """The posts endpoint with ``_embed``, paging, ``query`` (ordering and time filters) and
    any filters the configured URL carries (``…/posts?categories=5`` keeps its
    ``categories=5``)."""
    parts = urlsplit(url)
    extra: list[tuple[str, str]] = []
    if parts.path.rstrip("/").endswith("/wp/v2/posts"):
        extra = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _OURS
        ]
    pairs = [("_embed", "1"), *extra, *query, ("per_page", str(per_page)), ("page", str(page))]
    return f"{api_root(url)}/wp/v2/posts?{urlencode(pairs)}"


def wp_time(value: datetime) -> str:
    """A time as the REST API's date filters take it: RFC 3339 in UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def changed_url(url: str, since: datetime, page: int = 1) -> str:
    """Posts modified after ``since``, oldest change first: a poll that cannot take every
    change at once takes the oldest and continues from there next time."""
    order = [("orderby", "modified"), ("order", "asc"), ("modified_after", wp_time(since))]
    return posts_url(url, page, CHANGES_PER_PAGE, order)


def published_url(url: str, since: datetime, page: int = 1) -> str:
    """Posts dated after ``since``, oldest first. The change query alone would miss a scheduled
    post: WordPress does not touch ``modified`` when it goes live."""
    order = [("orderby", "date"), ("order", "asc"), ("after", wp_time(since))]
    return posts_url(url, page, CHANGES_PER_PAGE, order)


def server_time(headers: Mapping[str, str] | None) -> datetime | None:
    """The server's clock from an answer's ``Date`` header, or None."""
    value = headers.get("date") if headers is not None else None
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next poll of a WordPress source starts: the newest modification and the newest
    publication time it has taken (UTC), each asked for with "after" next time."""

    modified: datetime
    published: datetime

    def dump(self) -> str:
        return json.dumps(
            {"modified": wp_time(self.modified), "published": wp_time(self.published)}
        )

    @classmethod
    def load(cls, text: str | None) -> Cursor | None:
        """The stored cursor, or None (never polled, or a note this version cannot read)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            modified = datetime.fromisoformat(data["modified"]).astimezone(UTC)
            published = datetime.fromisoformat(data["published"]).astimezone(UTC)
        except (TypeError, ValueError, KeyError, AttributeError):
            return None
        return cls(modified, published)


def advance(
    previous: datetime | None,
    seen: Iterable[datetime],
    *,
    full_page: bool,
    server_now: datetime | None,
) -> datetime | None:
    """The next value of one side of the cursor: the newest time taken, never past two seconds
    before the server's clock (see ``SAME_SECOND``) and never back. After a full page the
    newest second may hold more posts than the page did, so that second is asked for again."""
    times = list(seen)
    value = previous
    if times:
        newest = max(times)
        if full_page and (previous is None or newest - timedelta(seconds=1) > previous):
            newest -= timedelta(seconds=1)
        value = newest if previous is None else max(previous, newest)
    if value is not None and server_now is not None:
        capped = min(value, server_now - SAME_SECOND)
        value = capped if previous is None else max(previous, capped)
    return value


def post_times(items: Iterable[Any], key: str) -> list[datetime]:
    """``date_gmt`` or ``modified_gmt`` of every post object that has one."""
    times = []
    for item in items:
        if isinstance(item, dict):
            value = iso_utc(item.get(key))
            if value is not None:
                times.append(value)
    return times


def listed_url(url: str, wp_ids: Sequence[int]) -> str:
    """The public posts among ``wp_ids`` (at most a hundred), as little of each as tells
    whether it is public: its id and whether it is password-protected."""
    query = urlencode(
        [
            ("include", ",".join(str(i) for i in wp_ids)),
            ("per_page", str(BACKFILL_PER_PAGE)),
            ("_fields", "id,status,content.protected,excerpt.protected"),
        ]
    )
    return f"{api_root(url)}/wp/v2/posts?{query}"


def by_slug_url(url: str, slugs: Sequence[str]) -> str:
    """The public posts with these slugs (at most a hundred): their ids and links."""
    query = urlencode(
        [
            ("slug", ",".join(slugs)),
            ("per_page", str(BACKFILL_PER_PAGE)),
            ("_fields", "id,link"),
        ]
    )
    return f"{api_root(url)}/wp/v2/posts?{query}"


def post_url(url: str, wp_id: int) -> str:
    """One post (``/posts/<id>``): 401 or 404 when it is not public."""
    return f"{api_root(url)}/wp/v2/posts/{int(wp_id)}?_fields=id,status,content.protected"


def is_public(item: Any) -> bool:
    """Whether a post object of the REST API is public: published, no password."""
    if not isinstance(item, dict):
        return False
    status = item.get("status")
    return (status is None or status == "publish") and not _protected(item)


def categories_url(url: str, page: int = 1) -> str:
    return f"{api_root(url)}/wp/v2/categories?per_page=100&page={page}"


def total_pages(headers: Any) -> int | None:
    value = headers.get("x-wp-totalpages") if headers is not None else None
    try:
        return max(int(value), 0) if value is not None else None
    except ValueError:
        return None


def load_json(data: bytes, what: str) -> Any:
    """JSON from a WordPress answer; a WordPress error object becomes ``SourceError``."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"expected WordPress {what} JSON but could not parse it: {exc}") from None
    if isinstance(value, dict) and "code" in value and "message" in value:
        raise SourceError(f"WordPress error {value.get('code')}: {str(value.get('message'))[:200]}")
    if not isinstance(value, list):
        raise SourceError(f"expected a JSON list of WordPress {what}, got {type(value).__name__}")
    return value


def parse_categories(data: bytes) -> list[tuple[int, str, str, int]]:
    """(wp_id, slug, name, parent wp_id or 0) for each category of a categories page."""
    rows: list[tuple[int, str, str, int]] = []
    for item in load_json(data, "categories"):
        if not isinstance(item, dict):
            continue
        wp_id, slug = item.get("id"), item.get("slug")
        if not isinstance(wp_id, int) or not isinstance(slug, str) or not slug:
            continue
        parent = item.get("parent")
        if not isinstance(parent, int):
            parent = 0
        name = clean_title(item.get("name") if isinstance(item.get("name"), str) else slug) or slug
        rows.append((wp_id, slug[:200], name, parent))
    return rows


def _rendered(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("rendered")
    return value if isinstance(value, str) else None


def _embedded_terms(post: dict[str, Any]) -> list[dict[str, Any]]:
    embedded = post.get("_embedded")
    groups = embedded.get("wp:term") if isinstance(embedded, dict) else None
    terms: list[dict[str, Any]] = []
    for group in groups if isinstance(groups, list) else ():
        if isinstance(group, list):
            terms.extend(t for t in group if isinstance(t, dict))
    return terms


def _featured_image(post: dict[str, Any]) -> Any:
    embedded = post.get("_embedded")
    media = embedded.get("wp:featuredmedia") if isinstance(embedded, dict) else None
    if isinstance(media, list) and media and isinstance(media[0], dict):
        return media[0].get("source_url")
    return None


def _protected(post: dict[str, Any]) -> bool:
    """Password-protected: WordPress lists such a post publicly, with ``content.protected`` and
    ``excerpt.protected`` set (and the text empty unless the password was sent)."""
    return any(
        isinstance(field, dict) and field.get("protected") is True
        for field in (post.get("content"), post.get("excerpt"))
    )


def load_posts(data: bytes) -> list[Any]:
    """The posts of an answer: a list (``/posts``) or one post object (``/posts/<id>``)."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        value = None
    if isinstance(value, dict) and "id" in value and "code" not in value:
        return [value]
    result: list[Any] = load_json(data, "posts")
    return result


def parse_posts(data: bytes, ctx: ParseContext, categories: dict[int, str] | None = None) -> Parsed:
    """The posts of one ``/wp/v2/posts?_embed`` page (or one ``/posts/<id>`` object);
    ``categories`` maps WordPress ids to slugs (from ``parse_categories``); embedded terms fill
    in ids it lacks. Only public posts are kept: a post not ``publish`` or password-protected
    is skipped, whatever else it says."""
    by_id = dict(categories or {})
    items = load_posts(data)
    collector = PostCollector(ctx)
    for item in items:
        if not isinstance(item, dict):
            collector.skip("not a post object")
            continue
        status = item.get("status")
        if isinstance(status, str) and status != "publish":
            collector.skip("not published")
            continue
        if _protected(item):
            collector.skip("password-protected")
            continue
        terms = _embedded_terms(item)
        for term in terms:
            if term.get("taxonomy") == "category" and isinstance(term.get("id"), int):
                by_id.setdefault(term["id"], str(term.get("slug") or ""))
        cat_ids = item.get("categories")
        if not isinstance(cat_ids, list):
            cat_ids = []
        cats = [by_id[i] for i in cat_ids if isinstance(i, int) and by_id.get(i)]
        tags = [
            str(t.get("name") or t.get("slug"))
            for t in terms
            if t.get("taxonomy") == "post_tag" and (t.get("name") or t.get("slug"))
        ]
        collector.add(
            link=item.get("link"),
            title=_rendered(item.get("title")),
            teaser=_rendered(item.get("excerpt")) or _rendered(item.get("content")),
            categories=cats,
            tags=[tag for tag in (clean_title(t)[:100] for t in tags) if tag],
            published_at=iso_utc(item.get("date_gmt")),
            modified_at=iso_utc(item.get("modified_gmt")),
            image_url=safe_image_url(_featured_image(item), ctx.base_url),
            guid=_rendered(item.get("guid")),
            wp_id=item.get("id"),
        )
    return collector.result()
