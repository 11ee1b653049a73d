"""RSS 2.0 and Atom feeds (WordPress's ``/feed/`` and ``/category/<slug>/feed/``) via feedparser.

What counts as a bad feed, decided here once:

- An HTML page, JSON, an empty body, or XML that is no feed: an error naming what it was.
- A DOCTYPE declaring entities: refused before parsing (see ``sniff.refuse_entity_declarations``).
- Malformed XML (feedparser's "bozo" flag with a SAX error): an error, even when feedparser's
  loose fallback still found entries. A truncated or broken document is exactly where the loose
  parser yields half the items or items with swallowed markup, and storing those would be the
  "half-way" store the design forbids. The error names the line so the operator can look.
- More than ``MAX_FEED_ITEMS`` items: refused before parsing. The byte cap alone does not bound
  the cost: 100,000 bare items fit in 8 MB, yet parsing them takes seconds of CPU and over
  100 MB of feedparser's dictionaries, past the whole bot's memory budget. A real feed pages
  (WordPress serves 10 to 100 items a page); an archive import of that size belongs in JSON
  Lines, which is read line by line.
- An encoding mismatch (``CharacterEncodingOverride``: the declared encoding cannot decode the
  bytes, so feedparser fell back to another one) is the one bozo accepted, with a warning, when
  the fallback is trustworthy: the bytes are valid UTF-8 after all, or they read as a
  single-byte Western text (isolated accented letters and smart quotes). When the non-ASCII
  bytes come in runs and the whole document reads as EUC-KR, Shift-JIS, GBK or Big5, a
  windows-1252 reading would store gibberish for every Korean name, so the feed is refused.

``sanitize_html`` and ``resolve_relative_uris`` are off: the HTML is reduced to text by
``clean`` (scripts dropped, nothing rendered) and links are resolved by ``canonical_url``, so
feedparser's slow sanitiser pass would be wasted work.
"""

from __future__ import annotations

import io
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import feedparser

from kcrush_bot.core.errors import SourceError
from kcrush_bot.sources.items import (
    ParseContext,
    Parsed,
    PostCollector,
    safe_image_url,
    shows_protected,
)
from kcrush_bot.sources.sniff import refuse_entity_declarations, sniff_kind

log = logging.getLogger(__name__)

_IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_HIGH_RUN = re.compile(rb"[\x80-\xff]+")
_UTF8_NAMES = ("utf-8", "utf8", "utf_8")
_CJK_ENCODINGS = ("cp949", "cp932", "gb18030", "big5")
MAX_FEED_ITEMS = 20_000
_ITEM_TAGS = {
    encoding: ("<item".encode(encoding), "<entry".encode(encoding))
    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
}


def count_items(data: bytes) -> int:
    """How many ``<item`` / ``<entry`` start tags the raw document holds, in whichever of the
    encodings feedparser reads it spells them; a cheap upper bound, counted before parsing."""
    return max(data.count(item) + data.count(entry) for item, entry in _ITEM_TAGS.values())


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _multibyte_share(data: bytes) -> float:
    """Share of non-ASCII bytes that sit next to another non-ASCII byte."""
    total = paired = 0
    for run in _HIGH_RUN.findall(data):
        total += len(run)
        if len(run) > 1:
            paired += len(run)
    return paired / total if total else 0.0


def _reads_as_cjk(data: bytes) -> bool:
    """Whether the bytes decode, every one of them, in a CJK multi-byte encoding. Western text
    pairs high bytes too ("Beyoncé’s" is ``E9 92`` in windows-1252), but a lone accented
    letter before a space is invalid in all of these, so such a feed is not mistaken for one."""
    for encoding in _CJK_ENCODINGS:
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _check_encoding_override(data: bytes, result: Any, exc: Exception) -> str:
    """Accept a benign encoding mismatch (returning the warning) or raise ``SourceError``."""
    used = (result.get("encoding") or "").lower()
    try:
        data.decode("utf-8")
        valid_utf8 = True
    except UnicodeDecodeError:
        valid_utf8 = False
    if used in _UTF8_NAMES or valid_utf8:
        return f"{exc}; the bytes are valid UTF-8"
    if _multibyte_share(data) > 0.3 and _reads_as_cjk(data):
        raise SourceError(
            f"wrong encoding: {exc}, but the text is in a multi-byte encoding "
            "(Korean EUC-KR or similar) that would be stored garbled; not stored"
        )
    return str(exc)


