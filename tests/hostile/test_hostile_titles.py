"""Hostile titles and teasers through every renderer and through the real adapters' send paths
against the fake platforms: output always valid and within limits, nobody pinged, no script
link anywhere, no control or bidi-override character in what a chat or terminal shows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from factories import make_post
from fakes.discord_api import FakeDiscord, Where, settings_for, start_fake_discord
from fakes.telegram_api import (
    FakeTelegram,
    Limits,
    processed,
    start_fake_telegram,
    telegram_settings,
    user_dict,
)
from hostile.hostile_corpus import FAMILY, HOSTILE_TITLE, LRI, PDF, PDI, RLO, ZALGO, ZWJ
from hostile.payload_checks import (
    assert_console_text,
    assert_discord_message,
    assert_telegram_call,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import HIGHLIGHT_END, HIGHLIGHT_START, ChatRef
from kcrush_bot.core.render import render_console, render_discord, render_telegram
from kcrush_bot.core.replies import (
    Button,
    Cards,
    Confirm,
    ErrorReply,
    ListItem,
    ListPage,
    TeaserCard,
    Text,
)
from kcrush_bot.platforms.discord import DiscordPlatform
from kcrush_bot.platforms.telegram import TelegramPlatform
from kcrush_bot.storage import Store

pytestmark = pytest.mark.timeout(30)

HOSTILE_TITLES = {
    "html-bold": "<b>bold</b> and <i>italic",
    "html-close-anchor": "</a></b></i> closing tags",
    "html-script-link": '<a href="javascript:alert(1)">click me</a>',
    "html-entities": "&lt;script&gt; &amp; &amp;amp; &#0; &#x202e; &nbsp; &bogus;",
    "html-telegram-tags": "<tg-spoiler>x</tg-spoiler><pre><code class='x'>y</code></pre>",
    "lone-angles": "<" * 300 + "&" * 300 + ">" * 300,
    "everyone": "@everyone new interview!",
    "here": "@here @Everyone @HERE",
    "role-mention": "<@&123456789012345678> listen",
    "user-mentions": "<@123456789012345678> <@!123456789012345678>",
    "channel-mention": "<#123456789012345678> go",
    "slash-mention": "</latest:123456789012345678> <:kcrush:123456789012345678>",
    "markdown": "**bold** __under__ ~~strike~~ `code` ```block``` ||spoiler|| \\ *",
    "markdown-links": "[click](javascript:alert(1)) [x](https://evil.example) <javascript:x>",
    "markdown-lines": "> quote\n# heading\n-# subtext\n- item\n1. numbered",
    "emoji-sequences": f"{FAMILY} 🇰🇷 👍🏽 🏳️‍🌈 {ZWJ * 20}",
    "zalgo": ZALGO * 20,
    "controls-and-bidi": HOSTILE_TITLE,
    "rtl-override": f"{RLO}gnp.exe{PDF} {LRI}x{PDI}",
    "astral-10000": "𝕂" * 10_000,
    "ten-thousand": ("KNK interview " * 800)[:10_000],
    "highlight-markers": f"{HIGHLIGHT_START}fake bold{HIGHLIGHT_END}",
    "crlf": "line one\r\nline two\rline three\u2028line four",
    "blank": " \u200b \u3000 ",
}
EVIL_URLS = (
    "javascript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://www.kcrush.com@evil.example/",
    "https://www.kcrush.com/x/\u202e",
    " javascript:alert(1)",
)


def hostile_cards() -> list[TeaserCard]:
    cards = []
    for n, text in enumerate(HOSTILE_TITLES.values()):
        cards.append(
            TeaserCard(
                title=text,
                teaser=text,
                url=f"https://www.kcrush.com/hostile-{n}/",
                categories=(text[:50], "Interviews"),
                published_at=datetime(2024, 5, 1, tzinfo=UTC),
                image_url="https://www.kcrush.com/wp-content/uploads/x.jpg" if n % 2 else None,
            )
        )
    for n, url in enumerate(EVIL_URLS):
        cards.append(TeaserCard(title=f"Evil link {n}", teaser="t", url=url, image_url=url))
    return cards


def hostile_replies() -> list[object]:
    cards = hostile_cards()
    replies: list[object] = [Cards((card,), intro=card.title) for card in cards]
    replies.append(Cards(tuple(cards[:10]), intro="many"))
    items = tuple(
        ListItem(c.title, c.url, f"{HIGHLIGHT_START}{c.teaser}{HIGHLIGHT_END}") for c in cards
    )
    replies.append(ListPage(title=HOSTILE_TITLES["everyone"], items=items, footer=HOSTILE_TITLE))
    for text in HOSTILE_TITLES.values():
        replies.append(Text(text, title=text, buttons=(Button(text[:40] or "x", "search:a:2"),)))
        replies.append(ErrorReply(text, suggestions=(text,)))
        replies.append(
            Confirm(
                prompt=text,
                preview=Text(text, title="Announcement"),
                confirm=Button("Send", "announce:confirm:1"),
                cancel=Button("Cancel", "announce:cancel:1"),
            )
        )
    return replies


REPLIES = hostile_replies()


def test_every_hostile_reply_renders_valid_telegram_calls() -> None:
    for reply in REPLIES:
        for call in render_telegram(reply):  # type: ignore[arg-type]
            assert_telegram_call(call.method, call.params)


def test_every_hostile_reply_renders_safe_discord_messages() -> None:
    for reply in REPLIES:
        for payload in render_discord(reply):  # type: ignore[arg-type]
            assert_discord_message(payload)
            json.dumps(payload)  # a lone surrogate would make the request unencodable


def test_every_hostile_reply_renders_clean_console_text() -> None:
    for reply in REPLIES:
        assert_console_text(render_console(reply))  # type: ignore[arg-type]


# -- through the real adapters, against the fakes --------------------------------------------


def hostile_posts() -> list:
    posts = []
    for n, text in enumerate(HOSTILE_TITLES.values()):
        post = make_post(500 + n, title=text, teaser=text)
        posts.append(replace(post, image_url=EVIL_URLS[n % len(EVIL_URLS)] if n % 3 == 0 else None))
    return posts


@pytest.fixture
async def hostile_store(filled_store: Store) -> Store:
    await filled_store.posts.upsert(hostile_posts(), source="hostile", pushable=False)
    return filled_store


@pytest.fixture
async def telegram(hostile_store: Store) -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    yield fake
    await fake.close()


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = await start_fake_discord(channel_limit=None, global_limit=None)
    yield fake
    await fake.close()


async def test_telegram_sends_hostile_cards_and_lists_that_telegram_accepts(
    telegram: FakeTelegram, service: CommandService, hostile_store: Store
) -> None:
    platform = TelegramPlatform(telegram_settings(telegram), service, poll_timeout=1)
    async with platform:
        for card in hostile_cards():
            await platform.send(ChatRef("telegram", "42"), Cards((card,), intro=card.title))
        for reply in REPLIES[-6:]:
            await platform.send(ChatRef("telegram", "42"), reply)  # type: ignore[arg-type]
        for text in ("/latest 10", "/search KNK", "/search everyone", "/search 𝕂𝕂𝕂"):
            update = telegram.message_update(42, text, user=user_dict(42))
            await processed(telegram, update, platform.application)
    sends = [c for c in telegram.calls_log if c.method in ("sendMessage", "sendPhoto")]
    assert len(sends) > len(hostile_cards())
    for call in telegram.calls_log:
        assert call.status == 200, (call.method, call.params)
        assert_telegram_call(call.method, call.params)


async def test_discord_sends_hostile_cards_and_lists_that_ping_nobody(
    discord: FakeDiscord, service: CommandService, hostile_store: Store
) -> None:
    channel = "500000000000000001"
    async with DiscordPlatform(settings_for(discord), service) as platform:
        await discord.wait_identified()
        for card in hostile_cards():
            await platform.send(ChatRef("discord", channel), Cards((card,), intro=card.title))
        for reply in REPLIES[-6:]:
            await platform.send(ChatRef("discord", channel), reply)  # type: ignore[arg-type]
        for name, options in (
            ("latest", [{"name": "count", "type": 4, "value": 10}]),
            ("search", [{"name": "query", "type": 3, "value": "everyone"}]),
            ("search", [{"name": "query", "type": 3, "value": "KNK"}]),
        ):
            await discord.run_interaction(discord.slash(name, options, Where()))
    requests = [
        r for r in discord.requests if r.method in ("POST", "PATCH") and isinstance(r.json, dict)
    ]
    assert len(discord.channel_posts(channel)) >= len(hostile_cards())
    for request in requests:
        assert request.status < 400, (request.path, request.status, request.response)
    bodies = discord.outgoing_messages()
    assert len(bodies) > len(hostile_cards())
    for body in bodies:
        assert_discord_message(body)
