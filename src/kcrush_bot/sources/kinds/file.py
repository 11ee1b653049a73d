"""``file``: a local file, in any format the bot reads (see ``sources/file.py``); the content
decides which.

The file's modification time and size stand in for an ETag, so an unchanged file is "not
modified" without being read; unlike an HTTP validator it stays good through a backfill, since
a backfill reads the same file. A file is one page.
"""

from __future__ import annotations

import asyncio

from kcrush_bot.core.errors import SourceError
from kcrush_bot.settings import SourceSettings
from kcrush_bot.sources import file as local_file
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds.base import (
    Document,
    PageParser,
    Reader,
    SourceKind,
    Validators,
    is_web_url,
)


def _parse(body: bytes, ctx: ParseContext) -> Parsed:
    return local_file.parse_document(body, ctx)[1]


class LocalFileKind:
    name = "file"
    categories_from_url = False
    authoritative = False  # an import or a test file, not the site's own record

    def claims(self, target: str) -> bool:
        return not is_web_url(target)  # file.py expands ~ itself

    async def read_first(
        self,
        source: SourceSettings,
        previous: Validators | None,
        *,
        backfill: bool,
        reader: Reader,
    ) -> Document:
        stamp = Validators(local_file.file_etag(source.url))
        if not backfill and previous is not None and previous.etag == stamp.etag:
            return Document(b"", stamp, not_modified=True)
        body = await asyncio.to_thread(local_file.read_file, source.url, reader.max_bytes)
        return Document(body, stamp)

    def resolve(self, first: Document) -> SourceKind:
        return self

    async def parser(self, source: SourceSettings, first: Document, reader: Reader) -> PageParser:
        return PageParser(_parse)

    def check_first_page(self, source: SourceSettings, first: Document, parsed: Parsed) -> None:
        # Feeds, JSON and JSON Lines say plainly when they hold nothing; HTML and text are
        # what any unreadable file looks like, so finding nothing in them is an error.
        if parsed.posts or parsed.skipped:
            return
        if local_file.detect_format(first.body) in ("html", "text"):
            raise SourceError(
                f"no posts found in {source.url} (not a feed, WordPress JSON, JSON Lines, "
                "listing page or seed listing text)"
            )

    def page_url(self, url: str, page: int) -> str | None:
        return None

    def page_count(self, first: Document) -> int | None:
        return None
