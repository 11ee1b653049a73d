"""Who may run what: every registry command × every platform × every kind of caller, allowed
exactly where DESIGN.md says. The Telegram and Discord cells run end to end (a real update from
the fake Bot API, a real INTERACTION_CREATE over the fake gateway), so the callers are built by
the adapters' own code from what the platform sent; the core cells use ``dispatch`` directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from factories import MODERATOR_DISCORD, MODERATOR_ROLE, MODERATOR_TELEGRAM
from fakes.discord_api import DM, FakeDiscord, Where, settings_for, start_fake_discord
from fakes.telegram_api import (
    GROUP_ANONYMOUS_BOT,
    FakeTelegram,
    Limits,
    processed,
    start_fake_telegram,
    telegram_settings,
    user_dict,
)
from hostile.payload_checks import assert_discord_message
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.permissions import REFUSALS, Access
from kcrush_bot.core.render import render_console
from kcrush_bot.platforms.console import console_caller
from kcrush_bot.platforms.discord import DiscordPlatform
from kcrush_bot.platforms.telegram import TelegramPlatform

pytestmark = pytest.mark.timeout(60)

# DESIGN.md §1, written out here rather than read from the registry, so that a command declared
# with the wrong access fails this test.
EXPECTED = {
    "latest": Access.ANYONE,
    "search": Access.ANYONE,
    "category": Access.ANYONE,
    "subscriptions": Access.ANYONE,
    "help": Access.ANYONE,
    "status": Access.ANYONE,
    "start": Access.ANYONE,
    "subscribe": Access.CHAT_ADMIN,
    "unsubscribe": Access.CHAT_ADMIN,
    "digest": Access.CHAT_ADMIN,
    "announce": Access.MODERATOR,
}
ONLY_ON = {"start": ("telegram", "console")}
ARGUMENTS = {
    "latest": "1",
    "search": "knk",
    "subscribe": "kpop",
    "unsubscribe": "all",
    "digest": "daily",
    "announce": "Hello fans",
}
REFUSAL_TEXTS = set(REFUSALS.values())


def allowed(access: Access, *, moderator: bool, manages_chat: bool) -> bool:
    if access is Access.ANYONE:
        return True
    return manages_chat if access is Access.CHAT_ADMIN else moderator


def test_the_registry_declares_what_the_design_says(service: CommandService) -> None:
    assert {c.name for c in service.registry} == set(EXPECTED)
    for command in service.registry:
        assert command.access is EXPECTED[command.name], command.name
        for platform in ("telegram", "discord", "console"):
            assert command.available_on(platform) == (
                platform in ONLY_ON.get(command.name, (platform,))
            ), (command.name, platform)


async def test_the_console_operator_may_run_everything(service: CommandService) -> None:
    cells = 0
    for name in EXPECTED:
        replies = await service.dispatch(console_caller(), name, ARGUMENTS.get(name, ""))
        text = "\n".join(render_console(r) for r in replies)
        assert not any(refusal in text for refusal in REFUSAL_TEXTS), (name, text)
        cells += 1
    assert cells == len(EXPECTED)


# -- Telegram, end to end -------------------------------------------------------------------------

GROUP, CHANNEL, PRIVATE = -1001234, -1005555, 42
ADMIN, MEMBER, MODERATOR = 7, 8, int(MODERATOR_TELEGRAM)
# caller → (how the update is made, is a moderator, may manage the chat)
TELEGRAM_CALLERS = {
    "moderator in a group": (MODERATOR, True, False),
    "chat admin": (ADMIN, False, True),
    "member": (MEMBER, False, False),
    "private chat": (PRIVATE, False, True),
    "moderator in private": (MODERATOR, True, True),
    "channel": ("channel", False, True),
    "anonymous admin": ("anonymous", False, True),
}


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = await start_fake_telegram(limits=Limits.off())
    fake.add_chat(GROUP, "supergroup", "K-pop fans")
    fake.add_chat(CHANNEL, "channel", "KCrush feed")
    fake.set_member(GROUP, ADMIN, "administrator")
    fake.set_member(GROUP, MEMBER, "member")
    fake.set_member(GROUP, MODERATOR, "member")
    yield fake
    await fake.close()


async def telegram_answer(
    fake: FakeTelegram, bot: TelegramPlatform, who: str, text: str
) -> list[str]:
    kind = TELEGRAM_CALLERS[who][0]
    if kind == "channel":
        chat = CHANNEL
        update = fake.channel_post_update(CHANNEL, text)
    elif kind == "anonymous":
        chat = GROUP
        update = fake.message_update(
            GROUP, text, user=GROUP_ANONYMOUS_BOT, sender_chat=fake.chat(GROUP)
        )
    else:
        chat = GROUP if who in ("moderator in a group", "chat admin", "member") else int(kind)
        update = fake.message_update(chat, text, user=user_dict(int(kind)))
    before = len(fake.texts(chat))
    await processed(fake, update, bot.application)
    return fake.texts(chat)[before:]


async def test_telegram_permission_matrix(telegram: FakeTelegram, service: CommandService) -> None:
    cells = 0
    async with TelegramPlatform(telegram_settings(telegram), service, poll_timeout=1) as bot:
        for who, (_, moderator, manages) in TELEGRAM_CALLERS.items():
            for name, access in EXPECTED.items():
                line = f"/{name} {ARGUMENTS.get(name, '')}".strip()
                texts = await telegram_answer(telegram, bot, who, line)
                refused = any(t.removeprefix("⚠️ ") in REFUSAL_TEXTS for t in texts)
                expect = allowed(access, moderator=moderator, manages_chat=manages)
                assert texts, (who, name)
                assert refused is not expect, (who, name, texts[:2])
                cells += 1
    assert cells == len(TELEGRAM_CALLERS) * len(EXPECTED)


# -- Discord, end to end ----------------------------------------------------------------------------

MANAGE_CHANNELS, MANAGE_GUILD, ADMINISTRATOR, SEND = 1 << 4, 1 << 5, 1 << 3, 1 << 11
# caller → (where and who, is a moderator, may manage the channel)
DISCORD_CALLERS = {
    "member": (Where(permissions=SEND, user_id="9"), False, False),
    "channel admin (Manage Channels)": (
        Where(permissions=SEND | MANAGE_CHANNELS, user_id="10"),
        False,
        True,
    ),
    "Manage Server": (Where(permissions=MANAGE_GUILD, user_id="11"), True, True),
    "Administrator": (Where(permissions=ADMINISTRATOR, user_id="12"), True, True),
    "moderator by user id": (Where(permissions=SEND, user_id=MODERATOR_DISCORD), True, False),
    "moderator by role": (
        Where(permissions=SEND, user_id="13", roles=(MODERATOR_ROLE,)),
        True,
        False,
    ),
    "member with another role": (
        Where(permissions=SEND, user_id="14", roles=("999",)),
        False,
        False,
    ),
    "private chat (DM)": (
        Where(guild_id=None, channel_id="600000000000000001", channel_type=DM, user_id="15"),
        False,
        True,
    ),
}
DISCORD_OPTIONS = {
    "latest": [{"name": "count", "type": 4, "value": 1}],
    "search": [{"name": "query", "type": 3, "value": "knk"}],
    "subscribe": [{"name": "categories", "type": 3, "value": "kpop"}],
    "unsubscribe": [{"name": "categories", "type": 3, "value": "all"}],
    "digest": [{"name": "action", "type": 3, "value": "daily"}],
    "announce": [{"name": "text", "type": 3, "value": "Hello fans"}],
}


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = await start_fake_discord(channel_limit=None, global_limit=None)
    yield fake
    for body in fake.outgoing_messages():
        assert_discord_message(body)
    await fake.close()


async def test_discord_permission_matrix(discord: FakeDiscord, service: CommandService) -> None:
    cells = 0
    async with DiscordPlatform(settings_for(discord), service):
        await discord.wait_identified()
        for who, (where, moderator, manages) in DISCORD_CALLERS.items():
            for name, access in EXPECTED.items():
                if "discord" not in ONLY_ON.get(name, ("discord",)):
                    continue
                payload = discord.slash(name, DISCORD_OPTIONS.get(name, []), where)
                traffic = await discord.run_interaction(payload)
                body = traffic[0].json.get("data") or {}
                content = body.get("content") or ""
                refused = content.removeprefix("⚠️ ") in REFUSAL_TEXTS
                expect = allowed(access, moderator=moderator, manages_chat=manages)
                assert refused is not expect, (who, name, content)
                if refused:
                    assert body.get("flags", 0) & 64, "a refusal is shown to its caller only"
                cells += 1
    assert cells == len(DISCORD_CALLERS) * (len(EXPECTED) - 1)
