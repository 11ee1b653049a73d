"""The issue's "done when": a private chat, a group and a channel use the bot end to end.

Everything goes through the real python-telegram-bot polling a fake Bot API: commands as
messages and channel posts, button presses as callback queries; the store is checked after.
"""

from __future__ import annotations

import pytest

from fakes.telegram_api import (
    Limits,
    iter_buttons,
    processed,
    start_fake_telegram,
    telegram_settings,
    user_dict,
)
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.platforms.telegram import TelegramPlatform

# The moderator of the core_config fixture (conftest.MODERATOR_TELEGRAM), in their private chat.
PRIVATE = 1001
GROUP = -1002000
CHANNEL = -1003000
ADMIN, MEMBER = 11, 12


@pytest.mark.timeout(45)
async def test_private_chat_group_and_channel_end_to_end(service, filled_store, core_config):
    assert str(PRIVATE) in core_config.moderators.telegram_users
    fake = await start_fake_telegram(limits=Limits.off())
    fake.add_chat(GROUP, "supergroup", "KCrush fans")
    fake.add_chat(CHANNEL, "channel", "KCrush feed")
    fake.set_member(GROUP, ADMIN, "administrator")
    moderator = user_dict(PRIVATE)
    try:
        async with TelegramPlatform(telegram_settings(fake), service, poll_timeout=1) as bot:

            async def say(chat_id: int, text: str, user: dict | None = None) -> list[str]:
                before = len(fake.sent(chat_id))
                if chat_id == CHANNEL:
                    update = fake.channel_post_update(chat_id, text)
                else:
                    update = fake.message_update(chat_id, text, user=user)
                await processed(fake, update, bot.application)
                return fake.texts(chat_id)[before:]

            async def press_next(chat_id: int, user: dict | None = None) -> str:
                page = fake.sent(chat_id)[-1]
                data = next(b["callback_data"] for b in iter_buttons(page) if "Next" in b["text"])
                update = fake.callback_update(page, data, user=user)
                await processed(fake, update, bot.application)
                return page["text"]

            chats = {PRIVATE: moderator, GROUP: user_dict(ADMIN), CHANNEL: None}
            for chat_id, user in chats.items():
                assert (await say(chat_id, "/start", user))[0].startswith("Hello!")
                latest = await say(chat_id, "/latest", user)
                assert latest[0] == "The latest 5 posts." and len(latest) == 6
                (results,) = await say(chat_id, "/search interview", user)
                assert "Page 1/3" in results
                assert "Page 2/3" in await press_next(chat_id, user)
                newest = await say(chat_id, "/category interviews", user)
                assert newest[0] == "Newest in Interviews."
                assert (await say(chat_id, "/subscribe", user))[0].startswith(
                    "Subscribed to Interviews"
                )
                assert "Interviews" in (await say(chat_id, "/subscriptions", user))[0]
                (digest,) = await say(chat_id, "/digest daily 08:00 Asia/Seoul", user)
                assert "08:00" in digest

            refused = await say(GROUP, "/subscribe kpop", user_dict(MEMBER))
            assert refused == ["⚠️ Only the chat's admins can change what this chat receives."]

            preview_and_prompt = await say(
                PRIVATE, "/announce Our KNK interview is live!", moderator
            )
            assert "Our KNK interview is live!" in preview_and_prompt[0]
            assert preview_and_prompt[-1].startswith("Send this announcement to 3 chats")
            prompt = fake.sent(PRIVATE)[-1]
            send = next(b["callback_data"] for b in iter_buttons(prompt) if b["text"] == "Send")
            update = fake.callback_update(prompt, send, user=moderator)
            await processed(fake, update, bot.application)
            assert prompt["text"].startswith("Announcement #1 confirmed")
            assert "reply_markup" not in prompt
    finally:
        await fake.close()

    # Every button press was answered exactly once, none with an error.
    answers = fake.calls("answerCallbackQuery")
    assert len(answers) == 4 and not any(a.params.get("show_alert") for a in answers)

    for chat_id in (PRIVATE, GROUP, CHANNEL):
        chat = ChatRef("telegram", str(chat_id))
        subs = await filled_store.chats.subscriptions(chat)
        assert [(s.category, s.mode, s.active) for s in subs] == [
            ("interviews", Mode.DAILY, True)  # the digest replaced instant posts
        ]
        (digest,) = await filled_store.chats.digests(chat)
        assert (digest.frequency, digest.time, digest.timezone) == (
            Mode.DAILY,
            "08:00",
            "Asia/Seoul",
        )
    announcement = await filled_store.announcements.get(1)
    assert announcement is not None
    assert (announcement.status, announcement.author) == ("confirmed", f"telegram:{PRIVATE}")
    # Only the group's admin was looked up (once, then cached); never for reading commands.
    assert sorted(c.params["user_id"] for c in fake.calls("getChatMember")) == [ADMIN, MEMBER]
