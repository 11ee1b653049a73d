"""Slash commands and buttons, driven as Discord drives them.

Each test sends ``INTERACTION_CREATE`` events over the fake gateway to the running discord.py
client, so option parsing, autocomplete, the command tree, the dynamic button handler and the
error handler all run as in production; answers are read from what reached the fake's REST.
Every test ends by checking that no message the bot sent could ping anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from factories import MODERATOR_DISCORD, MODERATOR_ROLE
from fakes.discord_api import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DM,
    EPHEMERAL,
    PUBLIC_THREAD,
    UPDATE_MESSAGE,
    FakeDiscord,
    Request,
    Where,
    message_problems,
    option,
    settings_for,
    start_fake_discord,
)
from kcrush_bot.core.commands import CommandService
from kcrush_bot.core.models import ChatRef, Mode
from kcrush_bot.platforms.discord import DiscordPlatform

pytestmark = pytest.mark.timeout(20)

MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
SEND_MESSAGES = 1 << 11

CHANNEL = "500000000000000001"
THREAD = "510000000000000001"
GUILD = "400000000000000001"

member = Where(permissions=SEND_MESSAGES)
channel_admin = Where(permissions=SEND_MESSAGES | MANAGE_CHANNELS, user_id="77")
thread_admin = Where(
    channel_id=THREAD,
    channel_type=PUBLIC_THREAD,
    parent_id=CHANNEL,
    channel_name="interview-chat",
    permissions=MANAGE_CHANNELS,
)
dm = Where(guild_id=None, channel_id="600000000000000001", channel_type=DM)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = await start_fake_discord()
    yield fake
    # No answer of the bot may ping anyone: mentions are off on every single message.
    for body in fake.outgoing_messages():
        assert body.get("allowed_mentions") == {"parse": []}, body
        assert not message_problems(body), body
    await fake.close()


@pytest.fixture
async def platform(fake: FakeDiscord, service: CommandService) -> AsyncIterator[DiscordPlatform]:
    async with DiscordPlatform(settings_for(fake), service) as platform:
        await fake.wait_identified()
        yield platform


def answer(traffic: list[Request], n: int = 0) -> dict[str, Any]:
    """The message of the n-th answer: a callback's ``data`` or a follow-up's body."""
    request = traffic[n]
    body = request.json
    return body["data"] if request.path.endswith("/callback") else body


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or ():
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts.append((embed.get("footer") or {}).get("text", ""))
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Label → custom_id of the message's buttons."""
    return {
        b["label"]: b["custom_id"]
        for row in message.get("components") or ()
        for b in row["components"]
    }


def private(message: dict[str, Any]) -> bool:
    return bool((message.get("flags") or 0) & EPHEMERAL)


def sent_message(fake: FakeDiscord, request: Request) -> dict[str, Any]:
    """The message object the fake created for a callback or follow-up (to press its buttons)."""
    assert request.message is not None
    return request.message


def message_with_button(custom_id: str, label: str) -> dict[str, Any]:
    """A public message of the bot's, as Discord attaches it to a button press."""
    return {
        "id": "700000000000000001",
        "channel_id": CHANNEL,
        "type": 0,
        "content": "",
        "embeds": [],
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": "2024-05-01T00:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "author": {"id": "1", "username": "kcrush-bot", "discriminator": "0", "avatar": None},
        "components": [
            {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": label, "custom_id": custom_id}],
            }
        ],
    }


# --- connecting ----------------------------------------------------------------------------


