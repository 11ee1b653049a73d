"""``auto``: an ad-hoc URL whose shape names no kind (``ingest https://…/some/page``). The first
answer's body decides: an XML feed, an HTML listing or WordPress JSON; anything else is read as
a feed, whose parser says clearly what it got instead.
"""

from __future__ import annotations

from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds.base import Document, HttpKind, SourceKind
from kcrush_bot.sources.sniff import sniff_kind


class SniffedKind(HttpKind):
    name = "auto"

    def __init__(self, *, feed: HttpKind, html: HttpKind, json: HttpKind) -> None:
        self._feed = feed
        self._by_sniff = {"feed": feed, "html": html, "json": json}

    def _kind_of(self, body: bytes) -> HttpKind:
        return self._by_sniff.get(sniff_kind(body), self._feed)

    def resolve(self, first: Document) -> SourceKind:
        return self._kind_of(first.body)

    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        return self._kind_of(body).parse(body, ctx)
