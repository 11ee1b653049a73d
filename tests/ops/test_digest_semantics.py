"""/digest means a digest instead of each post, unless the chat asks for both; a later change
keeps what it does not name; off brings each post back. The answer says exactly that."""

from __future__ import annotations

from pathlib import Path

import pytest
from opskit import kcrush

from factories import caller, make_post
from kcrush_bot.core.categories import CategoryIndex
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.matching import DIGEST_MODES, INSTANT, SubscriptionIndex
from kcrush_bot.core.replies import Text
from kcrush_bot.platforms.console import console_caller

ADMIN = caller("telegram", user_id="43", admin=True)


async def gets(service: CommandService) -> tuple[bool, bool]:
    """Whether a new K-Pop post reaches the chat instantly, and whether its digest holds it."""
    subs = await service.store.chats.subscriptions(ADMIN.chat)
    index = CategoryIndex(await service.store.posts.categories())
    post = make_post(99, category="kpop")
    key = ADMIN.chat.key
    return (
        key in SubscriptionIndex(subs, INSTANT).chats_for(post, index),
        key in SubscriptionIndex(subs, DIGEST_MODES).chats_for(post, index),
    )


async def say(service: CommandService, text: str) -> str:
    name, _, rest = text.partition(" ")
    [reply] = await service.dispatch(ADMIN, name, rest)
    assert isinstance(reply, Text), reply
    return reply.text


async def test_a_digest_replaces_instant_posts_and_says_so(service: CommandService) -> None:
    await say(service, "subscribe kpop")
    assert await gets(service) == (True, False)
    answer = await say(service, "digest daily 08:00 Europe/Paris")
    assert "every day at 08:00 Europe/Paris" in answer
    assert "only in the digest" in answer and "K-Pop" in answer
    assert await gets(service) == (False, True)


async def test_both_keeps_each_post_coming_as_well(service: CommandService) -> None:
    await say(service, "subscribe kpop")
    answer = await say(service, "digest daily both")
    assert "as they are published and again in the digest" in answer
    assert await gets(service) == (True, True)
    # A later change of frequency keeps "both".
    await say(service, "digest weekly")
    assert await gets(service) == (True, True)


async def test_a_later_change_keeps_time_and_zone(service: CommandService) -> None:
    await say(service, "subscribe kpop")
    await say(service, "digest daily 08:00 Europe/Paris")
    answer = await say(service, "digest weekly fri")
    assert "every Fri at 08:00 Europe/Paris" in answer
    [digest] = await service.store.chats.digests(ADMIN.chat)
    assert (digest.time, digest.timezone, digest.weekday) == ("08:00", "Europe/Paris", "fri")


async def test_off_brings_each_post_back(service: CommandService) -> None:
    await say(service, "subscribe kpop")
    await say(service, "digest daily")
    answer = await say(service, "digest off")
    assert "K-Pop arrive as they are published again" in answer
    assert await gets(service) == (True, False)


async def test_a_digest_without_subscriptions_says_it_would_be_empty(
    service: CommandService,
) -> None:
    console = console_caller()
    [reply] = await service.dispatch(console, "digest", "daily")
    assert isinstance(reply, Text) and "subscribes to nothing" in reply.text


def test_cli_preview_of_a_chat_without_a_digest_says_it_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = kcrush(capsys, monkeypatch, tmp_path / "bot.db", "digest", "preview", "telegram:1")
    assert shown.code == 0
    assert "telegram:1 has no digest" in shown.out
    assert "kcrush-bot subscribe telegram:1 --digest daily" in shown.out
