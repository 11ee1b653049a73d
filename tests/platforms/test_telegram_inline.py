"""Inline mode: ``@bot words`` in any chat answers with matching posts as article results."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fakes.telegram_api import (
    FakeTelegram,
    Limits,
    parse_html,
    processed,
    start_fake_telegram,
    telegram_settings,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.platforms.telegram import TelegramPlatform

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


@pytest.fixture
async def bot(fake: FakeTelegram, service: CommandService) -> AsyncIterator[TelegramPlatform]:
    async with TelegramPlatform(telegram_settings(fake), service, poll_timeout=1) as platform:
        yield platform


async def ask(fake, bot, query: str, offset: str = "") -> dict:
    await processed(fake, fake.inline_query_update(query, offset=offset), bot.application)
    return fake.calls("answerInlineQuery")[-1].params


async def test_a_query_answers_with_matching_posts_as_html_cards(fake, bot):
    answer = await ask(fake, bot, "크나큰")
    (result,) = answer["results"]
    assert result["type"] == "article"
    assert result["title"] == "KCRUSH Interview with KNK (크나큰)"
    assert result["url"] == "https://www.kcrush.com/post-13/"
    assert "크나큰" in result["description"] and "\x02" not in result["description"]
    content = result["input_message_content"]
    assert content["parse_mode"] == "HTML"
    visible, entities = parse_html(content["message_text"])  # valid Telegram HTML
    assert visible.startswith("KCRUSH Interview with KNK")
    links = [e["url"] for e in entities if e["type"] == "text_link"]
    assert links == ["https://www.kcrush.com/post-13/"]
    assert content["link_preview_options"]["url"] == "https://www.kcrush.com/post-13/"
    assert 0 < answer["cache_time"] <= 60


async def test_an_empty_query_answers_with_the_latest_posts(fake, bot):
    answer = await ask(fake, bot, "")
    titles = [r["title"] for r in answer["results"]]
    assert titles[0] == "KCRUSH Interview with KNK (크나큰)"
    assert len(titles) == 10
    assert "next_offset" not in answer or not answer["next_offset"]


async def test_many_results_page_with_next_offset(fake, bot):
    first = await ask(fake, bot, "interview")
    assert len(first["results"]) == 10 and first["next_offset"] == "10"
    second = await ask(fake, bot, "interview", offset="10")
    assert len(second["results"]) == 3
    assert not second.get("next_offset")
    ids = {r["id"] for r in first["results"]} | {r["id"] for r in second["results"]}
    assert len(ids) == 13


@pytest.mark.parametrize("query", ['"foo', "AND OR", "NEAR(", "x" * 300, "nothing-matches-this"])
async def test_hostile_or_empty_queries_get_an_answer(fake, bot, query):
    answer = await ask(fake, bot, query)
    assert isinstance(answer["results"], list)
