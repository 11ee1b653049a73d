"""Ingest: the kind-neutral engine that polls sources (or an ad-hoc URL or file) into the store.

What differs between a feed, the WordPress REST API, a listing page and a local file lives in
that kind's module (``sources/kinds/``); this module only drives a ``SourceKind``. One poll of
one source, in order:

1. Back-off: a failing source is not polled before its ``next_poll_at`` (unless forced).
2. Read the first document as the kind says, conditionally (the ETag / Last-Modified of the
   last good poll, or a file's stamp); "not modified" touches no post. A backfill reads fresh
   and pages on, to the kind's page N, up to ``max_pages`` or the count the source announces.
3. Parse every page first (in a worker thread, so a 10,000-item feed does not stall the bots
   sharing the event loop). Any bad document fails the whole poll before the store is touched.
4. Store in one transaction: new posts, edited ones updated, the rest counted unchanged. What a
   source shows the first time it is seen is archived silently (``pushable=False``): a new
   subscriber must not get the whole archive pushed. Backfills are always silent.
5. Record the outcome: validators and the next poll time on success; on failure the error and
   an exponential back-off (interval × 2^failures, capped at ``ingest.max_backoff``) that one
   good poll resets.

Problems with a source never raise out of ``poll``: they come back as ``SourceReport.error``,
one line, and the other sources are polled as usual. Entry points: ``poll`` (one source, now),
``poll_all``, ``ingest_target`` (an ad-hoc URL or path) and ``ingest_document`` (a document
that arrived another way, read and stored exactly as a poll would).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from kcrush_bot.core.errors import SourceError
from kcrush_bot.core.metrics import NO_METRICS
from kcrush_bot.core.models import Post
from kcrush_bot.core.ports import Metrics
from kcrush_bot.core.times import as_utc
from kcrush_bot.settings import IngestSettings, Settings, SourceSettings
from kcrush_bot.sources.fetch import Fetched, FetchStatusError, fetch
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds import (
    CategoryRow,
    Document,
    KindRegistry,
    PageParser,
    SourceKind,
    Validators,
    builtin_kinds,
)
from kcrush_bot.sources.kinds.wordpress import ids_by_link as wordpress_ids_by_link
from kcrush_bot.sources.kinds.wordpress import visibility as wordpress_visibility
from kcrush_bot.sources.normalise import CategoryMap
from kcrush_bot.sources.ports import SourceStore
from kcrush_bot.storage.db import from_db_time

log = logging.getLogger(__name__)

# Pages beyond the last: WordPress answers 404 for /page/N/ and ?paged=N, and 400
# rest_post_invalid_page_number for the REST API.
_PAST_LAST_PAGE = (400, 404, 410)
_CONCURRENCY = 4
_ERROR_CHARS = 300


@dataclass(slots=True)
class SourceReport:
    """What one poll of one source did, for the CLI, the log and ``status``."""

    name: str
    kind: str
    url: str
    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0
    not_modified: bool = False
    silent: bool = False
    error: str | None = None
    warning: str | None = None
    pages: int = 0
    deferred_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One human line: ``kcrush-all: 3 new, 1 updated, 20 unchanged, 2 skipped``."""
        if self.error is not None:
            return f"{self.name}: failed: {self.error}"
        if self.deferred_until is not None:
            when = self.deferred_until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            return f"{self.name}: backing off after failures, next try {when}"
        if self.not_modified:
            return f"{self.name}: not modified"
        text = (
            f"{self.name}: {len(self.new)} new, {len(self.updated)} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped"
        )
        if self.pages > 1:
            text += f" from {self.pages} pages"
        if self.silent and self.new:
            # Said in full: "archived silently" left operators wondering where the posts went.
            text += " (first sight of this source: archived for search, not sent to chats)"
        if self.warning:
            text += f"; warning: {self.warning}"
        return text


@dataclass(slots=True)
class _Collected:
    """A poll's reading, before anything is stored."""

    kind: str
    validators: Validators
    posts: list[Post] = field(default_factory=list)
    skipped: int = 0
    warning: str | None = None
    categories: tuple[CategoryRow, ...] = ()
    not_modified: bool = False
    pages: int = 0
    authoritative: bool = False
    news_since: datetime | None = None


def _one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def _merge_pages(pages: Sequence[Parsed]) -> tuple[list[Post], int]:
    """All pages' posts, one per URL: a post that moved to the next page while we paged (a new
    post pushed it down) appears twice and is kept once, with both pages' categories."""
    merged: dict[str, Post] = {}
    skipped = 0
    for page in pages:
        skipped += page.skipped
        for post in page.posts:
            seen = merged.get(post.url)
            if seen is None:
                merged[post.url] = post
            else:
                merged[post.url] = replace(
                    seen,
                    categories=tuple(dict.fromkeys([*seen.categories, *post.categories])),
                    tags=tuple(dict.fromkeys([*seen.tags, *post.tags])),
                )
    return list(merged.values()), skipped


