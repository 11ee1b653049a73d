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
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kcrush_bot.core.errors import SourceError
from kcrush_bot.sources.clean import clean_title
from kcrush_bot.sources.items import ParseContext, Parsed, PostCollector, iso_utc, safe_image_url

log = logging.getLogger(__name__)

POLL_PER_PAGE = 20
BACKFILL_PER_PAGE = 100  # WordPress's maximum


def api_root(url: str) -> str:
    """``https://host/wp-json`` from a site URL, an API URL or a posts endpoint URL."""
    parts = urlsplit(url)
    path = parts.path
    if "/wp-json" in path:
        path = path[: path.index("/wp-json")]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/") + "/wp-json", "", ""))


def posts_url(url: str, page: int = 1, per_page: int = POLL_PER_PAGE) -> str:
    """The posts endpoint with ``_embed``, paging, and any filters the configured URL carries
    (``…/posts?categories=5`` keeps its ``categories=5``)."""
    parts = urlsplit(url)
    extra: list[tuple[str, str]] = []
    if parts.path.rstrip("/").endswith("/wp/v2/posts"):
        extra = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in ("_embed", "page", "per_page")
        ]
    query = urlencode([("_embed", "1"), *extra, ("per_page", str(per_page)), ("page", str(page))])
    return f"{api_root(url)}/wp/v2/posts?{query}"


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


def parse_posts(data: bytes, ctx: ParseContext, categories: dict[int, str] | None = None) -> Parsed:
    """The posts of one ``/wp/v2/posts?_embed`` page; ``categories`` maps WordPress ids to
    slugs (from ``parse_categories``); embedded terms fill in ids it lacks."""
    by_id = dict(categories or {})
    items = load_json(data, "posts")
    collector = PostCollector(ctx)
    for item in items:
        if not isinstance(item, dict):
            collector.skip("not a post object")
            continue
        status = item.get("status")
        if isinstance(status, str) and status != "publish":
            collector.skip("not published")
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
        )
    return collector.result()