def _bozo_message(exc: Any) -> str:
    line = getattr(exc, "getLineNumber", None)
    where = f" at line {line()}" if callable(line) else ""
    message = getattr(exc, "getMessage", None)
    text = message() if callable(message) else str(exc)
    return f"malformed XML{where}: {text or type(exc).__name__}"


def _image_for(entry: Any, body: str) -> str | None:
    for key in ("media_content", "media_thumbnail"):
        for media in entry.get(key) or ():
            url = media.get("url")
            if isinstance(url, str) and url and media.get("medium", "image") == "image":
                return url
    for enclosure in entry.get("enclosures") or ():
        href = enclosure.get("href")
        if str(enclosure.get("type", "")).startswith("image/") and isinstance(href, str) and href:
            return href
    if body and "<img" in body:
        match = _IMG_SRC.search(body)
        if match:
            return match.group(1)
    return None


def parse_feed_document(data: bytes, base_url: str | None = None) -> Any:
    """feedparser's result for a checked document, or ``SourceError``; sets ``_warning``."""
    if not data.strip():
        raise SourceError("empty document: expected an RSS or Atom feed")
    refuse_entity_declarations(data)
    items = count_items(data)
    if items > MAX_FEED_ITEMS:
        raise SourceError(
            f"the feed has {items:,} items, over the {MAX_FEED_ITEMS:,}-item cap; not parsed"
        )
    not_a_feed = {"html": "an HTML page", "json": "JSON", "text": "plain text"}.get(
        sniff_kind(data)
    )
    if not_a_feed is not None:
        raise SourceError(f"expected an RSS or Atom feed but got {not_a_feed}")
    # The real Content-Type is not passed on purpose: servers label feeds text/html or
    # text/plain, and the XML declaration is the better witness of the encoding. No
    # Content-Location either: feedparser would urljoin every link of every entry (a third
    # of its time on a big feed); canonical_url resolves the one link we keep.
    headers = {"content-type": "application/xml"}
    # A BytesIO, never the bytes or a str: feedparser would treat a string that looks like a
    # URL or a path as one and fetch or open it.
    result = feedparser.parse(
        io.BytesIO(data),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    warning = None
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        if isinstance(exc, feedparser.CharacterEncodingOverride):
            warning = _check_encoding_override(data, result, exc)
            log.warning("feed %s: accepted an encoding mismatch: %s", base_url, warning)
        else:
            raise SourceError(_bozo_message(exc))
    if not result.get("version"):
        raise SourceError("not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> root)")
    result["_warning"] = warning
    return result


def parse_feed(data: bytes, ctx: ParseContext) -> Parsed:
    """The posts of an RSS/Atom document; ``SourceError`` for a bad one (nothing returned)."""
    result = parse_feed_document(data, ctx.base_url)
    collector = PostCollector(ctx)
    for entry in result.entries:
        content_list = entry.get("content") or ()
        content = content_list[0].get("value", "") if content_list else ""
        summary = entry.get("summary") or ""
        # WordPress writes a post's categories and its tags alike as <category>: only the
        # taxonomy's categories become categories (CategoryMap.split), the rest stay tags.
        terms = [t.get("term") or t.get("label") or "" for t in entry.get("tags") or ()]
        categories, tags = ctx.cmap.split(t for t in terms if t)
        # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed,
        # with a DeprecationWarning per entry; an RSS item has no modified date.
        updated = dict.get(entry, "updated_parsed")
        collector.add(
            link=entry.get("link"),
            title=entry.get("title"),
            # The excerpt when there is one; the full post (content:encoded) otherwise.
            teaser=summary if summary.strip() else content,
            categories=categories,
            tags=tags,
            published_at=_struct_to_datetime(dict.get(entry, "published_parsed") or updated),
            modified_at=_struct_to_datetime(updated),
            image_url=safe_image_url(_image_for(entry, content or summary), ctx.base_url),
            guid=entry.get("id"),
            protected=shows_protected(summary, content),
        )
    return collector.result(warning=result.get("_warning"))
