"""A source kind is one object: a kind written here, in the test, and registered on the
Ingestor polls end to end without any other module knowing it exists."""

from __future__ import annotations

import json

from kcrush_bot import settings as settings_mod
from kcrush_bot.settings import SourceSettings
from kcrush_bot.sources import Ingestor
from kcrush_bot.sources.file import parse_json_lines
from kcrush_bot.sources.items import ParseContext, Parsed
from kcrush_bot.sources.kinds import HttpKind, builtin_kinds
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, count, make_settings


class JsonLinesOverHttp(HttpKind):
    """An archive export endpoint serving JSON Lines, one post a line: the whole kind."""

    name = "jsonl"

    def claims(self, target: str) -> bool:
        return target.startswith(("http://", "https://")) and target.endswith(".jsonl")

    def parse(self, body: bytes, ctx: ParseContext) -> Parsed:
        return parse_json_lines(body, ctx)


def export(*slugs: str) -> bytes:
    lines = [
        {"url": f"https://www.kcrush.com/{slug}/", "title": slug.replace("-", " ").title()}
        for slug in slugs
    ]
    return "\n".join(json.dumps(line) for line in lines).encode()


async def test_a_kind_registered_on_the_ingestor_polls_end_to_end(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/export.jsonl", export("a-post", "b-post"), etag='"v1"')
    source = SourceSettings(name="export", kind="jsonl", url=url, interval=60)
    kinds = builtin_kinds().with_kind(JsonLinesOverHttp())
    async with Ingestor(store, make_settings(), kinds=kinds) as ingestor:
        first = await ingestor.poll(source)
        again = await ingestor.poll(source)
        feed_server.serve("/export.jsonl", export("a-post", "b-post", "c-post"), etag='"v2"')
        third = await ingestor.poll(source)
        backfill = await ingestor.poll(source, backfill=True)

    assert first.error is None and first.kind == "jsonl"
    assert len(first.new) == 2 and first.silent  # the first sight is archived, as for any kind
    assert again.not_modified  # the conditional GET comes with the base class
    assert feed_server.requests[1][1].get("If-None-Match") == '"v1"'
    assert len(third.new) == 1 and not third.silent
    assert await count(store, "SELECT count(*) FROM posts WHERE pushable = 1") == 1
    assert backfill.pages == 1 and backfill.unchanged == 3  # one page: nothing to page on
    assert feed_server.hits["/export.jsonl"] == 4
    state = await store.sources.state("export")
    assert state is not None and state["kind"] == "jsonl" and state["etag"] == '"v2"'


async def test_a_registered_kind_claims_ad_hoc_targets_by_shape(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/export.jsonl", export("a-post"))
    kinds = builtin_kinds().with_kind(JsonLinesOverHttp())
    async with Ingestor(store, make_settings(), kinds=kinds) as ingestor:
        report = await ingestor.ingest_target(url)
    assert report.error is None and report.kind == "jsonl" and len(report.new) == 1


async def test_an_unregistered_kind_is_a_one_line_error(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/export.jsonl", export("a-post"))
    source = SourceSettings(name="export", kind="jsonl", url=url)
    async with Ingestor(store, make_settings()) as ingestor:
        report = await ingestor.poll(source)
    assert report.error is not None
    assert report.error.startswith("unknown source kind 'jsonl' (known: wordpress, feed")
    assert feed_server.hits["/export.jsonl"] == 0


def test_the_configuration_accepts_exactly_the_registered_kinds() -> None:
    # settings.py checks kinds at load time without importing the sources stack, so it names
    # them itself; this keeps its list and the registry the same.
    assert builtin_kinds().names == settings_mod.SOURCE_KINDS
