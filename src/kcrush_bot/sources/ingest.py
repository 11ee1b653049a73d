"""Ingest: poll the configured sources (or an ad-hoc URL or file) into the post store.

One poll of one source, in order:

1. Back-off: a failing source is not polled before its ``next_poll_at`` (unless forced).
2. Fetch with a conditional GET (the ETag / Last-Modified of the last good poll); a 304 is
   "not modified" and touches no post. A backfill fetches fresh and pages on: listing pages
   ``/page/N/``, the REST API's ``page=N``, a feed's ``?paged=N``, up to ``max_pages``.
3. Parse every page first (in a worker thread, so a 10,000-item feed does not stall the bots
   sharing the event loop). Any bad document fails the whole poll before the store is touched.
4. Store in one transaction: new posts, edited ones updated, the rest counted unchanged. What a
   source shows the first time it is seen is archived silently (``pushable=False``): a new
   subscriber must not get the whole archive pushed. Backfills are always silent.
5. Record the outcome: validators and the next poll time on success; on failure the error and
   an exponential back-off (interval × 2^failures, capped at ``ingest.max_backoff``) that one
   good poll resets.

Problems with a source never raise out of ``poll``: they come back as ``SourceReport.error``,
one line, and the other sources are polled as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from kcrush_bot.core.errors import SourceError
from kcrush_bot.core.models import Post
from kcrush_bot.settings import Settings, SourceSettings
from kcrush_bot.sources import file as file_source
from kcrush_bot.sources import listing, wordpress
from kcrush_bot.sources.feed import parse_feed
from kcrush_bot.sources.fetch import Fetched, FetchStatusError, fetch
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.normalise import CategoryMap
from kcrush_bot.sources.sniff import sniff_kind
from kcrush_bot.storage.store import Store, from_db_time

log = logging.getLogger(__name__)

# Pages beyond the last: WordPress answers 404 for /page/N/ and ?paged=N, and 400
# rest_post_invalid_page_number for the REST API.
_PAST_LAST_PAGE = (400, 404, 410)
_MAX_CATEGORY_PAGES = 20
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
            text += " (archived silently)"
        if self.warning:
            text += f"; warning: {self.warning}"
        return text


@dataclass(slots=True)
class _Collected:
    kind: str
    posts: list[Post] = field(default_factory=list)
    skipped: int = 0
    warning: str | None = None
    wp_categories: list[tuple[int, str, str, int]] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    pages: int = 0


def _one_line(message: str) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def _wordpress_reason(exc: FetchStatusError, what: str) -> str:
    """An HTTP error from the REST API, with WordPress's own code and message when it sent one
    (``HTTP 404 Not Found: WordPress error rest_no_route: No route was found …``)."""
    try:
        wordpress.load_json(exc.body, what)
    except SourceError as reason:
        if str(reason).startswith("WordPress error"):
            return f"{exc}: {reason}"
    return str(exc)


def feed_page_url(url: str, page: int) -> str:
    """WordPress feeds page with ``?paged=N``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "paged"]
    if page > 1:
        query.append(("paged", str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


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


class Ingestor:
    """Polls sources into the store. ``async with Ingestor(store, settings) as ingestor``."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._client = client
        self._owns_client = client is None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cmap = CategoryMap(settings.categories)

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
        now = self._clock()
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now

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

        The kind is guessed: ``/wp-json`` → WordPress REST; ``…/feed/``, ``.xml``, ``.rss``,
        ``.atom`` → feed; another URL is fetched and its body decides (XML feed, HTML listing,
        WordPress JSON); anything that is not an http(s) URL is a local file.
        """
        parts = urlsplit(target)
        if parts.scheme in ("http", "https"):
            path = parts.path.rstrip("/").lower()
            if "/wp-json" in path:
                kind = "wordpress"
            elif path.endswith(("/feed", ".xml", ".rss", ".atom", "/rss", "/atom")) or (
                "feed=" in parts.query
            ):
                kind = "feed"
            else:
                kind = "auto"
            url = target
        else:
            kind = "file"
            url = target  # file.py expands ~ itself
        source = SourceSettings(name=target, kind=kind, url=url)
        return await self.poll(source, backfill=backfill, progress=progress, force=True)

    async def poll(
        self,
        source: SourceSettings,
        *,
        backfill: bool = False,
        progress: bool = False,
        force: bool = False,
    ) -> SourceReport:
        """Poll one source; every problem with it comes back as ``report.error``."""
        report = SourceReport(source.name, source.kind, source.url)
        now = self._now()
        state = await self._store.source_state(source.name)
        if not (force or backfill) and state and state.get("failures"):
            next_at = from_db_time(state.get("next_poll_at"))
            if next_at is not None and next_at > now:
                report.deferred_until = next_at
                log.debug("source %s is backing off until %s", source.name, next_at)
                return report
        report.silent = backfill or state is None or state.get("first_seen_at") is None

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
            if collected.wp_categories:
                await self._store.upsert_wordpress_categories(collected.wp_categories)
            result = await self._store.upsert_posts(
                collected.posts, source=source.name, pushable=not report.silent
            )
            await self._record_success(source, collected, now)
        except Exception as exc:  # the transaction rolled back: nothing of this poll is stored
            log.exception("source %s: storing failed", source.name)
            return await self._failed(source, state, report, f"could not store: {exc}")
        report.new = result.new
        report.updated = result.updated
        report.unchanged = result.unchanged
        report.skipped = collected.skipped
        log.info("%s", report.line())
        return report

    async def _record_success(
        self, source: SourceSettings, collected: _Collected, now: datetime
    ) -> None:
        """Store a good poll: its validators for the next conditional GET, and when it is due.

        The caller holds the write lock (storing posts and recording the poll is one step).
        """
        await self._store.record_poll(
            source.name,
            collected.kind,
            source.url,
            ok=True,
            etag=collected.etag,
            last_modified=collected.last_modified,
            next_poll_at=now + timedelta(seconds=source.interval),
        )

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
        failures = int(state.get("failures") or 0) + 1 if state else 1
        next_at = self._now() + timedelta(seconds=self.backoff_seconds(source, failures))
        try:
            await self._store.record_poll(
                source.name,
                report.kind if report.kind != "auto" else source.kind,
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

    # -- fetching and parsing ----------------------------------------------------------------

    def _context(self, source: SourceSettings, kind: str) -> ParseContext:
        extra = [self._cmap.slug_for(c) or c for c in source.categories]
        if kind in ("feed", "listing", "auto"):
            extra += self._cmap.slugs_from_url(source.url)
        return ParseContext(
            cmap=self._cmap,
            site_host=self._settings.bot.site_host,
            base_url=f"https://{self._settings.bot.site_host}/",
            teaser_chars=self._settings.ingest.teaser_chars,
            extra_categories=tuple(dict.fromkeys(c for c in extra if c)),
        )

    async def _get(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        ingest = self._settings.ingest
        return await fetch(
            self._http(),
            url,
            etag=etag,
            last_modified=last_modified,
            deadline=ingest.timeout,
            max_bytes=ingest.max_bytes,
        )

    @staticmethod
    def _resolve_kind(kind: str, body: bytes) -> str:
        if kind != "auto":
            return kind
        sniffed = sniff_kind(body)
        return {"feed": "feed", "html": "listing", "json": "wordpress"}.get(sniffed, "feed")

    @staticmethod
    def _parse(kind: str, body: bytes, ctx: ParseContext, wp_map: dict[int, str]) -> Parsed:
        if kind == "wordpress":
            return wordpress.parse_posts(body, ctx, wp_map)
        if kind == "listing":
            return listing.parse_listing_html(body, ctx)
        return parse_feed(body, ctx)

    def _page_url(self, kind: str, url: str, page: int) -> str:
        if kind == "wordpress":
            return wordpress.posts_url(url, page, wordpress.BACKFILL_PER_PAGE)
        if kind == "listing":
            return listing.page_url(url, page)
        return feed_page_url(url, page)

    async def _wordpress_categories(self, url: str) -> list[tuple[int, str, str, int]]:
        rows: list[tuple[int, str, str, int]] = []
        page, last = 1, 1
        while page <= last:
            try:
                answer = await self._get(wordpress.categories_url(url, page))
            except FetchStatusError as exc:
                raise SourceError(f"categories: {_wordpress_reason(exc, 'categories')}") from None
            except SourceError as exc:
                raise SourceError(f"categories: {exc}") from None
            try:
                rows += await asyncio.to_thread(wordpress.parse_categories, answer.body)
            except SourceError as exc:
                raise SourceError(f"categories: {exc}") from None
            last = min(wordpress.total_pages(answer.headers) or 1, _MAX_CATEGORY_PAGES)
            page += 1
        return rows

    async def _collect(
        self,
        source: SourceSettings,
        state: dict[str, Any] | None,
        *,
        backfill: bool,
        progress: bool,
    ) -> _Collected:
        if source.kind == "file":
            return await self._collect_file(source, state, backfill=backfill)
        kind = source.kind
        etag = last_modified = None
        if state and not backfill:
            etag, last_modified = state.get("etag"), state.get("last_modified")
        if kind == "wordpress":
            per_page = wordpress.BACKFILL_PER_PAGE if backfill else wordpress.POLL_PER_PAGE
            first_url = wordpress.posts_url(source.url, 1, per_page)
        else:
            first_url = source.url
        try:
            first = await self._get(first_url, etag, last_modified)
        except FetchStatusError as exc:
            if kind == "wordpress":
                raise SourceError(_wordpress_reason(exc, "posts")) from None
            raise
        if first.not_modified:
            return _Collected(kind, not_modified=True, etag=etag, last_modified=last_modified)
        kind = self._resolve_kind(kind, first.body)
        ctx = self._context(source, kind)
        wp_map: dict[int, str] = {}
        wp_rows: list[tuple[int, str, str, int]] = []
        if kind == "wordpress":
            wordpress.load_json(first.body, "posts")  # a bad answer fails before more requests
            wp_rows = await self._wordpress_categories(source.url)
            wp_map = {wp_id: slug for wp_id, slug, _, _ in wp_rows}
        parsed = await asyncio.to_thread(self._parse, kind, first.body, ctx, wp_map)
        if kind == "listing" and not parsed.posts and not parsed.skipped:
            raise SourceError(
                "no posts found on the page (expected <article> items with an <h2><a> title link)"
            )
        pages = [parsed]
        if backfill:
            pages += await self._more_pages(source, kind, first, parsed, ctx, wp_map, progress)
        posts, skipped = _merge_pages(pages)
        warning = next((p.warning for p in pages if p.warning and p.posts), None)
        # Validators belong to the URL they came with: only a normal poll's first page is the
        # URL the next conditional GET asks for.
        if backfill:
            new_etag, new_modified = (state or {}).get("etag"), (state or {}).get("last_modified")
        else:
            new_etag, new_modified = first.etag, first.last_modified
        return _Collected(
            kind,
            posts=posts,
            skipped=skipped,
            warning=warning,
            wp_categories=wp_rows,
            etag=new_etag,
            last_modified=new_modified,
            pages=len(pages),
        )

    async def _more_pages(
        self,
        source: SourceSettings,
        kind: str,
        first: Fetched,
        parsed: Parsed,
        ctx: ParseContext,
        wp_map: dict[int, str],
        progress: bool,
    ) -> list[Parsed]:
        """Pages 2..max_pages of a backfill; stops past the last page or at a page with nothing
        new (a site that ignores the page number would otherwise repeat page 1 forever)."""
        limit = max(source.max_pages, 1)
        if kind == "wordpress":
            total = wordpress.total_pages(first.headers)
            if total is not None:
                limit = min(limit, total)
        seen = {post.url for post in parsed.posts}
        pages: list[Parsed] = []
        bar = _Pages(progress, f"{source.name} backfill", limit)
        with bar.shown():
            bar.advance()
            for number in range(2, limit + 1):
                try:
                    answer = await self._get(self._page_url(kind, source.url, number))
                except FetchStatusError as exc:
                    if exc.status in _PAST_LAST_PAGE:
                        break
                    raise SourceError(f"page {number}: {exc}") from None
                except SourceError as exc:
                    raise SourceError(f"page {number}: {exc}") from None
                try:
                    page = await asyncio.to_thread(self._parse, kind, answer.body, ctx, wp_map)
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

    async def _collect_file(
        self, source: SourceSettings, state: dict[str, Any] | None, *, backfill: bool
    ) -> _Collected:
        etag = file_source.file_etag(source.url)
        if not backfill and state and state.get("etag") == etag:
            return _Collected("file", not_modified=True, etag=etag)
        ingest = self._settings.ingest
        data = await asyncio.to_thread(file_source.read_file, source.url, ingest.max_bytes)
        ctx = self._context(source, "file")
        fmt, parsed = await asyncio.to_thread(file_source.parse_document, data, ctx)
        if fmt in ("html", "text") and not parsed.posts and not parsed.skipped:
            raise SourceError(
                f"no posts found in {source.url} (not a feed, WordPress JSON, JSON Lines, "
                "listing page or seed listing text)"
            )
        return _Collected(
            "file",
            posts=parsed.posts,
            skipped=parsed.skipped,
            warning=parsed.warning,
            etag=etag,
            pages=1,
        )
