"""Commands through the real python-telegram-bot, driven as updates from a fake Bot API.

Private chats, groups (admins, members, anonymous admins, forum topics) and channels
(commands as channel posts); the command menu; unknown commands; the last-resort error handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from fakes.telegram_api import (
    GROUP_ANONYMOUS_BOT,
    FakeError,
    FakeTelegram,
    Limits,
    processed,
    start_fake_telegram,
    telegram_settings,
    user_dict,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.core.replies import Text
from kcrush_bot.platforms.telegram import TelegramPlatform

pytestmark = pytest.mark.timeout(30)

PRIVATE = 42
GROUP = -1001234
CHANNEL = -1005555
ADMIN, MEMBER = 7, 8


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    # Command replies come in bursts (a card per post); flood limits have their own tests.
    fake = await start_fake_telegram(limits=Limits.off())
    fake.add_chat(GROUP, "supergroup", "K-pop fans")
    fake.add_chat(CHANNEL, "channel", "KCrush feed")
    fake.set_member(GROUP, ADMIN, "administrator")
    yield fake
    await fake.close()


@pytest.fixture
async def bot(fake: FakeTelegram, service: CommandService) -> AsyncIterator[TelegramPlatform]:
    platform = TelegramPlatform(telegram_settings(fake), service, poll_timeout=1, request_timeout=2)
    async with platform:
        yield platform


async def say(
    fake: FakeTelegram, bot: TelegramPlatform, chat_id: int, text: str, **kwargs: object
) -> list[str]:
    """Post ``text`` as a user in ``chat_id``; the texts the bot answered with."""
    before = len(fake.sent(chat_id))
    update = fake.message_update(chat_id, text, **kwargs)  # type: ignore[arg-type]
    await processed(fake, update, bot.application)
    return fake.texts(chat_id)[before:]


async def test_latest_in_a_private_chat_sends_an_intro_and_one_card_per_post(fake, bot):
    texts = await say(fake, bot, PRIVATE, "/latest 3")
    assert texts[0] == "The latest 3 posts."
    assert len(texts) == 4
    photo = fake.calls("sendPhoto", PRIVATE)
    assert photo and photo[0].params["parse_mode"] == "HTML"
    assert "크나큰" in photo[0].params["caption"]


async def test_a_burst_of_cards_waits_out_the_per_chat_flood_limit(service):
    fake = await start_fake_telegram(limits=Limits())  # 1 message a second per chat
    try:
        platform = TelegramPlatform(
            telegram_settings(fake), service, poll_timeout=1, request_timeout=2
        )
        async with platform:
            texts = await say(fake, platform, PRIVATE, "/latest 3")
        assert fake.too_many_requests >= 1  # the burst did trip the limit…
        assert len(texts) == 4  # …and every card still arrived
    finally:
        await fake.close()


async def test_after_intake_stops_updates_are_not_taken_but_sends_work(fake, bot):
    await bot.stop_receiving()
    fake.push_update(fake.message_update(PRIVATE, "/latest 1"))
    await asyncio.sleep(1.5)  # longer than a poll: nothing comes to take it
    assert fake.sent(PRIVATE) == []
    await bot.send(ChatRef("telegram", str(PRIVATE)), Text("still delivering"))
    assert fake.texts(PRIVATE) == ["still delivering"]


async def test_group_commands_with_the_bot_name_suffix_are_answered(fake, bot):
    texts = await say(fake, bot, GROUP, "/search@kcrush_test_bot knk", user=user_dict(MEMBER))
    assert texts and texts[0].startswith("Search: knk")


async def test_a_command_for_another_bot_is_ignored(fake, bot):
    assert await say(fake, bot, GROUP, "/latest@other_bot", user=user_dict(MEMBER)) == []


async def test_reading_commands_never_ask_for_chat_membership(fake, bot):
    await say(fake, bot, GROUP, "/latest 1", user=user_dict(MEMBER))
    await say(fake, bot, GROUP, "/subscriptions", user=user_dict(MEMBER))
    assert fake.calls("getChatMember") == []


async def test_a_group_admin_may_subscribe_and_a_member_may_not(fake, bot, filled_store):
    refused = await say(fake, bot, GROUP, "/subscribe kpop", user=user_dict(MEMBER))
    assert refused == ["⚠️ Only the chat's admins can change what this chat receives."]
    assert await filled_store.chats.subscriptions(ChatRef("telegram", str(GROUP))) == []

    accepted = await say(fake, bot, GROUP, "/subscribe kpop", user=user_dict(ADMIN))
    assert accepted[0].startswith("Subscribed to K-Pop")
    subs = await filled_store.chats.subscriptions(ChatRef("telegram", str(GROUP)))
    assert [(s.category, s.mode) for s in subs] == [("kpop", Mode.INSTANT)]


async def test_admin_status_is_cached_between_commands(fake, bot):
    await say(fake, bot, GROUP, "/subscribe", user=user_dict(ADMIN))
    await say(fake, bot, GROUP, "/unsubscribe all", user=user_dict(ADMIN))
    assert len(fake.calls("getChatMember", GROUP)) == 1


async def test_an_anonymous_admin_counts_as_admin_without_a_lookup(fake, bot, filled_store):
    group = fake.chat(GROUP)
    texts = await say(fake, bot, GROUP, "/subscribe", user=GROUP_ANONYMOUS_BOT, sender_chat=group)
    assert texts[0].startswith("Subscribed to")
    assert fake.calls("getChatMember") == []
    assert await filled_store.chats.subscriptions(ChatRef("telegram", str(GROUP)))


async def test_a_failing_membership_lookup_refuses_rather_than_crashes(fake, bot):
    fake.script("getChatMember", error=FakeError(500, "Internal Server Error"))
    texts = await say(fake, bot, GROUP, "/subscribe", user=user_dict(ADMIN))
    assert texts == ["⚠️ Only the chat's admins can change what this chat receives."]


async def test_channel_posts_run_commands_as_the_channel_admin(fake, bot, filled_store):
    update = fake.channel_post_update(CHANNEL, "/subscribe interviews")
    await processed(fake, update, bot.application)
    assert fake.texts(CHANNEL)[0].startswith("Subscribed to Interviews")
    subs = await filled_store.chats.subscriptions(ChatRef("telegram", str(CHANNEL)))
    assert [s.category for s in subs] == ["interviews"]
    assert fake.calls("getChatMember") == []


async def test_a_channel_post_without_a_command_entity_still_runs_the_command(fake, bot):
    message = fake._message(fake.chat(CHANNEL), "/latest 1")
    message.pop("entities")
    message["sender_chat"] = fake.chat(CHANNEL)
    update = fake.push_update({"channel_post": message})
    await processed(fake, update, bot.application)
    assert fake.texts(CHANNEL)[0] == "The latest 1 post."


async def test_replies_in_a_forum_topic_stay_in_that_topic(fake, bot):
    await say(fake, bot, GROUP, "/help", user=user_dict(MEMBER), thread_id=77)
    call = fake.calls("sendMessage", GROUP)[-1]
    assert call.params["message_thread_id"] == 77


async def test_a_deep_link_subscribes_a_private_chat(fake, bot, filled_store):
    texts = await say(fake, bot, PRIVATE, "/start subscribe_interviews")
    assert texts[0].startswith("Subscribed to Interviews")
    subs = await filled_store.chats.subscriptions(ChatRef("telegram", str(PRIVATE)))
    assert [s.category for s in subs] == ["interviews"]


async def test_a_deep_link_in_a_group_does_not_bypass_the_admin_check(fake, bot, filled_store):
    texts = await say(fake, bot, GROUP, "/start subscribe_interviews", user=user_dict(MEMBER))
    assert texts[0].startswith("⚠️")
    assert await filled_store.chats.subscriptions(ChatRef("telegram", str(GROUP))) == []


async def test_an_unknown_command_in_a_private_chat_gets_a_hint(fake, bot):
    texts = await say(fake, bot, PRIVATE, "/lates")
    assert texts == ["⚠️ Unknown command. Did you mean /latest? /help lists what I can do."]


async def test_an_unknown_command_in_a_group_is_left_for_other_bots(fake, bot):
    assert await say(fake, bot, GROUP, "/ban someone", user=user_dict(MEMBER)) == []


async def test_arguments_keep_their_line_breaks(fake, bot, service, monkeypatch):
    seen = []
    original = service.dispatch

    async def spy(caller, name, text=""):
        seen.append(text)
        return await original(caller, name, text)

    monkeypatch.setattr(service, "dispatch", spy)
    await say(fake, bot, PRIVATE, "/help  latest\nplease")
    assert seen == ["latest\nplease"]


async def test_the_command_menu_lists_every_registry_command(fake, bot, service):
    (call,) = fake.calls("setMyCommands")
    names = [c["command"] for c in call.params["commands"]]
    assert names == [c.name for c in service.registry.for_platform("telegram")]
    assert all(0 < len(c["description"]) <= 256 for c in call.params["commands"])


async def test_a_failing_command_menu_does_not_stop_the_bot(fake, service, caplog):
    fake.script("setMyCommands", error=FakeError(400, "Bad Request: BOT_COMMAND_INVALID"))
    platform = TelegramPlatform(telegram_settings(fake), service, poll_timeout=1)
    with caplog.at_level(logging.WARNING):
        async with platform:
            assert await say(fake, platform, PRIVATE, "/latest 1")
    assert "could not set the command menu" in caplog.text


async def test_an_unexpected_error_is_logged_and_answered_with_an_apology(
    fake, bot, service, monkeypatch, caplog
):
    async def broken(caller, name, text=""):
        raise RuntimeError("database exploded at /very/secret/path")

    monkeypatch.setattr(service, "dispatch", broken)
    with caplog.at_level(logging.ERROR):
        texts = await say(fake, bot, PRIVATE, "/latest")
    assert texts == ["⚠️ Something went wrong on my side; it has been logged. Try again."]
    assert "database exploded" in caplog.text  # in the log, never in the chat


async def test_a_rejected_token_is_a_clear_configuration_error(fake, service):
    from kcrush_bot.core.errors import ConfigError
    from kcrush_bot.settings import Secret

    settings = telegram_settings(fake, token=Secret("999:wrong-token"))
    with pytest.raises(ConfigError, match="KCRUSH_TELEGRAM_TOKEN"):
        async with TelegramPlatform(settings, service):
            pass
