"""Editing and deleting sent messages on Discord: bot messages and webhook messages alike, no
mention allowed in an edit either, and a message deleted meanwhile is reported gone."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from factories import make_post
from fakes.discord_api import FAKE_TOKEN, FakeDiscord, settings_for, start_fake_discord
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.errors import MessageGone
from kcrush_bot.core.models import ChatRef
from kcrush_bot.core.replies import Cards, TeaserCard, Text
from kcrush_bot.platforms.discord import DiscordPlatform

pytestmark = pytest.mark.timeout(20)

CHANNEL = ChatRef("discord", "500000000000000001")
HOOKED = ChatRef("discord", "520000000000000001")
WEBHOOK_ID = "1300000000000000001"
CARD = TeaserCard.from_post(make_post(1), {"k-pop-interviews": "K-Pop Interviews"})


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = await start_fake_discord(token=FAKE_TOKEN, channel_limit=(50, 1.0))
    yield fake
    for body in fake.outgoing_messages():
        assert body.get("allowed_mentions") == {"parse": []}, body
    await fake.close()


@pytest.fixture
async def platform(fake: FakeDiscord, service: CommandService) -> AsyncIterator[DiscordPlatform]:
    settings = settings_for(fake, webhooks={HOOKED.chat_id: fake.webhook_url(WEBHOOK_ID)})
    async with DiscordPlatform(settings, service, gateway=False) as platform:
        yield platform


@pytest.mark.parametrize("chat", [CHANNEL, HOOKED], ids=["bot message", "webhook message"])
async def test_a_card_is_edited_in_place(
    fake: FakeDiscord, platform: DiscordPlatform, chat: ChatRef
) -> None:
    [message_id] = await platform.send(chat, Cards((CARD,)))
    new = dataclasses.replace(CARD, title="@everyone a corrected title")
    await platform.edit(chat, [message_id], Cards((new,)))
    assert fake.edited == [message_id]
    assert fake.messages[message_id]["embeds"][0]["title"].endswith("a corrected title")


@pytest.mark.parametrize("chat", [CHANNEL, HOOKED], ids=["bot message", "webhook message"])
async def test_a_card_is_deleted_and_then_gone(
    fake: FakeDiscord, platform: DiscordPlatform, chat: ChatRef
) -> None:
    [message_id] = await platform.send(chat, Cards((CARD,)))
    await platform.delete(chat, [message_id])
    assert message_id not in fake.messages and fake.deleted == [message_id]
    with pytest.raises(MessageGone):
        await platform.delete(chat, [message_id])
    with pytest.raises(MessageGone):
        await platform.edit(chat, [message_id], Text("This post was withdrawn."))


async def test_a_tombstone_replaces_the_card(fake: FakeDiscord, platform: DiscordPlatform) -> None:
    [message_id] = await platform.send(CHANNEL, Cards((CARD,)))
    await platform.edit(CHANNEL, [message_id], Text("This post was withdrawn."))
    shown = fake.messages[message_id]
    text = shown["content"] + " ".join(e.get("description", "") for e in shown["embeds"])
    assert "This post was withdrawn." in text
    assert all(CARD.title not in e.get("title", "") for e in shown["embeds"])
