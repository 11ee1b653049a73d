"""Inline keyboards: paging edits the message in place, every press is answered exactly once,
stale or forged buttons change nothing, and a moderator's announcement is confirmed in place."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakes.telegram_api import (
    SERVER_ERROR,
    FakeTelegram,
    Limits,
    iter_buttons,
    processed,
    start_fake_telegram,
    telegram_settings,
    user_dict,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.platforms.telegram import TelegramPlatform

pytestmark = pytest.mark.timeout(30)

PRIVATE = 42
MODERATOR = 1001  # conftest.MODERATOR_TELEGRAM, a moderator in the core_config fixture


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


@pytest.fixture
async def bot(fake: FakeTelegram, service: CommandService) -> AsyncIterator[TelegramPlatform]:
    async with TelegramPlatform(telegram_settings(fake), service, poll_timeout=1) as platform:
        yield platform


async def run(fake, bot, update) -> None:
    await processed(fake, update, bot.application)


async def press(fake, bot, message, data, user=None) -> None:
    await run(fake, bot, fake.callback_update(message, data, user=user))


def button(message, label) -> str:
    return next(b["callback_data"] for b in iter_buttons(message) if label in b["text"])


async def search_page(fake, bot, chat_id=PRIVATE):
    await run(fake, bot, fake.message_update(chat_id, "/search interview"))
    return fake.sent(chat_id)[-1]


async def test_next_edits_the_results_message_in_place(fake, bot):
    page = await search_page(fake, bot)
    assert "Page 1/3" in page["text"]
    await press(fake, bot, page, button(page, "Next"))
    assert len(fake.sent(PRIVATE)) == 1  # no new message
    assert "Page 2/3" in page["text"]
    assert {b["text"] for b in iter_buttons(page)} == {"◀ Previous", "Next ▶"}
    (edit,) = fake.calls("editMessageText")
    assert edit.params["message_id"] == page["message_id"]
    assert edit.params["parse_mode"] == "HTML"
    assert len(fake.calls("answerCallbackQuery")) == 1


async def test_every_press_is_answered_without_an_alert_when_it_worked(fake, bot):
    page = await search_page(fake, bot)
    await press(fake, bot, page, button(page, "Next"))
    (answer,) = fake.calls("answerCallbackQuery")
    assert not answer.params.get("show_alert")
    assert fake._open_callbacks == set()


async def test_pressing_the_same_page_twice_is_not_an_error(fake, bot):
    page = await search_page(fake, bot)
    data = button(page, "Next")
    await press(fake, bot, page, data)
    await press(fake, bot, page, data)  # Telegram: "message is not modified"
    answers = fake.calls("answerCallbackQuery")
    assert len(answers) == 2
    assert not any(a.params.get("show_alert") for a in answers)
    assert [c.status for c in fake.calls("editMessageText")] == [200, 400]


@pytest.mark.parametrize(
    "data",
    ["search:nosuchtoken:2", "announce:confirm:999999", "drop table posts", "x" * 64],
)
async def test_stale_or_forged_buttons_get_an_alert_and_change_nothing(fake, bot, data):
    page = await search_page(fake, bot)
    before = dict(page)
    await press(fake, bot, page, data)
    (answer,) = fake.calls("answerCallbackQuery")
    assert answer.params["show_alert"] is True
    assert 0 < len(answer.params["text"]) <= 200
    assert fake.calls("editMessageText") == []
    assert page == before


async def test_a_button_under_an_inaccessible_message_is_still_answered(fake, bot):
    update = fake.callback_update(
        {"chat": {"id": PRIVATE, "type": "private"}, "message_id": 99, "date": 0},
        "search:x:2",
    )
    await run(fake, bot, update)
    (answer,) = fake.calls("answerCallbackQuery")
    assert answer.params["show_alert"] is True


async def test_a_failed_edit_still_answers_the_press(fake, bot):
    page = await search_page(fake, bot)
    fake.script("editMessageText", error=SERVER_ERROR)
    await press(fake, bot, page, button(page, "Next"))
    (answer,) = fake.calls("answerCallbackQuery")
    assert answer.params["show_alert"] is True
    assert "Page 1/3" in page["text"]


async def test_a_moderator_confirms_an_announcement_and_the_prompt_shows_the_outcome(
    fake, bot, filled_store, core_config
):
    assert str(MODERATOR) in core_config.moderators.telegram_users
    moderator = user_dict(MODERATOR)
    await run(fake, bot, fake.message_update(MODERATOR, "/announce Live tonight!", user=moderator))
    preview, prompt = fake.sent(MODERATOR)
    assert "Live tonight!" in preview["text"]
    assert {b["text"] for b in iter_buttons(prompt)} == {"Send", "Cancel"}

    await press(fake, bot, prompt, button(prompt, "Send"), user=moderator)
    assert prompt["text"].startswith("Announcement #1 confirmed")
    assert "reply_markup" not in prompt  # the buttons are gone
    assert (await filled_store.announcements.get(1)).status == "confirmed"


async def test_someone_else_pressing_confirm_changes_nothing(fake, bot, filled_store):
    moderator = user_dict(MODERATOR)
    await run(fake, bot, fake.message_update(MODERATOR, "/announce Live tonight!", user=moderator))
    prompt = fake.sent(MODERATOR)[-1]
    await press(fake, bot, prompt, button(prompt, "Send"), user=user_dict(5))
    (answer,) = fake.calls("answerCallbackQuery")
    assert answer.params["show_alert"] is True
    assert (await filled_store.announcements.get(1)).status == "draft"
    assert "reply_markup" in prompt
