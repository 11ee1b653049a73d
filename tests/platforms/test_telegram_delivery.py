"""The send side the publisher uses: payloads as rendered, and every Telegram failure mapped to
the core's delivery errors (retry, give up on the chat, or follow a migrated group)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from fakes.telegram_api import (
    BAD_GATEWAY,
    BLOCKED,
    CHAT_NOT_FOUND,
    KICKED,
    NO_RIGHTS,
    SERVER_ERROR,
    TOPIC_CLOSED,
    FakeError,
    FakeTelegram,
    Limits,
    migrated,
    retry_after,
    start_fake_telegram,
    telegram_settings,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.errors import ChatMoved, MessageRejected, PermanentDelivery, RetryableDelivery
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.render.telegram import render_card, render_reply
from kcrush_bot.core.replies import Cards, ListItem, ListPage, TeaserCard, Text
from kcrush_bot.platforms.telegram import TelegramPlatform
from kcrush_bot.platforms.telegram.errors import MESSAGE_REJECTED

pytestmark = pytest.mark.timeout(30)

PRIVATE = ChatRef("telegram", "42")
GROUP = ChatRef("telegram", "-1001234")
CARD = TeaserCard(
    title="KCRUSH Interview with KNK <3 & friends",
    teaser="KNK talks about 서울 and touring.",
    url="https://www.kcrush.com/knk/",
    categories=("K-Pop",),
    published_at=datetime(2024, 5, 1, tzinfo=UTC),
)
PHOTO_CARD = dataclasses.replace(CARD, image_url="https://www.kcrush.com/knk.jpg")


async def platform_for(fake: FakeTelegram, service: CommandService, **kwargs) -> TelegramPlatform:
    return TelegramPlatform(telegram_settings(fake), service, poll_timeout=1, **kwargs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


@pytest.fixture
async def bot(fake: FakeTelegram, service: CommandService) -> AsyncIterator[TelegramPlatform]:
    async with await platform_for(fake, service, request_timeout=0.5) as platform:
        yield platform


def expected_wire(call, chat: ChatRef) -> dict:
    return {"chat_id": int(chat.chat_id), **call.params}


async def test_a_text_card_goes_out_exactly_as_rendered(fake, bot):
    message_id = await bot.send_card(PRIVATE, CARD)
    (call,) = fake.calls("sendMessage", 42)
    assert call.params == expected_wire(render_card(CARD), PRIVATE)
    assert call.params["link_preview_options"]["url"] == CARD.url
    assert message_id == str(fake.sent(42)[0]["message_id"])


async def test_a_card_with_an_image_is_a_photo_with_a_caption(fake, bot):
    await bot.send_card(PRIVATE, PHOTO_CARD)
    (call,) = fake.calls("sendPhoto", 42)
    assert call.params == expected_wire(render_card(PHOTO_CARD), PRIVATE)
    assert fake.sent(42)[0]["caption"].startswith("KCRUSH Interview with KNK <3 & friends")


async def test_an_image_telegram_cannot_fetch_falls_back_to_a_text_card(fake, bot):
    fake.script("sendPhoto", error=FakeError(400, "Bad Request: failed to get HTTP URL content"))
    message_id = await bot.send_card(PRIVATE, PHOTO_CARD)
    (call,) = fake.calls("sendMessage", 42)
    assert call.params["link_preview_options"]["url"] == CARD.url
    assert message_id == str(fake.sent(42)[0]["message_id"])


async def test_a_cards_reply_falls_back_per_card(fake, bot):
    fake.script("sendPhoto", error=FakeError(400, "Bad Request: IMAGE_PROCESS_FAILED"))
    ids = await bot.send(PRIVATE, Cards((PHOTO_CARD, CARD), intro="Two posts."))
    assert len(ids) == 3 and len(set(ids)) == 3
    assert [c.method for c in fake.calls(chat_id=42)] == [
        "sendMessage",
        "sendPhoto",
        "sendMessage",
        "sendMessage",
    ]


async def test_every_rendered_message_is_sent_in_order_with_its_ids(fake, bot):
    page = ListPage(
        "Search: knk",
        tuple(ListItem(f"Post {n}", f"https://www.kcrush.com/{n}/", "x" * 500) for n in range(12)),
    )
    calls = render_reply(page)
    assert len(calls) > 1  # the renderer splits long pages
    ids = await bot.send(GROUP, page)
    assert len(ids) == len(calls)
    assert [c.params for c in fake.calls("sendMessage")] == [expected_wire(c, GROUP) for c in calls]


async def test_a_forum_topic_gets_the_message_thread_id(fake, bot):
    await bot.send(ChatRef("telegram", "-1001234", "77"), Text("hello"))
    (call,) = fake.calls("sendMessage")
    assert call.params["message_thread_id"] == 77
    assert fake.sent(-1001234)[0]["message_thread_id"] == 77


@pytest.mark.parametrize(
    ("answer", "error", "check"),
    [
        (retry_after(7), RetryableDelivery, lambda e: e.retry_after == 7.0),
        (BLOCKED, PermanentDelivery, lambda e: "blocked" in str(e)),
        (KICKED, PermanentDelivery, lambda e: "kicked" in str(e)),
        (CHAT_NOT_FOUND, PermanentDelivery, lambda e: MESSAGE_REJECTED not in str(e)),
        (NO_RIGHTS, PermanentDelivery, lambda e: MESSAGE_REJECTED not in str(e)),
        (TOPIC_CLOSED, PermanentDelivery, lambda e: MESSAGE_REJECTED not in str(e)),
        (migrated(-100999), ChatMoved, lambda e: e.new_chat_id == "-100999"),
        (SERVER_ERROR, RetryableDelivery, lambda e: e.retry_after is None),
        (BAD_GATEWAY, RetryableDelivery, lambda e: e.retry_after is None),
        (FakeError(401, "Unauthorized"), RetryableDelivery, lambda e: "token" in str(e)),
        (
            FakeError(400, "Bad Request: can't parse entities: Unsupported start tag"),
            MessageRejected,
            lambda e: str(e).startswith(MESSAGE_REJECTED),
        ),
    ],
    ids=[
        "429",
        "blocked",
        "kicked",
        "chat-not-found",
        "no-rights",
        "topic-closed",
        "migrated",
        "500",
        "502",
        "401",
        "bad-payload",
    ],
)
async def test_failures_become_core_delivery_errors(fake, bot, answer, error, check):
    fake.script("sendMessage", error=answer)
    with pytest.raises(error) as raised:
        await bot.send(GROUP, Text("hello"))
    assert type(raised.value) is error
    assert check(raised.value)
    assert fake.token not in str(raised.value)


async def test_a_slow_answer_is_a_retryable_timeout(fake, bot):
    fake.script("sendMessage", delay=1.5)
    with pytest.raises(RetryableDelivery):
        await bot.send(PRIVATE, Text("hello"))


async def test_a_scripted_failure_only_hits_its_chat(fake, bot):
    fake.script("sendMessage", chat_id=PRIVATE.chat_id, error=BLOCKED, times=None)
    with pytest.raises(PermanentDelivery):
        await bot.send(PRIVATE, Text("hello"))
    assert await bot.send(GROUP, Text("hello"))
    with pytest.raises(PermanentDelivery):
        await bot.send(PRIVATE, Text("again"))


async def test_sending_before_connecting_is_a_programming_error(fake, service):
    platform = await platform_for(fake, service)
    with pytest.raises(RuntimeError, match="async with"):
        await platform.send(PRIVATE, Text("hello"))


# -- the fake's flood limits, seen through the adapter -------------------------------------------


async def test_a_second_message_to_a_chat_within_a_second_is_told_to_wait(fake, service):
    fake.limits = Limits()
    async with await platform_for(fake, service) as bot:
        await bot.send(PRIVATE, Text("one"))
        with pytest.raises(RetryableDelivery) as raised:
            await bot.send(PRIVATE, Text("two"))
    assert raised.value.retry_after == 1.0
    assert fake.too_many_requests == 1


async def test_a_group_gets_at_most_twenty_messages_a_minute(fake, service):
    fake.limits = Limits(per_second=None, per_chat_per_second=None, per_group_per_minute=20)
    async with await platform_for(fake, service) as bot:
        for n in range(20):
            await bot.send(GROUP, Text(f"message {n}"))
        with pytest.raises(RetryableDelivery) as raised:
            await bot.send(GROUP, Text("one too many"))
        await bot.send(PRIVATE, Text("private chats are not groups"))
    assert 1 <= raised.value.retry_after <= 60


async def test_about_thirty_messages_a_second_overall(fake, service):
    fake.limits = Limits(per_second=30, per_chat_per_second=1, per_group_per_minute=None)
    async with await platform_for(fake, service) as bot:
        for chat in range(1, 31):
            await bot.send(ChatRef("telegram", str(chat)), Text("hi"))
        with pytest.raises(RetryableDelivery):
            await bot.send(ChatRef("telegram", "31"), Text("hi"))


async def test_raised_limits_let_a_paid_broadcast_through(fake, service):
    fake.limits = Limits(per_second=1000, per_chat_per_second=1, per_group_per_minute=20)
    async with await platform_for(fake, service) as bot:
        for chat in range(1, 101):
            await bot.send(ChatRef("telegram", str(chat)), Text("hi"))
    assert fake.too_many_requests == 0