async def test_gateway_identifies_with_the_guilds_intent_only(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    identify = await fake.wait_identified()
    assert identify["intents"] == 1  # GUILDS: no message content, no members, no presences
    assert identify["token"] == settings_for(fake).token
    # Logged in over REST first; commands are not synced on start.
    assert fake.find("GET", "/users/@me")
    assert not fake.find("PUT", "/applications/")


# --- reading commands ----------------------------------------------------------------------


async def test_latest_answers_with_as_many_cards_as_asked(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.slash("latest", [option("count", 3)]))
    assert traffic[0].json["type"] == CHANNEL_MESSAGE
    message = answer(traffic)
    assert not private(message)
    assert len(message["embeds"]) == 3
    assert message["embeds"][0]["url"] == "https://www.kcrush.com/post-13/"


async def test_after_intake_stops_commands_are_answered_restarting_and_not_run(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    await platform.stop_receiving()
    traffic = await fake.run_interaction(fake.slash("subscribe", [option("categories", "kpop")]))
    message = answer(traffic)
    assert private(message) and "restarting" in text_of(message)
    assert await service.store.chats.subscriptions() == []


async def test_latest_in_a_category(fake: FakeDiscord, platform: DiscordPlatform) -> None:
    traffic = await fake.run_interaction(
        fake.slash("latest", [option("count", 2), option("category", "kpop")])
    )
    embeds = answer(traffic)["embeds"]
    assert [e["url"] for e in embeds] == ["https://www.kcrush.com/post-13/"]


async def test_search_finds_posts_and_next_button_edits_the_message(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.slash("search", [option("query", "interview")]))
    first = answer(traffic)
    assert "Page 1/" in text_of(first)
    next_id = buttons(first)["Next ▶"]
    assert next_id.startswith("search:")

    press = fake.press(next_id, sent_message(fake, traffic[0]))
    traffic = await fake.run_interaction(press)
    assert traffic[0].json["type"] == UPDATE_MESSAGE  # the same message, now page 2
    second = answer(traffic)
    assert "Page 2/" in text_of(second)
    assert "◀ Previous" in buttons(second)


async def test_a_search_button_from_before_a_restart_answers_expired_privately(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    message = message_with_button("search:gone:2", "Next ▶")
    traffic = await fake.run_interaction(fake.press("search:gone:2", message))
    assert traffic[0].json["type"] == CHANNEL_MESSAGE  # not an edit of everyone's message
    reply = answer(traffic)
    assert private(reply)
    assert "expired" in reply["content"]


async def test_category_without_a_name_lists_categories(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.slash("category"))
    assert "Interviews" in text_of(answer(traffic))


async def test_category_with_a_name_shows_its_posts(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.slash("category", [option("name", "interviews")]))
    embeds = answer(traffic)["embeds"]
    assert embeds and all(e["url"].startswith("https://www.kcrush.com/") for e in embeds)


async def test_help_and_status_answer(fake: FakeDiscord, platform: DiscordPlatform) -> None:
    traffic = await fake.run_interaction(fake.slash("help"))
    assert "/subscribe" in text_of(answer(traffic))
    traffic = await fake.run_interaction(fake.slash("status"))
    assert "test" in text_of(answer(traffic))  # the version from core_config


async def test_wrong_input_gets_a_private_friendly_error(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(
        fake.slash("category", [option("name", "no-such-category")])
    )
    reply = answer(traffic)
    assert private(reply)
    assert "no-such-category" in reply["content"]
    assert "Traceback" not in reply["content"]


# --- autocomplete ----------------------------------------------------------------------------


async def test_category_autocomplete_suggests_matching_categories(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.autocomplete("latest", "category", "inter"))
    assert traffic[0].json["type"] == AUTOCOMPLETE_RESULT
    choices = traffic[0].json["data"]["choices"]
    assert choices and len(choices) <= 25
    assert choices[0]["value"] == "interviews"
    assert all("inter" in c["value"] or "inter" in c["name"].lower() for c in choices)


async def test_autocomplete_with_nothing_typed_offers_at_most_25(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.autocomplete("category", "name", ""))
    choices = traffic[0].json["data"]["choices"]
    assert 0 < len(choices) <= 25
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in choices)


async def test_autocomplete_completes_the_last_of_several_categories(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(
        fake.autocomplete("subscribe", "categories", "kpop k-po", where=channel_admin)
    )
    values = [c["value"] for c in traffic[0].json["data"]["choices"]]
    assert "kpop k-pop-interviews" in values


# --- subscriptions and digests ---------------------------------------------------------------


async def test_subscribe_in_a_channel_by_a_channel_admin(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    traffic = await fake.run_interaction(
        fake.slash(
            "subscribe", [option("categories", "kpop"), option("mode", "daily")], channel_admin
        )
    )
    reply = answer(traffic)
    assert private(reply)  # a settings change is confirmed to its author only
    subs = await service.store.chats.subscriptions(ChatRef("discord", CHANNEL))
    assert [(s.category, s.mode) for s in subs] == [("kpop", Mode.DAILY)]


async def test_subscribe_in_a_thread_subscribes_the_thread(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    await fake.run_interaction(fake.slash("subscribe", [], thread_admin))
    subs = await service.store.chats.subscriptions(ChatRef("discord", THREAD))
    assert [s.category for s in subs] == ["interviews"]
    assert await service.store.chats.subscriptions(ChatRef("discord", CHANNEL)) == []


async def test_manage_server_also_counts_as_channel_admin(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    await fake.run_interaction(fake.slash("subscribe", [], Where(permissions=MANAGE_GUILD)))
    assert await service.store.chats.subscriptions(ChatRef("discord", CHANNEL))


async def test_a_member_without_permission_is_refused_privately(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    traffic = await fake.run_interaction(fake.slash("subscribe", [], member))
    assert traffic[0].json["type"] == CHANNEL_MESSAGE
    reply = answer(traffic)
    assert reply["flags"] & EPHEMERAL
    assert "admins" in reply["content"]
    assert await service.store.chats.subscriptions(ChatRef("discord", CHANNEL)) == []


async def test_anyone_may_subscribe_their_dm_with_the_bot(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    await fake.run_interaction(fake.slash("subscribe", [], dm))
    subs = await service.store.chats.subscriptions(ChatRef("discord", dm.channel_id))
    assert [s.category for s in subs] == ["interviews"]


async def test_subscriptions_lists_what_the_channel_gets(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    await fake.run_interaction(
        fake.slash("subscribe", [option("categories", "kpop")], thread_admin)
    )
    traffic = await fake.run_interaction(fake.slash("subscriptions", [], thread_admin))
    assert "K-Pop" in text_of(answer(traffic)) or "kpop" in text_of(answer(traffic)).lower()


async def test_unsubscribe_all(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    await fake.run_interaction(fake.slash("subscribe", [], channel_admin))
    await fake.run_interaction(
        fake.slash("unsubscribe", [option("categories", "all")], channel_admin)
    )
    assert await service.store.chats.subscriptions(ChatRef("discord", CHANNEL)) == []


async def test_digest_sets_the_channels_schedule(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    traffic = await fake.run_interaction(
        fake.slash(
            "digest",
            [option("action", "daily"), option("time", "08:00"), option("timezone", "Asia/Seoul")],
            channel_admin,
        )
    )
    assert private(answer(traffic))
    [schedule] = await service.store.chats.digests(ChatRef("discord", CHANNEL))
    assert (schedule.frequency, schedule.time, schedule.timezone) == (
        Mode.DAILY,
        "08:00",
        "Asia/Seoul",
    )


async def test_digest_preview(fake: FakeDiscord, platform: DiscordPlatform) -> None:
    await fake.run_interaction(fake.slash("subscribe", [], channel_admin))
    traffic = await fake.run_interaction(
        fake.slash("digest", [option("action", "preview")], channel_admin)
    )
    assert text_of(answer(traffic))


# --- announcements -------------------------------------------------------------------------

moderators = {
    "by user id": Where(user_id=MODERATOR_DISCORD, permissions=SEND_MESSAGES),
    "by role": Where(user_id="88", roles=(MODERATOR_ROLE,), permissions=SEND_MESSAGES),
    "by Manage Server": Where(user_id="89", permissions=MANAGE_GUILD),
}


@pytest.mark.parametrize("who", moderators.values(), ids=moderators.keys())
async def test_a_moderator_announces_after_confirming(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService, who: Where
) -> None:
    await service.store.chats.subscribe(ChatRef("discord", "5"), ["interviews"], Mode.INSTANT)
    traffic = await fake.run_interaction(
        fake.slash("announce", [option("text", "Hello @everyone, KNK live tonight!")], who),
        count=2,
    )
    preview, prompt = answer(traffic, 0), answer(traffic, 1)
    assert private(preview) and private(prompt)  # only the moderator sees the draft
    assert "KNK live tonight" in text_of(preview)
    labels = buttons(prompt)
    confirm = next(cid for cid in labels.values() if cid.startswith("announce:confirm:"))
    announcement_id = int(confirm.rsplit(":", 1)[1])
    assert (await service.store.announcements.get(announcement_id)).status == "draft"

    ephemeral_prompt = {**sent_message(fake, traffic[1]), "flags": EPHEMERAL}
    traffic = await fake.run_interaction(fake.press(confirm, ephemeral_prompt, who))
    assert traffic[0].json["type"] == UPDATE_MESSAGE  # the prompt becomes the outcome
    assert not buttons(answer(traffic))
    assert (await service.store.announcements.get(announcement_id)).status == "confirmed"


async def test_a_member_cannot_announce(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    traffic = await fake.run_interaction(fake.slash("announce", [option("text", "hi")], member))
    reply = answer(traffic)
    assert private(reply)
    assert "moderators" in reply["content"]


async def test_a_forged_confirm_button_from_a_member_does_nothing(
    fake: FakeDiscord, platform: DiscordPlatform, service: CommandService
) -> None:
    announcement_id = await service.store.announcements.create("x", None, "discord:2001")
    message = message_with_button(f"announce:confirm:{announcement_id}", "Send")
    traffic = await fake.run_interaction(
        fake.press(f"announce:confirm:{announcement_id}", message, member)
    )
    assert private(answer(traffic))
    assert (await service.store.announcements.get(announcement_id)).status == "draft"


# --- robustness ----------------------------------------------------------------------------


async def test_a_slow_command_is_deferred_then_answered(
    fake: FakeDiscord, service: CommandService, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch = service.dispatch

    async def slow_dispatch(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)
        return await dispatch(*args, **kwargs)

    monkeypatch.setattr(service, "dispatch", slow_dispatch)
    async with DiscordPlatform(settings_for(fake), service, defer_after=0.05):
        await fake.wait_identified()
        traffic = await fake.run_interaction(fake.slash("latest", [option("count", 1)]), count=2)
    assert traffic[0].json["type"] == DEFERRED_CHANNEL_MESSAGE
    assert traffic[1].method == "PATCH" and traffic[1].path.endswith("/messages/@original")
    assert len(traffic[1].json["embeds"]) == 1


async def test_a_command_this_version_does_not_know_is_answered_privately(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(fake.slash("retired-command"))
    reply = answer(traffic)
    assert private(reply)
    assert "changed" in reply["content"]


async def test_hostile_option_text_never_pings(
    fake: FakeDiscord, platform: DiscordPlatform
) -> None:
    traffic = await fake.run_interaction(
        fake.slash("search", [option("query", "@everyone <@&3001> @here")])
    )
    body = answer(traffic)
    assert body["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in text_of(body)
