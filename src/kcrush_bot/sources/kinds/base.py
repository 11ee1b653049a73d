"""What a source kind is: the ``SourceKind`` protocol the ingest engine drives, the values the
two hand each other, and ``HttpKind``, the base of every kind read over HTTP.

A kind knows a source's shape: where its first document is and how to read it (a conditional
GET, a file's stamp), whether the answer is really another kind's (``auto`` sniffs the body),
how a document becomes posts, what an empty first page means, and where page N is during a
backfill. The engine (``ingest.py``) knows none of that: it asks the kind, parses in a worker
thread, pages on, and stores. A new kind is a module in this package and a line in
``builtin_kinds``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from kcrush_bot.core.errors import SourceError
from kcrush_bot.settings import SourceSettings
from kcrush_bot.sources.fetch import Fetched, FetchStatusError
from kcrush_bot.sources.items import ParseContext, Parsed

# A category the site lists with its own id: (site id, slug, name, parent's site id or 0).
CategoryRow = tuple[int, str, str, int]


@dataclass(frozen=True, slots=True)
class Validators:
    """What the next read sends: an HTTP ETag / Last-Modified or a file's stamp for a conditional
    read, and ``cursor``, the kind's own note of where the next poll starts (the WordPress kind
    keeps the newest modification and publication times it has seen). The engine stores all
    three with the source and hands them back unread."""

    etag: str | None = None
    last_modified: str | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """The first document of a poll, as its kind read it.

    ``validators`` are what a good poll remembers for the next conditional read; a kind decides
    them because only it knows whether they belong to the address the next poll reads.
    """

    body: bytes
    validators: Validators = Validators()
    headers: Mapping[str, str] = field(default_factory=dict)
    not_modified: bool = False
    # A post new to the archive but published before this is not news (an old post edited,
    # seen only because the kind asks for changes): it is archived silently.
    news_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class PageParser:
    """How this poll's pages become posts (run in a worker thread), and the categories the site
    listed on the way, stored before the posts so their parents resolve."""

    parse: Callable[[bytes, ParseContext], Parsed]
    categories: tuple[CategoryRow, ...] = ()


class Reader(Protocol):
    """The I/O the engine lends a kind: its HTTP client, with the configured deadline and size
    cap, and the size cap for anything read another way."""

    @property
    def max_bytes(self) -> int: ...

    async def get(self, url: str, validators: Validators | None = None) -> Fetched:
        """GET ``url``, conditionally when ``validators`` are given; ``SourceError`` on failure
        (``FetchStatusError`` for an HTTP error status)."""
        ...


class SourceKind(Protocol):
    """One kind of source (``[[sources]] kind = …``), as the ingest engine uses it."""

    name: str  # as configured, shown in reports and stored with the source
    categories_from_url: bool  # the source URL's category path adds that category to every post
    # Its readings are the site's own record of a post (the WordPress REST API): they set every
    # field as given, and other kinds' readings of the same post no longer change it.
    authoritative: bool

    def claims(self, target: str) -> bool:
        """Whether an ad-hoc target (``ingest URL-or-path``) is this kind by its shape alone."""
        ...

    async def read_first(
        self,
        source: SourceSettings,
        previous: Validators | None,
        *,
        backfill: bool,
        reader: Reader,
    ) -> Document:
        """The first document, read conditionally on ``previous`` unless backfilling; a
        ``not_modified`` document when it has not changed. Raises ``SourceError``."""
        ...

    def resolve(self, first: Document) -> SourceKind:
        """The kind that parses this answer: itself, or (for ``auto``) what the body is."""
        ...

    async def parser(self, source: SourceSettings, first: Document, reader: Reader) -> PageParser:
        """How to parse this poll's pages; may check the first answer and read more (WordPress
        fetches its categories here, so a bad answer fails before those requests)."""
        ...

    def check_first_page(self, source: SourceSettings, first: Document, parsed: Parsed) -> None:
        """What an empty answer means: raise ``SourceError`` when the first page's result says
        the source is broken rather than quiet."""
        ...

    def page_url(self, url: str, page: int) -> str | None:
        """Page ``page`` (2 and on) of a backfill, or None for a kind that has only one."""
        ...

    def page_count(self, first: Document) -> int | None:
        """How many pages the source says it has, when its first answer says."""
        ...


def is_web_url(target: str) -> bool:
    return urlsplit(target).scheme in ("http", "https")


class HttpKind(ABC):
    """A kind read over HTTP: a conditional GET of its first URL, one page unless a subclass
    says where the next one is. Subclasses set ``name``, write ``parse`` and override what
    differs."""

    name: str
    categories_from_url: bool = False
    authoritative: bool = False

    @abstractmethod
    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        """The posts of one page."""

    def claims(self, target: str) -> bool:
        return False

    def first_url(self, url: str, *, backfill: bool) -> str:
        return url

    def describe_failure(self, exc: FetchStatusError) -> str:
        """The one line an HTTP error on the first URL becomes."""
        return str(exc)

    async def read_first(
        self,
        source: SourceSettings,
        previous: Validators | None,
        *,
        backfill: bool,
        reader: Reader,
    ) -> Document:
        # A backfill reads fresh; and its validators stay the last poll's, since validators
        # belong to the URL they came with and only a normal poll's first page is the URL the
        # next conditional GET asks for.
        sent = None if backfill else previous
        try:
            answer = await reader.get(self.first_url(source.url, backfill=backfill), sent)
        except FetchStatusError as exc:
            raise SourceError(self.describe_failure(exc)) from None
        if answer.not_modified:
            return Document(b"", sent or Validators(), answer.headers, not_modified=True)
        if backfill:
            keep = previous or Validators()
        else:
            keep = Validators(answer.etag, answer.last_modified)
        return Document(answer.body, keep, answer.headers)

    def resolve(self, first: Document) -> SourceKind:
        return self

    async def parser(self, source: SourceSettings, first: Document, reader: Reader) -> PageParser:
        return PageParser(self.parse)

    def check_first_page(self, source: SourceSettings, first: Document, parsed: Parsed) -> None:
        return None

    def page_url(self, url: str, page: int) -> str | None:
        return None

    def page_count(self, first: Document) -> int | None:
        return None
