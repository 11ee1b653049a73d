"""Editing and deleting sent messages on Telegram: text stays text, a photo stays a photo,
"not modified" is success, and a message Telegram will not delete is reported as such."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from fakes.telegram_api import FakeTelegram, Limits, start_fake_telegram, telegram_settings
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.errors import CannotDelete, MessageGone
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.replies import Cards, TeaserCard, Text
from kcrush_bot.platforms.telegram import TelegramPlatform

pytestmark = pytest.mark.timeout(30)

PRIVATE = ChatRef("telegram", "42")
SUPERGROUP = ChatRef("telegram", "-1001234")
CARD = TeaserCard(
    title="KCRUSH Interview with KNK",
    teaser="KNK talks about touring.",
    url="https://www.kcrush.com/knk/",
    categories=("K-Pop Interviews",),
    published_at=datetime(2024, 5, 1, tzinfo=UTC),
)
PHOTO = dataclasses.replace(CARD, image_url="https://www.kcrush.com/knk.jpg")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


@pytest.fixture
async def bot(fake: FakeTelegram, service: CommandService) -> AsyncIterator[TelegramPlatform]:
    platform = TelegramPlatform(telegram_settings(fake), service, poll_timeout=1)
    async with platform:
        yield platform


async def test_a_text_card_is_edited_in_place(fake: FakeTelegram, bot: TelegramPlatform) -> None:
    [message_id] = await bot.send(PRIVATE, Cards((CARD,)))
    await bot.edit(PRIVATE, [message_id], Cards((dataclasses.replace(CARD, title="KNK, fixed"),)))
    message = fake.message(42, message_id)
    assert message is not None and message["text"].startswith("KNK, fixed")
    assert len(fake.sent(42)) == 1  # edited, not sent again


async def test_an_edit_that_changes_nothing_succeeds(
    fake: FakeTelegram, bot: TelegramPlatform
) -> None:
    [text_id] = await bot.send(PRIVATE, Cards((CARD,)))
    [photo_id] = await bot.send(PRIVATE, Cards((PHOTO,)))
    await bot.edit(PRIVATE, [text_id], Cards((CARD,)))
    await bot.edit(PRIVATE, [photo_id], Cards((PHOTO,)))
    assert fake.edits == []


async def test_a_photo_card_gets_its_new_image_and_caption(
    fake: FakeTelegram, bot: TelegramPlatform
) -> None:
    [message_id] = await bot.send(PRIVATE, Cards((PHOTO,)))
    new = dataclasses.replace(PHOTO, title="New title", image_url="https://www.kcrush.com/new.jpg")
    await bot.edit(PRIVATE, [message_id], Cards((new,)))
    message = fake.message(42, message_id)
    assert message is not None
    assert message["photo_url"] == "https://www.kcrush.com/new.jpg"
    assert message["caption"].startswith("New title")


async def test_a_photo_whose_image_was_removed_keeps_its_photo_and_changes_its_caption(
    fake: FakeTelegram, bot: TelegramPlatform
) -> None:
    [message_id] = await bot.send(PRIVATE, Cards((PHOTO,)))
    await bot.edit(PRIVATE, [message_id], Cards((dataclasses.replace(CARD, title="No image"),)))
    message = fake.message(42, message_id)
    assert message is not None and "photo" in message
    assert message["caption"].startswith("No image")


async def test_a_text_message_cannot_gain_a_photo_so_its_text_is_edited(
    fake: FakeTelegram, bot: TelegramPlatform
) -> None:
    [message_id] = await bot.send(PRIVATE, Cards((CARD,)))
    await bot.edit(
        PRIVATE, [message_id], Cards((dataclasses.replace(PHOTO, title="Now with art"),))
    )
    message = fake.message(42, message_id)
    assert message is not None and "photo" not in message
    assert message["text"].startswith("Now with art")


async def test_a_tombstone_on_a_photo_becomes_its_caption(
    fake: FakeTelegram, bot: TelegramPlatform
) -> None:
    [message_id] = await bot.send(PRIVATE, Cards((PHOTO,)))
    await bot.edit(PRIVATE, [message_id], Text("This post was withdrawn."))
    message = fake.message(42, message_id)
    assert message is not None and message["caption"] == "This post was withdrawn."


async def test_deletion_and_the_48_hour_rule(fake: FakeTelegram, bot: TelegramPlatform) -> None:
    [fresh] = await bot.send(PRIVATE, Cards((CARD,)))
    await bot.delete(PRIVATE, [fresh])
    assert fake.message(42, fresh) is None

    [old] = await bot.send(PRIVATE, Cards((CARD,)))
    [old_in_supergroup] = await bot.send(SUPERGROUP, Cards((CARD,)))
    fake.age_messages(42, 49)
    fake.age_messages(-1001234, 49)
    with pytest.raises(CannotDelete):
        await bot.delete(PRIVATE, [old])
    await bot.delete(SUPERGROUP, [old_in_supergroup])  # supergroups have no such limit
    assert fake.message(-1001234, old_in_supergroup) is None


async def test_a_message_deleted_meanwhile_is_gone(
    fake: FakeTelegram, bot: TelegramPlatform
) -> None:
    [message_id] = await bot.send(PRIVATE, Cards((CARD,)))
    await bot.delete(PRIVATE, [message_id])
    with pytest.raises(MessageGone):
        await bot.edit(PRIVATE, [message_id], Cards((CARD,)))
    with pytest.raises(MessageGone):
        await bot.delete(PRIVATE, [message_id])
