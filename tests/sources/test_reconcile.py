"""The reconcile: the recent archive checked against WordPress finds the withdrawals no poll
reports (a post made a draft, private, password-protected, trashed or deleted), feed-read posts
included, and brings back a post WordPress shows again."""

from __future__ import annotations

import pytest

from fakes.wordpress_site import FakeWordPress
from kcrush_bot import settings as settings_mod
from kcrush_bot.core.errors import SourceError
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.publisher import Publisher
from kcrush_bot.sources import Ingestor
from kcrush_bot.storage import Store
from publisher.publisherkit import FakePlatform

FAN = ChatRef("telegram", "42")


def settings_for(site: FakeWordPress, *, feed: bool = False) -> settings_mod.Settings:
    sources = [{"name": "rest", "kind": "wordpress", "url": site.url("/wp-json/wp/v2/posts")}]
    if feed:
        sources.append({"name": "feed", "kind": "feed", "url": site.url("/feed/")})
    return settings_mod.from_dict(
        {
            "bot": {"sample_archive": False},
            "ingest": {"timeout": 5},
            "delivery": {"edit_debounce": 1, "telegram_per_chat_seconds": 0.05},
            "sources": [{"interval": 60, **s} for s in sources],
        },
        environ={},
    )


async def test_withdrawals_no_poll_reports_are_found_and_a_post_shown_again_comes_back(
    store: Store, wordpress: FakeWordPress
) -> None:
    ids = {name: wordpress.publish(f"Interview {name}") for name in "ABCDEF"}
    settings = settings_for(wordpress)
    telegram = FakePlatform("telegram")
    await store.chats.subscribe(FAN, ["interviews"], Mode.INSTANT)
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])  # the first sight
    async with Publisher(store, settings, {"telegram": telegram}) as publisher:
        wordpress.tick(60)
        fresh = wordpress.publish("Interview G")
        await publisher.poll_source(settings.sources[0])
        await publisher.deliver_due()
        assert len(telegram.delivered()) == 1

        wordpress.edit(ids["A"], status="draft")
        wordpress.edit(ids["B"], status="private")
        wordpress.edit(ids["C"], password="secret")
        wordpress.edit(ids["D"], status="trash")
        wordpress.delete(ids["E"])
        wordpress.edit(fresh, status="trash")
        requests = len(wordpress.requests)
        assert await publisher.reconcile() == 6

        titles = {p.title for p in await store.posts.latest(20)}
        assert titles == {"Interview F"}
        # One list request for the seven, then the ones missing from it asked alone.
        asked = wordpress.requests[requests:]
        assert sum("include=" in r for r in asked) == 1
        await publisher.deliver_due()
        assert len(telegram.deletions(FAN.key)) == 1  # the one message sent, for G

        # WordPress shows G again without a new modification time (publishing a draft):
        # the reconcile brings it back, and its card is delivered again.
        wordpress.posts[fresh].status = "publish"
        assert await publisher.reconcile() == 1
        await publisher.deliver_due()
        assert len(telegram.delivered(FAN.key)) == 2
        assert "Interview G" in {p.title for p in await store.posts.latest(20)}


async def test_feed_read_posts_are_reconciled_when_a_wordpress_source_is_configured(
    store: Store, wordpress: FakeWordPress
) -> None:
    post = wordpress.publish("Interview from the feed")
    settings = settings_for(wordpress, feed=True)
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[1])  # read from the feed only
    [stored] = await store.posts.latest(5)
    assert stored.wp_id == post  # the feed's guid names WordPress's id
    wordpress.edit(post, status="draft")
    async with Publisher(store, settings, {"telegram": FakePlatform("telegram")}) as publisher:
        assert await publisher.reconcile() == 1
    assert await store.posts.latest(5) == []


async def test_a_feed_post_whose_guid_is_its_permalink_is_found_by_its_slug(
    store: Store, wordpress: FakeWordPress
) -> None:
    wordpress.permalink_guids = True  # published at once: the guid names no id
    post = wordpress.publish("Interview with a permalink guid")
    moved = wordpress.publish("Interview whose slug changed")
    settings = settings_for(wordpress, feed=True)
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[1])  # read from the feed only
    assert all(p.wp_id is None for p in await store.posts.latest(5))
    wordpress.edit(moved, slug="a-new-slug")  # not found by its old slug: left alone
    async with Publisher(store, settings, {"telegram": FakePlatform("telegram")}) as publisher:
        assert await publisher.reconcile() == 0  # the ids are learnt while the posts are public
        wordpress.edit(post, status="draft")
        assert await publisher.reconcile() == 1
    assert [p.title for p in await store.posts.latest(5)] == ["Interview whose slug changed"]


async def test_a_site_that_cannot_answer_withdraws_nothing(
    store: Store, wordpress: FakeWordPress
) -> None:
    wordpress.publish("Interview kept")
    settings = settings_for(wordpress)
    async with Ingestor(store, settings) as ingestor:
        await ingestor.poll(settings.sources[0])
    wordpress.posts.clear()  # the post is gone, but the site answers every list with a 500
    wordpress.fail_lists = True
    async with Publisher(store, settings, {"telegram": FakePlatform("telegram")}) as publisher:
        with pytest.raises(SourceError, match="500"):  # the job logs it and tries again later
            await publisher.reconcile()
    assert len(await store.posts.latest(5)) == 1
