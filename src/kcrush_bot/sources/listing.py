"""Listing pages: the HTML category pages the seeds show, and the seeds' plain-text form.

HTML (the fallback when feeds are off): WordPress themes render each post as an ``<article>``
with the title link in a heading (``<h2><a href=…>Title</a></h2>``), an excerpt paragraph
ending in "Read More", an image (often lazy-loaded, so ``data-src`` wins over a placeholder
``src``) and the post's categories and tags as ``category-<slug>`` / ``tag-<slug>`` classes.
Pages continue at ``/page/N/``.

Plain text (``seeds/*.txt``, how a browser shows the page): intro paragraphs, then per post a
title line and a teaser line that ends "... Read More" or is followed by a "Read More" line;
image-alt lines ("Yo garam 1") may stand before a title. Posts have no links there, so the link
is the one WordPress would give the title (``https://www.kcrush.com/<slug>/``).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from urllib.parse import quote, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from kcrush_bot.sources.items import ParseContext, Parsed, PostCollector, iso_utc, safe_image_url
from kcrush_bot.sources.normalise import wordpress_slug

log = logging.getLogger(__name__)

_PAGE_SUFFIX = re.compile(r"/page/\d+/?$")
_READ_MORE = "read more"
_TITLE_SELECTOR = "h2 a, h3 a, h1 a, .entry-title a, .post-title a"
_EXCERPT_SELECTOR = ".entry-summary, .entry-excerpt, .excerpt, .post-excerpt, .entry-content"


def page_url(url: str, page: int) -> str:
    """Page ``page`` of a listing: ``/category/interviews/`` → ``/category/interviews/page/2/``."""
    parts = urlsplit(url)
    path = _PAGE_SUFFIX.sub("/", parts.path) or "/"
    if not path.endswith("/"):
        path += "/"
    if page > 1:
        path = f"{path}page/{page}/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


_PASSWORD_REQUIRED = "post-password-required"  # post_class() of a password-protected post


def decode_html(data: bytes) -> str:
    """HTML bytes as text: UTF-8 (what WordPress sends), else windows-1252; ftfy repairs the
    rest when the text is cleaned."""
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _image(node: LexborNode) -> str | None:
    img = node.css_first("img")
    if img is None:
        return None
    attrs = img.attributes
    for key in ("data-src", "data-lazy-src", "data-orig-file", "src"):
        value = attrs.get(key)
        if value and not value.startswith("data:"):
            return value
    srcset = attrs.get("srcset") or attrs.get("data-srcset")
    return srcset.split()[0] if srcset else None


def _published(node: LexborNode) -> datetime | None:
    stamp = node.css_first("time[datetime]")
    value = stamp.attributes.get("datetime") if stamp is not None else None
    return iso_utc(value.strip()) if value else None


def _guid(node: LexborNode, ctx: ParseContext) -> str | None:
    """WordPress's guid for the post (``https://<site>/?p=<id>``) from post_class()'s
    ``post-<id>``, so a listing's post is the same post as the feed's and the API's."""
    for name in (node.attributes.get("class") or "").split():
        number = name[len("post-") :]
        if name.startswith("post-") and number.isdigit():
            return f"https://{ctx.site_host}/?p={int(number)}"
    return None


def _class_terms(node: LexborNode) -> tuple[list[str], list[str]]:
    """WordPress's post_class(): ``category-interviews tag-snuper`` → (["interviews"], ["snuper"])."""
    classes = (node.attributes.get("class") or "").split()
    cats = [c[len("category-") :] for c in classes if c.startswith("category-")]
    tags = [c[len("tag-") :] for c in classes if c.startswith("tag-")]
    return cats, tags


def parse_listing_html(data: bytes | str, ctx: ParseContext) -> Parsed:
    """The posts of an HTML listing page (zero posts when it has no ``<article>`` items)."""
    text = decode_html(data) if isinstance(data, bytes) else data
    tree = LexborHTMLParser(text)
    articles = tree.css("article") or tree.css(".type-post, .hentry")
    collector = PostCollector(ctx)
    for article in articles:
        link_node = article.css_first(_TITLE_SELECTOR)
        if link_node is None:
            heading = article.css_first("h1, h2, h3, .entry-title")
            title = heading.text() if heading is not None else None
            link = None
        else:
            title = link_node.text()
            link = link_node.attributes.get("href")
        excerpt_node = article.css_first(_EXCERPT_SELECTOR)
        if excerpt_node is not None:
            excerpt = excerpt_node.html or ""
        else:
            excerpt = "".join(p.html or "" for p in article.css("p"))
        class_cats, class_tags = _class_terms(article)
        # post_class() names only real categories in category-<slug>: every one is kept, the
        # taxonomy's under its own slug.
        cats = [ctx.cmap.site_category(c) or c for c in class_cats]
        collector.add(
            link=link,
            title=title,
            teaser=excerpt,
            categories=list(dict.fromkeys(cats)),
            tags=class_tags,
            published_at=_published(article),
            image_url=safe_image_url(_image(article), ctx.base_url),
            guid=_guid(article, ctx),
            protected=_PASSWORD_REQUIRED in (article.attributes.get("class") or "").split(),
        )
    warning = None if articles else "no <article> items on the page"
    return collector.result(warning=warning)


def split_text_listing(text: str) -> list[tuple[str, str]]:
    """(title, teaser) pairs of a plain-text listing in the seeds' shape.

    A teaser is a line ending "Read More" or a line followed by a "Read More" line; its title is
    the non-empty line just before it. Intro paragraphs, dates and image-alt lines are never
    directly before a teaser, so they are left out.
    """
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    nonempty = [line for line in lines if line]
    items: list[tuple[str, str]] = []
    used = -1  # index of the last line consumed by an item
    for index, line in enumerate(nonempty):
        lowered = line.lower()
        if lowered == _READ_MORE:
            teaser_at = index - 1
        elif lowered.endswith(_READ_MORE):
            teaser_at = index
        else:
            continue
        title_at = teaser_at - 1
        if title_at <= used or title_at < 0:
            continue
        title, teaser = nonempty[title_at], nonempty[teaser_at]
        if title.lower().endswith(_READ_MORE):
            continue
        if teaser.lower().endswith(_READ_MORE):
            teaser = teaser[: -len(_READ_MORE)].rstrip()
        items.append((title, teaser))
        used = index
    return items


def slug_url(title: str, site_host: str) -> str | None:
    slug = wordpress_slug(title)
    return f"https://{site_host}/{quote(slug)}/" if slug else None


def parse_listing_text(text: str, ctx: ParseContext) -> Parsed:
    """Posts from a plain-text listing; links derived from the titles, WordPress-style."""
    collector = PostCollector(ctx)
    for title, teaser in split_text_listing(text):
        collector.add(link=slug_url(title, ctx.site_host), title=title, teaser=teaser)
    return collector.result()
