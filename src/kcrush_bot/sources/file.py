"""Local files (offline use, imports, tests): whatever the bot can read from the network, plus
JSON Lines. The content decides the format, not the file name:

- JSON Lines: one post per line, ``{"url", "title", "teaser", "categories", "published_at",
  "image_url"}`` (the ``--json`` shape, and the bundled sample archive's);
- WordPress JSON: a saved ``/wp/v2/posts?_embed`` answer (a list of post objects);
- an RSS/Atom feed;
- an HTML listing page;
- the seeds' plain-text listing.

A file's ``mtime`` and size stand in for an ETag, so an unchanged file polled every second is
"not modified" without being parsed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kcrush_bot.core.errors import SourceError
from kcrush_bot.sources.feed import parse_feed
from kcrush_bot.sources.items import ParseContext, Parsed, PostCollector, iso_utc, safe_image_url
from kcrush_bot.sources.listing import decode_html, parse_listing_html, parse_listing_text
from kcrush_bot.sources.sniff import sniff_kind
from kcrush_bot.sources.wordpress import parse_posts

log = logging.getLogger(__name__)


def file_etag(path: str | Path) -> str:
    """A validator for a local file: changes whenever its content is likely to have."""
    try:
        st = os.stat(os.path.expanduser(path))
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def read_file(path: str | Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing directories, missing files and anything over ``max_bytes``
    (checked before reading, and while reading in case the file grows)."""
    target = Path(os.path.expanduser(path))
    try:
        size = target.stat().st_size
        if target.is_dir():
            raise SourceError(f"{path} is a directory, not a file")
        if size > max_bytes:
            raise SourceError(f"{path} is {size:,} bytes, over the {max_bytes:,}-byte cap")
        with target.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SourceError(f"{path} is over the {max_bytes:,}-byte cap")
    return data


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def parse_json_lines(data: bytes, ctx: ParseContext) -> Parsed:
    """Posts from JSON Lines; a line that is not JSON fails the whole file (nothing half-way)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"JSON Lines file is not UTF-8: {exc}") from None
    collector = PostCollector(ctx)
    lines = posts = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise SourceError(f"line {number} is not JSON: {exc}") from None
        if not isinstance(item, dict) or not (item.get("url") or item.get("link")):
            collector.skip("not a post object")
            continue
        posts += 1
        terms = _string_list(item.get("categories"))
        cats = [ctx.cmap.slug_for(t) or t for t in terms]
        collector.add(
            link=item.get("url") or item.get("link"),
            title=item.get("title"),
            teaser=item.get("teaser"),
            categories=[c for c in cats if c],
            tags=_string_list(item.get("tags")),
            published_at=iso_utc(item.get("published_at")),
            modified_at=iso_utc(item.get("modified_at")),
            image_url=safe_image_url(item.get("image_url"), None),
            guid=item.get("guid"),
        )
    if lines and not posts:
        # JSON that holds no post at all is the wrong file, not a feed with odd items: say so,
        # as the same document over HTTP would be refused.
        raise SourceError(
            'not a feed: JSON with no post in it (each line needs a "url" and a "title")'
        )
    return collector.result()


def detect_format(data: bytes) -> str:
    """``jsonl``, ``wordpress``, ``feed``, ``html`` or ``text``."""
    sniffed = sniff_kind(data)
    if sniffed != "json":
        return sniffed
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "wordpress"
    # One object per line is JSON Lines; a single object spanning lines is a WordPress error
    # answer or some other JSON, which the WordPress parser reports clearly.
    first_line = stripped.split(b"\n", 1)[0]
    try:
        first = json.loads(first_line)
    except ValueError:
        return "wordpress"
    if isinstance(first, dict) and "code" in first and "message" in first:
        return "wordpress"  # WordPress's error answer, saved to a file
    return "jsonl"


def parse_document(data: bytes, ctx: ParseContext, fmt: str | None = None) -> tuple[str, Parsed]:
    """Parse a document of any supported format; returns (format, parsed)."""
    fmt = fmt or detect_format(data)
    if fmt == "jsonl":
        return fmt, parse_json_lines(data, ctx)
    if fmt == "wordpress":
        return fmt, parse_posts(data, ctx)
    if fmt == "feed":
        return fmt, parse_feed(data, ctx)
    if fmt == "html":
        return fmt, parse_listing_html(data, ctx)
    return fmt, parse_listing_text(decode_html(data), ctx)