class _Pages:
    """A rich progress bar over a backfill's pages, or nothing when ``progress`` is off."""

    def __init__(self, enabled: bool, label: str, total: int) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("pages"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task(label, total=total)

    @contextlib.contextmanager
    def shown(self) -> Iterator[_Pages]:
        if self._bar is None:
            yield self
            return
        with self._bar:
            yield self

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def finish(self) -> None:
        if self._bar is not None:
            done = self._bar.tasks[0].completed
            self._bar.update(self._task, total=done)


class _HttpReader:
    """The engine's HTTP client as kinds see it (``kinds.Reader``): the configured deadline and
    size cap on every request."""

    def __init__(self, client: Callable[[], httpx.AsyncClient], ingest: IngestSettings) -> None:
        self._client = client
        self._ingest = ingest

    @property
    def max_bytes(self) -> int:
        return self._ingest.max_bytes

    async def get(self, url: str, validators: Validators | None = None) -> Fetched:
        sent = validators or Validators()
        return await fetch(
            self._client(),
            url,
            etag=sent.etag,
            last_modified=sent.last_modified,
            deadline=self._ingest.timeout,
            max_bytes=self._ingest.max_bytes,
        )


def _first_sight(state: dict[str, Any] | None) -> bool:
    return state is None or state.get("first_seen_at") is None


class Ingestor:
    """Polls sources into the store. ``async with Ingestor(store, settings) as ingestor``.

    ``kinds`` is the registry of source kinds (``builtin_kinds()`` unless given).
    """

    def __init__(
        self,
        store: SourceStore,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] | None = None,
        kinds: KindRegistry | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._settings = settings
        self._client = client
        self._owns_client = client is None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cmap = CategoryMap(settings.categories)
        self._kinds = kinds or builtin_kinds()
        self._reader = _HttpReader(self._http, settings.ingest)

    async def __aenter__(self) -> Ingestor:
        self._http()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            ingest = self._settings.ingest
            self._client = httpx.AsyncClient(
                follow_redirects=True,
                timeout=httpx.Timeout(ingest.timeout),
                headers={"User-Agent": ingest.user_agent},
            )
        return self._client

    def _now(self) -> datetime:
        return as_utc(self._clock())

    # -- public API --------------------------------------------------------------------------

    async def poll_all(
        self,
        names: Sequence[str] | None = None,
        *,
        backfill: bool = False,
        progress: bool = False,
        force: bool = False,
    ) -> list[SourceReport]:
        """Poll every enabled configured source, or the ones named, in configuration order.

        Sources are fetched concurrently (a few at a time); with ``progress`` one after another,
        since only one progress display can be live at a time.
        """
        configured = {s.name: s for s in self._settings.sources}
        if names is None:
            targets: list[SourceSettings | str] = [s for s in self._settings.sources if s.enabled]
        else:
            targets = [configured.get(name, name) for name in names]
        limit = asyncio.Semaphore(1 if progress else _CONCURRENCY)

        async def one(target: SourceSettings | str) -> SourceReport:
            if isinstance(target, str):
                return SourceReport(target, "?", "", error=f"no configured source named {target!r}")
            async with limit:
                return await self.poll(target, backfill=backfill, progress=progress, force=force)

        return list(await asyncio.gather(*(one(t) for t in targets)))

    async def ingest_target(
        self, target: str, *, backfill: bool = False, progress: bool = False
    ) -> SourceReport:
        """Ingest an ad-hoc URL or local path given on the command line; its name is ``target``.

        The kind is the first one that claims the target by its shape (``/wp-json`` is
        WordPress, ``…/feed/`` or ``.xml`` a feed, a path a file); an URL none claims is
        fetched and its body decides.
        """
        kind = self._kinds.for_target(target)
        source = SourceSettings(name=target, kind=kind.name, url=target)
        return await self.poll(source, backfill=backfill, progress=progress, force=True)

    async def poll(
        self,
        source: SourceSettings,
        *,
        backfill: bool = False,
        progress: bool = False,
        force: bool = False,
    ) -> SourceReport:
        """Poll one source now; every problem with it comes back as ``report.error``."""
        report = SourceReport(source.name, source.kind, source.url)
        now = self._now()
        state = await self._store.sources.state(source.name)
        if not (force or backfill) and state and state.get("failures"):
            next_at = from_db_time(state.get("next_poll_at"))
            if next_at is not None and next_at > now:
                report.deferred_until = next_at
                log.debug("source %s is backing off until %s", source.name, next_at)
                return report
        report.silent = backfill or _first_sight(state)

        try:
            collected = await self._collect(source, state, backfill=backfill, progress=progress)
        except SourceError as exc:
            return await self._failed(source, state, report, str(exc))
        except Exception as exc:  # a parser bug must not take the other sources down with it
            log.exception("source %s: unexpected failure", source.name)
            return await self._failed(
                source, state, report, f"unexpected {type(exc).__name__}: {exc}"
            )
        report.kind = collected.kind
        report.pages = collected.pages
        report.warning = collected.warning

        if collected.not_modified:
            report.not_modified = True
            report.silent = False
            await self._record_success(source, collected, now)
            log.info("%s", report.line())
            return report

        try:
            await self._store_posts(source, collected, report)
            await self._record_success(source, collected, now)
        except Exception as exc:  # the transaction rolled back: nothing of this poll is stored
            log.exception("source %s: storing failed", source.name)
            return await self._failed(source, state, report, f"could not store: {exc}")
        log.info("%s", report.line())
        return report

    async def ingest_document(self, source: SourceSettings, body: bytes) -> SourceReport:
        """Read and store a document that reached the bot another way (a push notice's post, a
        WebSub delivery) exactly as a poll of ``source`` would read and store its first page:
        the same kind and parser, the same cleaning, the same silent first sight.

        It is not a poll, so the source's validators, schedule and back-off stay as they are,
        and a bad document is reported in ``report.error`` without counting as a failure.
        """
        report = SourceReport(source.name, source.kind, source.url)
        state = await self._store.sources.state(source.name)
        report.silent = _first_sight(state)
        try:
            kind = self._kinds.named(source.kind)
            collected = await self._read(source, kind, Document(body), backfill=False)
            report.kind = collected.kind
            report.warning = collected.warning
            report.pages = collected.pages
            await self._store_posts(source, collected, report)
        except SourceError as exc:
            report.error = _one_line(str(exc)) or "failed"
        except Exception as exc:  # the transaction rolled back: nothing of it is stored
            log.exception("source %s: a pushed document failed", source.name)
            report.error = _one_line(f"unexpected {type(exc).__name__}: {exc}")
        if report.error is not None:
            log.warning("source %s: pushed document refused: %s", source.name, report.error)
        else:
            log.info("%s", report.line())
        return report

    async def visibility(
        self, source: SourceSettings, wp_ids: Sequence[int]
    ) -> tuple[set[int], set[int]]:
        """Which of these posts (by WordPress's id) the ``wordpress`` source's site shows
        publicly, and which it no longer shows: what the reconcile restores and withdraws.
        ``SourceError`` when the site cannot say."""
        return await wordpress_visibility(source.url, wp_ids, self._reader)

    async def wordpress_ids(self, source: SourceSettings, links: Sequence[str]) -> dict[str, int]:
        """WordPress's ids of posts known only by their canonical links, where the site still
        shows them under those links (see ``kinds.wordpress.ids_by_link``)."""
        return await wordpress_ids_by_link(
            source.url, links, self._settings.bot.site_host, self._reader
        )

    # -- the store: every call ingest makes to it ---------------------------------------------

    async def _store_posts(
        self, source: SourceSettings, collected: _Collected, report: SourceReport
    ) -> None:
        """Store a reading's categories and posts (silently when ``report.silent``)."""
        if collected.categories:
            await self._store.posts.upsert_wordpress_categories(collected.categories)
        result = await self._store.posts.upsert(
            collected.posts,
            source=source.name,
            pushable=not report.silent,
            authoritative=collected.authoritative,
            silent_before=collected.news_since,
        )
        report.new = list(result.new)
        report.updated = list(result.updated)
        report.unchanged = result.unchanged
        report.skipped = collected.skipped

    async def _record_success(
        self, source: SourceSettings, collected: _Collected, now: datetime
    ) -> None:
        """Store a good poll: its validators for the next conditional read, and when it is due."""
        await self._store.sources.record_poll(
            source.name,
            collected.kind,
            source.url,
            ok=True,
            etag=collected.validators.etag,
            last_modified=collected.validators.last_modified,
            next_poll_at=now + timedelta(seconds=source.interval),
            cursor=collected.validators.cursor,
        )
        self._metrics.polled(source.name, True)

    # -- failure and back-off ----------------------------------------------------------------

    def backoff_seconds(self, source: SourceSettings, failures: int) -> float:
        """Seconds until the next try after ``failures`` failures in a row: the interval
        doubled per failure, capped at ``ingest.max_backoff`` (or the interval, if longer)."""
        cap = max(self._settings.ingest.max_backoff, source.interval)
        return float(min(source.interval * 2 ** min(failures, 40), cap))

    async def _failed(
        self,
        source: SourceSettings,
        state: dict[str, Any] | None,
        report: SourceReport,
        message: str,
    ) -> SourceReport:
        report.error = _one_line(message) or "failed"
        self._metrics.polled(source.name, False)
        failures = int(state.get("failures") or 0) + 1 if state else 1
        next_at = self._now() + timedelta(seconds=self.backoff_seconds(source, failures))
        try:
            await self._store.sources.record_poll(
                source.name,
                report.kind,
                source.url,
                ok=False,
                error=report.error,
                next_poll_at=next_at,
            )
        except Exception:
            log.exception("source %s: could not record the failure", source.name)
        log.warning(
            "source %s failed (%d in a row), next try %s: %s",
            source.name,
            failures,
            next_at.isoformat(timespec="seconds"),
            report.error,
        )
        return report

    # -- reading and parsing -----------------------------------------------------------------

    def _context(self, source: SourceSettings, kind: SourceKind) -> ParseContext:
        extra = [self._cmap.slug_for(c) or c for c in source.categories]
        if kind.categories_from_url:
            extra += self._cmap.slugs_from_url(source.url)
        return ParseContext(
            cmap=self._cmap,
            site_host=self._settings.bot.site_host,
            base_url=f"https://{self._settings.bot.site_host}/",
            teaser_chars=self._settings.ingest.teaser_chars,
            extra_categories=tuple(dict.fromkeys(c for c in extra if c)),
        )

    async def _collect(
        self,
        source: SourceSettings,
        state: dict[str, Any] | None,
        *,
        backfill: bool,
        progress: bool,
    ) -> _Collected:
        kind = self._kinds.named(source.kind)
        previous = (
            Validators(state.get("etag"), state.get("last_modified"), state.get("cursor"))
            if state
            else None
        )
        first = await kind.read_first(source, previous, backfill=backfill, reader=self._reader)
        if first.not_modified:
            return _Collected(kind.name, first.validators, not_modified=True)
        return await self._read(source, kind, first, backfill=backfill, progress=progress)

    async def _read(
        self,
        source: SourceSettings,
        kind: SourceKind,
        first: Document,
        *,
        backfill: bool,
        progress: bool = False,
    ) -> _Collected:
        """Parse a first document as its kind reads it, and in a backfill the pages after it."""
        kind = kind.resolve(first)
        ctx = self._context(source, kind)
        parser = await kind.parser(source, first, self._reader)
        parsed = await asyncio.to_thread(parser.parse, first.body, ctx)
        kind.check_first_page(source, first, parsed)
        pages = [parsed]
        if backfill:
            pages += await self._more_pages(source, kind, first, parsed, ctx, parser, progress)
        posts, skipped = _merge_pages(pages)
        return _Collected(
            kind.name,
            first.validators,
            posts=posts,
            skipped=skipped,
            warning=next((p.warning for p in pages if p.warning and p.posts), None),
            categories=parser.categories,
            pages=len(pages),
            authoritative=kind.authoritative,
            news_since=first.news_since,
        )

    async def _more_pages(
        self,
        source: SourceSettings,
        kind: SourceKind,
        first: Document,
        parsed: Parsed,
        ctx: ParseContext,
        parser: PageParser,
        progress: bool,
    ) -> list[Parsed]:
        """Pages 2..max_pages of a backfill; stops past the last page or at a page with nothing
        new (a site that ignores the page number would otherwise repeat page 1 forever)."""
        if kind.page_url(source.url, 2) is None:
            return []  # a kind of one page
        limit = max(source.max_pages, 1)
        total = kind.page_count(first)
        if total is not None:
            limit = min(limit, total)
        seen = {post.url for post in parsed.posts}
        pages: list[Parsed] = []
        bar = _Pages(progress, f"{source.name} backfill", limit)
        with bar.shown():
            bar.advance()
            for number in range(2, limit + 1):
                url = kind.page_url(source.url, number)
                if url is None:
                    break
                try:
                    answer = await self._reader.get(url)
                except FetchStatusError as exc:
                    if exc.status in _PAST_LAST_PAGE:
                        break
                    raise SourceError(f"page {number}: {exc}") from None
                except SourceError as exc:
                    raise SourceError(f"page {number}: {exc}") from None
                try:
                    page = await asyncio.to_thread(parser.parse, answer.body, ctx)
                except SourceError as exc:
                    raise SourceError(f"page {number}: {exc}") from None
                fresh = [post.url for post in page.posts if post.url not in seen]
                if not fresh:
                    break
                seen.update(fresh)
                pages.append(page)
                bar.advance()
            bar.finish()
        return pages
