"""Each poll's outcome reaches the ``Metrics`` port once: good (a changed feed or a 304 alike)
or failed, so ``kcrush_source_polls_total`` and its failures count what the sources did."""

from __future__ import annotations

from kcrush_bot.core.metrics import NoMetrics
from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from sources.sourcekit import FeedServer, fixture_bytes, make_settings


class Polls(NoMetrics):
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def polled(self, source: str, ok: bool) -> None:
        self.seen.append((source, ok))


async def test_good_unchanged_and_failed_polls_are_counted(
    store: Store, feed_server: FeedServer
) -> None:
    good = feed_server.serve("/feed/", fixture_bytes("wordpress-feed.xml"), etag='"v1"')
    bad = feed_server.serve("/broken/", b"<rss><channel><item>", status=500)
    settings = make_settings(
        [
            {"name": "good", "kind": "feed", "url": good},
            {"name": "bad", "kind": "feed", "url": bad},
        ]
    )
    metrics = Polls()
    async with Ingestor(store, settings, metrics=metrics) as ingestor:
        await ingestor.poll(settings.sources[0])
        await ingestor.poll(settings.sources[0])  # 304 this time: still a good poll
        report = await ingestor.poll(settings.sources[1])
    assert report.error
    assert metrics.seen == [("good", True), ("good", True), ("bad", False)]
